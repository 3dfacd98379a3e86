"""CI's vagrant-libvirt stage (`.ci/run` calls it), also run by hand: the rehearsal and the acceptance
suite through Vagrant's libvirt provider, on a Debian 12 box built here from a debootstrap root
filesystem.

    sudo .venv/bin/python benchmarks/vagrant_libvirt.py [--rebuild] > vagrant-libvirt.log 2>&1

Needs root (debootstrap, a network namespace, libvirtd), about 3 GB of free disk while the box is
built, and 20-30 minutes on 2 cores. Phases, each timed: Debian packages for the host (installed
only if missing), the box (built once per recipe, cached in root's user cache directory, see
`box_file`), then, inside the network namespace `rehearse-vm` (loopback only, no route out):
virtlogd and libvirtd, `vagrant box add`, `vagrant up bookworm --provider=libvirt` (its provisioner
rehearses), `rehearse apply --target vagrant --platform bookworm` (every step must be unchanged),
and the acceptance suite (its JUnit in `.rehearse/vagrant-libvirt-junit.xml`). The guest's serial console
is kept in `.rehearse/vagrant-libvirt-console-N.log` (N: the boot). A boot whose domain runs
`--boot-bound` s (300) without a DHCP lease is stopped, its console's tail printed, and booted once more
(vagrant-libvirt alone would wait ~1000 s, then fail without saying why). Whatever was started
is torn down at the end, failed or not: the machine, libvirt's networks, pools and volumes created
meanwhile, the daemons (by pid), the namespace, Vagrant's box store. Exit 0 only when every phase
passed.

Deviations of this test box (printed when it runs):
- software emulation (libvirt domain type `qemu`, TCG): KVM cannot start guests on the machine this
  was written on (qemu aborts with `failed to set MSR 0x10a`), so everything in the guest is slow.
- the namespace has no route out, so the box carries the packages step 3/4.1 would fetch and a local
  wheel folder for step 5.1 (`/etc/pip.conf` points pip at it).
- uWSGI (no wheel on PyPI) is in that folder as a wheel compiled when the box is built, in the box's
  own root filesystem at the host's speed: compiled in the guest under TCG, step 5.1 took ~10 of the
  stage's ~30 minutes. The podman stages compile it in the guest, as the tutorial's reader does.
"""

import argparse
import contextlib
import hashlib
import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from provision.guests import mirror
from provision.layout import PROJECT
from provision.platforms.bookworm import BOOKWORM
from provision.platforms.debian import PYTHON3_PACKAGES as BOOKWORM_PACKAGES
from provision.printable import printable
from provision.reports.record import Outcome, Report, Status

ROOT = PROJECT
assert BOOKWORM.image is not None
IMAGE = BOOKWORM.image
NETNS = "rehearse-vm"
MACHINE = "bookworm"
BOX_NAME = "rehearse/bookworm-local"
LIBVIRT = "qemu:///system"

HOST_PACKAGES = (
    "vagrant", "vagrant-libvirt", "libvirt-daemon-system", "libvirt-clients", "qemu-system-x86", "qemu-utils",
    "dnsmasq-base", "iptables", "debootstrap", "e2fsprogs", "rsync", "iproute2", "openssh-client",
)  # fmt: skip
# What a Vagrant base box needs beyond the stand-in's list: sshd for Vagrant's login, a kernel and
# initrd to boot without a bootloader, udev (systemd-networkd waits for it to set up eth0) and
# rsync for the synced folder.
BOX_SYSTEM = ("openssh-server", "linux-image-amd64", "udev", "kmod", "rsync")
# Offline pre-installs: what bookworm's step 3 and 4.1 deviations install, and step 5.1's
# `pip install uwsgi flask` plus what building uWSGI's sdist pulls into its build environment.
OFFLINE_PACKAGES = (*BOOKWORM_PACKAGES, "virtualenv")
WHEELS = ("flask", "uwsgi", "setuptools", "wheel")
PREBUILT = ("uwsgi",)  # sdists compiled into wheels when the box is built, not in the guest
GUEST_WHEELS = "/opt/rehearse-wheels"
DEVIATIONS = (
    "software emulation (libvirt domain type qemu, TCG): KVM cannot start guests on this machine",
    "the namespace has no route out, so the box carries the packages step 3/4.1 would fetch and a local "
    f"wheel folder for step 5.1 ({', '.join(OFFLINE_PACKAGES)}; {GUEST_WHEELS}: {', '.join(WHEELS)})",
    f"{', '.join(PREBUILT)} compiled into a wheel when the box is built (at the host's speed), not by step 5.1 "
    "in the guest under TCG; the podman stages compile it in the guest as the tutorial's reader does",
)

DISK_GB = 4
PIP_CONF = f"[global]\nno-index = true\nfind-links = {GUEST_WHEELS}\n"
NETWORK = "[Match]\nName=eth*\n\n[Network]\nDHCP=yes\n"
# Merged under the project's Vagrantfile. No bootloader in the image: libvirt boots the box's own
# kernel with the whole disk as the root filesystem.
BOX_VAGRANTFILE = """\
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.driver = "qemu"
    lv.cpu_mode = "custom"
    lv.cpu_model = "qemu64"
    lv.kernel = File.expand_path("vmlinuz", __dir__)
    lv.initrd = File.expand_path("initrd.img", __dir__)
    lv.cmd_line = "root=/dev/vda rw console=ttyS0 net.ifnames=0"
  end
end
"""
RECIPE_PARTS = (IMAGE.suite, *IMAGE.include, *BOX_SYSTEM, *OFFLINE_PACKAGES, *WHEELS, *PREBUILT, PIP_CONF, NETWORK)
RECIPE = hashlib.sha256("\n".join((*RECIPE_PARTS, BOX_VAGRANTFILE)).encode()).hexdigest()[:12]
BOX_PREFIX = "rehearse-bookworm-libvirt-"
TESTS = ("tests/test_acceptance.py", "tests/test_rehearsal.py")
JUNIT = ROOT / ".rehearse" / "vagrant-libvirt-junit.xml"
# From the domain's start to its DHCP lease: ~30 s on an idle machine, ~90 s on a busy one. Seen once in
# CI: a domain that never got one, and vagrant-libvirt waiting 1015 s before it failed.
BOOT_BOUND = 300
BOOTS = 2
POLL = 5
# Each phase's bound, in seconds: under TCG on 2 busy cores `vagrant up` took ~6 min, the suite ~8.
BUDGET = {"packages": 900, "box": 1800, "up": 2400, "apply": 600, "suite": 2400, "teardown": 300}


def say(message: str) -> None:
    print(f"[vagrant-libvirt] {message}", flush=True)


def run(
    *cmd: str, netns: bool = False, env: dict[str, str] | None = None, check: bool = True, timeout: float = 600
) -> int:
    """Run a command with its output on ours, for at most `timeout` s; `netns`: inside the namespace."""
    full = ("ip", "netns", "exec", NETNS, *cmd) if netns else cmd
    say(f"$ {' '.join(full)}")
    return subprocess.run(full, cwd=ROOT, env=env, check=check, timeout=timeout, stdin=subprocess.DEVNULL).returncode


def output(*cmd: str, check: bool = True) -> str:
    """A command's stdout, run inside the namespace, for at most 60 s."""
    cmd = ("ip", "netns", "exec", NETNS, *cmd)
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=60).stdout


def console(n: int) -> Path:
    """Where the serial console of boot `n` goes, through the project's Vagrantfile (REHEARSE_CONSOLE_LOG),
    so a boot that hangs says where."""
    return ROOT / ".rehearse" / f"vagrant-libvirt-console-{n}.log"


def box_file() -> Path:
    """The box of this recipe in the user's cache directory (root's, as this runs as root), kept
    across runs and checkouts on this machine. The directories and the box must be this user's and
    writable by nobody else: a box another user could swap would run as root's guest."""
    boxes = platformdirs.user_cache_path("rehearse") / "boxes"
    boxes.mkdir(mode=0o700, parents=True, exist_ok=True)
    box = boxes / f"{BOX_PREFIX}{RECIPE}.box"
    for path in (boxes.parent, boxes, box):
        if path.is_symlink() or path.exists():
            refuse_unless_private(path)
    return box


def refuse_unless_private(path: Path) -> None:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise SystemExit(
            f"refusing the box cache: {path} must be owned by uid {os.geteuid()}, not a symlink, and "
            f"writable by its owner only (it is uid {st.st_uid}, mode {stat.filemode(st.st_mode)})"
        )


@contextlib.contextmanager
def phase(name: str, timings: dict[str, float]) -> Iterator[None]:
    say(f"--- {name}")
    start = time.monotonic()
    try:
        yield
    finally:
        timings[name] = time.monotonic() - start
        say(f"--- {name}: {timings[name]:.1f} s")


def ensure_host_packages() -> None:
    """apt-get install what is missing (apt-get update first); nothing at all when none is."""
    query = ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *HOST_PACKAGES]
    listed = subprocess.run(query, capture_output=True, text=True, check=False).stdout.split("\n")
    missing = sorted(set(HOST_PACKAGES) - {line.split()[0] for line in listed if line.endswith(" installed")})
    if missing:
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "update", env=env, timeout=BUDGET["packages"])
        run("apt-get", "install", "-y", "--no-install-recommends", *missing, env=env, timeout=BUDGET["packages"])


def insecure_public_key() -> str:
    """The public half of Vagrant's insecure key, as Debian's vagrant package ships it."""
    found = sorted(Path("/usr/share/rubygems-integration/all/gems").glob("vagrant-*/keys/vagrant.pub"))
    if not found:
        raise SystemExit("vagrant's insecure public key (keys/vagrant.pub) not found")
    return found[-1].read_text()


def configure(rootfs: Path) -> None:
    """Make the root filesystem a Vagrant base box: vagrant user, boot, network, offline pip."""
    chroot = ("chroot", str(rootfs))
    run(*chroot, "useradd", "--create-home", "--shell", "/bin/bash", "vagrant")
    ssh = rootfs / "home/vagrant/.ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "authorized_keys").write_text(insecure_public_key())
    (ssh / "authorized_keys").chmod(0o600)
    run(*chroot, "chown", "-R", "vagrant:vagrant", "/home/vagrant/.ssh")
    sudoers = rootfs / "etc/sudoers.d/vagrant"
    sudoers.write_text("vagrant ALL=(ALL) NOPASSWD:ALL\n")
    sudoers.chmod(0o440)
    # Pass 0: nothing to fsck with before the root is mounted; the kernel mounts it rw already.
    (rootfs / "etc/fstab").write_text("/dev/vda / ext4 defaults 0 0\n")
    (rootfs / "etc/hostname").write_text("rehearse-bookworm\n")
    (rootfs / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 rehearse-bookworm\n")
    (rootfs / "etc/systemd/network/50-dhcp.network").write_text(NETWORK)
    run(*chroot, "systemctl", "enable", "systemd-networkd")
    (rootfs / "etc/pip.conf").write_text(PIP_CONF)
    wheels = rootfs / GUEST_WHEELS.lstrip("/")
    run(sys.executable, "-m", "pip", "download", "--dest", str(wheels), *WHEELS)
    # With the box's own Python and compiler, then the sdists go, so step 5.1 installs the wheels. A clean
    # environment, as in the guest: the host's PIP_* settings would override pip.conf's folder.
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
    run(
        *chroot, "python3", "-m", "pip", "wheel", "--wheel-dir", GUEST_WHEELS, *PREBUILT, env=env, timeout=BUDGET["box"]
    )
    for name in PREBUILT:
        for sdist in wheels.glob(f"{name}-*.tar.gz"):
            sdist.unlink()
    run(*chroot, "apt-get", "clean")


def build_box(box_file: Path) -> None:
    """debootstrap, configure, an ext4 disk image as qcow2, and the box: image, kernel, initrd.
    Boxes of other recipes go: one box per machine."""
    include = ",".join((*IMAGE.include, *BOX_SYSTEM, *OFFLINE_PACKAGES))
    with tempfile.TemporaryDirectory(dir=box_file.parent, prefix="box-") as tmp:
        rootfs, box = Path(tmp, "rootfs"), Path(tmp, "box")
        box.mkdir()
        suite = IMAGE.suite
        run("debootstrap", "--variant=minbase", f"--include={include}", suite, str(rootfs), mirror.debian_mirror(suite),
            timeout=BUDGET["box"])  # fmt: skip
        configure(rootfs)
        for name in ("vmlinuz", "initrd.img"):
            shutil.copyfile(sorted((rootfs / "boot").glob(f"{name}-*"))[-1], box / name)
        raw = Path(tmp, "disk.raw")
        run("mkfs.ext4", "-q", "-F", "-L", "rehearse", "-d", str(rootfs), str(raw), f"{DISK_GB}G")
        run("qemu-img", "convert", "-c", "-O", "qcow2", str(raw), str(box / "box.img"))
        metadata = {"provider": "libvirt", "format": "qcow2", "virtual_size": DISK_GB}
        (box / "metadata.json").write_text(json.dumps(metadata) + "\n")
        (box / "Vagrantfile").write_text(BOX_VAGRANTFILE)
        partial = Path(tmp, "box.tar")
        run("tar", "-C", str(box), "-cf", str(partial), *sorted(p.name for p in box.iterdir()))
        partial.chmod(0o600)
        partial.rename(box_file)  # atomic: a box in the cache is always whole
    for old in box_file.parent.glob(f"{BOX_PREFIX}*.box"):
        if old != box_file:
            say(f"removing the box of another recipe: {old}")
            old.unlink()


def start_daemon(name: str, stack: contextlib.ExitStack) -> None:
    """A libvirt daemon in the namespace, stopped by its pid at teardown (`ip netns exec` execs it)."""
    proc = subprocess.Popen(["ip", "netns", "exec", NETNS, name])
    stack.callback(stop, proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_libvirtd() -> None:
    deadline = time.monotonic() + 60
    while subprocess.run(["ip", "netns", "exec", NETNS, "virsh", "-c", LIBVIRT, "version"], capture_output=True,
                         check=False).returncode != 0:  # fmt: skip
        if time.monotonic() > deadline:
            raise SystemExit("libvirtd did not answer within 60 s")
        time.sleep(1)


def libvirt_objects() -> dict[str, set[str]]:
    """Names of libvirt's domains, networks and storage pools, to remove only what this run added."""
    lists = {"domain": "list", "net": "net-list", "pool": "pool-list"}
    return {kind: set(output("virsh", "-c", LIBVIRT, cmd, "--all", "--name").split()) for kind, cmd in lists.items()}


def remove_new_libvirt_objects(before: dict[str, set[str]]) -> None:
    """Whatever `vagrant up` added and `vagrant destroy` leaves: the box's volume, its pool, the network."""
    new = {kind: names - before[kind] for kind, names in libvirt_objects().items()}
    virsh = ("virsh", "-c", LIBVIRT)
    for domain in new["domain"]:
        run(*virsh, "destroy", domain, netns=True, check=False)
        run(*virsh, "undefine", domain, "--remove-all-storage", netns=True, check=False)
    for pool in new["pool"]:
        for line in output(*virsh, "vol-list", pool).splitlines()[2:]:
            if line.split():
                run(*virsh, "vol-delete", line.split()[0], "--pool", pool, netns=True, check=False)
        run(*virsh, "pool-destroy", pool, netns=True, check=False)
        run(*virsh, "pool-undefine", pool, netns=True, check=False)
    for net in new["net"]:
        run(*virsh, "net-destroy", net, netns=True, check=False)
        run(*virsh, "net-undefine", net, netns=True, check=False)


def delete_namespace() -> None:
    """Stop what is still in the namespace (ssh forwards this run opened), then delete it."""
    pids = subprocess.run(["ip", "netns", "pids", NETNS], capture_output=True, text=True, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), 15)
    run("ip", "netns", "delete", NETNS, check=False)


def summary(report: Report) -> str:
    """A rehearsal as its report has it: outcome, time, steps per status."""
    statuses = [s.status for s in report.steps]
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))
    return f"{report.status} in {report.seconds:.1f} s, steps: {counts}"


def changed_steps(report: Report) -> list[str]:
    """The steps a rerun did not leave unchanged (all of them when it did not pass)."""
    if report.status != Outcome.PASSED:
        return [s.id for s in report.steps]
    return [s.id for s in report.steps if s.status != Status.UNCHANGED]


def suite_counts(junit: Path) -> dict[str, int]:
    """pytest's totals from its JUnit XML (one testsuite)."""
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite") if root.tag == "testsuites" else root
    assert suite is not None
    totals = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    return {"passed": totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"], **totals}


class StageFailed(Exception):
    """A phase of the stage failed; the message says which and why, in one line."""


@dataclass
class BootWatch:
    """One boot as `vagrant up` shows it to libvirt, poll by poll: since when the new domain runs, and
    how long it took to get its DHCP lease."""

    bound: float = BOOT_BOUND
    running_since: float | None = None
    leased_after: float | None = None

    def observe(self, now: float, running: bool, leased: bool) -> bool:
        """Record one poll; False once the domain has been running `bound` s without a lease."""
        if running and self.running_since is None:
            self.running_since = now
        if self.running_since is None or self.leased_after is not None:
            return True
        if leased:
            self.leased_after = now - self.running_since
            return True
        return now - self.running_since < self.bound


def new_domains(before: set[str]) -> set[str]:
    """The running domains this run added."""
    return set(output("virsh", "-c", LIBVIRT, "list", "--name", check=False).split()) - before


def has_lease(domain: str) -> bool:
    return " ipv4 " in output("virsh", "-c", LIBVIRT, "domifaddr", domain, "--source", "lease", check=False)


def console_tail(log: Path, lines: int = 40) -> str:
    """The end of a boot's serial console, safe to print (the guest's colours and escapes defused)."""
    if not log.is_file():
        return "(no console output)"
    # A serial console ends its lines with CR CR LF.
    text = log.read_text(errors="replace").replace("\r", "").splitlines()[-lines:]
    return "\n".join(f"    | {printable(line)}" for line in text)


def interrupt(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a user would: vagrant-libvirt then removes the domain it was booting."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(BUDGET["teardown"])
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def boot(env: dict[str, str], log: Path, before: set[str], bound: float) -> BootWatch | None:
    """`vagrant up` (boot and provisioner) once; None when its domain hung before a DHCP lease."""
    cmd = ("ip", "netns", "exec", NETNS, "vagrant", "up", MACHINE, "--provider=libvirt")
    say(f"$ {' '.join(cmd)}")
    watch, deadline = BootWatch(bound), time.monotonic() + BUDGET["up"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env | {"REHEARSE_CONSOLE_LOG": str(log)}, stdin=subprocess.DEVNULL)
    try:
        while (code := proc.poll()) is None:
            now = time.monotonic()
            if now > deadline:
                raise subprocess.TimeoutExpired(cmd, BUDGET["up"])
            domains = new_domains(before) if watch.leased_after is None else set()
            if not watch.observe(now, bool(domains), any(map(has_lease, domains))):
                interrupt(proc)
                return None
            time.sleep(POLL)
    except BaseException:  # past its budget, or the stage itself interrupted: vagrant cleans up first
        interrupt(proc)
        raise
    if code != 0:
        raise subprocess.CalledProcessError(code, cmd)
    return watch


def vagrant_up(env: dict[str, str], teardown: tuple[str, ...], timings: dict[str, float], bound: float) -> Path:
    """Boot and provision; a boot that hangs before its lease is reported and done once more.
    Returns the console of the boot that came up."""
    before = libvirt_objects()["domain"]
    for n in range(1, BOOTS + 1):
        log = console(n)
        log.unlink(missing_ok=True)
        watch = boot(env, log, before, bound)
        if watch is not None:
            timings["domain start to DHCP lease"] = watch.leased_after or 0.0
            if n > 1:
                say(f"boot {n} of {BOOTS} came up; the one before hung without a DHCP lease (its console is kept)")
            return log
        say(f"boot {n} of {BOOTS}: the domain ran {bound:g} s without a DHCP lease; its console ({log}) ends:")
        print(console_tail(log), flush=True)
        run(*teardown, netns=True, env=env, check=False, timeout=BUDGET["teardown"])
    consoles = ", ".join(str(console(n)) for n in range(1, BOOTS + 1))
    raise StageFailed(f"{BOOTS} boots in a row got no DHCP lease within {bound:g} s; consoles: {consoles}")


def rehearse(stack: contextlib.ExitStack, timings: dict[str, float], box: Path, boot_bound: float) -> None:
    """Everything in the namespace; raises StageFailed (or CalledProcessError) when a phase fails."""
    if not (ROOT / ".vagrant").exists():  # any vagrant command in the project creates it
        stack.callback(shutil.rmtree, ROOT / ".vagrant", ignore_errors=True)
    (ROOT / ".rehearse").mkdir(exist_ok=True)
    vagrant_home = Path(tempfile.mkdtemp(dir=ROOT / ".rehearse", prefix="vagrant-home-"))
    stack.callback(shutil.rmtree, vagrant_home, ignore_errors=True)
    vagrant_home.chmod(0o755)  # qemu runs as libvirt-qemu and reads the box's kernel and initrd from here
    env = os.environ | {
        "VAGRANT_HOME": str(vagrant_home),
        "VAGRANT_DEFAULT_PROVIDER": "libvirt",
        "VAGRANT_CHECKPOINT_DISABLE": "1",  # no version check: there is no route out
        "LIBVIRT_DEFAULT_URI": LIBVIRT,
        f"REHEARSE_{MACHINE.upper()}_BOX": BOX_NAME,
    }
    if Path("/run/netns", NETNS).exists():  # left by a run killed before its teardown
        delete_namespace()
    run("ip", "netns", "add", NETNS)
    stack.callback(delete_namespace)
    run("ip", "-n", NETNS, "link", "set", "lo", "up")
    with phase("libvirtd + virtlogd in the namespace", timings):
        start_daemon("virtlogd", stack)
        start_daemon("libvirtd", stack)
        wait_for_libvirtd()
    stack.callback(remove_new_libvirt_objects, libvirt_objects())
    with phase("vagrant box add", timings):
        run("vagrant", "box", "add", "--name", BOX_NAME, str(box), netns=True, env=env)
    cli = (sys.executable, "-m", "provision.cli")
    guest = ("--target", "vagrant", "--platform", MACHINE)
    # The product's own teardown (the Vagrant driver's destroy); whatever it leaves, libvirt's go above.
    teardown = (*cli, "destroy", *guest)
    stack.callback(run, *teardown, netns=True, env=env, check=False, timeout=BUDGET["teardown"])
    report = ROOT / ".rehearse" / f"vagrant-{MACHINE}" / "report.json"
    with phase("vagrant up (boot + provisioner: first rehearsal)", timings):
        # Later `vagrant` commands (the driver's reload, destroy) describe the same domain.
        env["REHEARSE_CONSOLE_LOG"] = str(vagrant_up(env, teardown, timings, boot_bound))
    say(f"first rehearsal (the provisioner's): {summary(Report.load(report))}")
    with phase("rehearse apply (second run)", timings):
        run(*cli, "apply", *guest, netns=True, env=env, timeout=BUDGET["apply"])
    second = Report.load(report)
    say(f"second rehearsal: {summary(second)}")
    if changed := changed_steps(second):
        raise StageFailed(f"the second apply did not leave every step unchanged: {', '.join(changed)}")
    JUNIT.unlink(missing_ok=True)
    tests = (*TESTS, *guest, f"--junitxml={JUNIT}")
    with phase("acceptance suite", timings):
        code = run(sys.executable, "-m", "pytest", *tests, netns=True, env=env, check=False, timeout=BUDGET["suite"])
    counts = suite_counts(JUNIT) if JUNIT.is_file() else {}
    say("acceptance suite through the vagrant driver: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if code != 0 or not counts.get("passed") or counts["failures"] or counts["errors"]:
        raise StageFailed(f"the acceptance suite failed (pytest exit {code}); JUnit: {JUNIT}")
    with phase("rehearse destroy", timings):  # the Vagrant driver's own, proven here
        run(*cli, "destroy", *guest, netns=True, env=env, timeout=BUDGET["teardown"])
    status = subprocess.run(("ip", "netns", "exec", NETNS, *cli, "status", *guest), cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True, timeout=120).stdout  # fmt: skip
    if status.split()[-1:] != ["absent"]:
        raise StageFailed(f"after `rehearse destroy` the machine is still there: {status.strip()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rebuild", action="store_true", help="build the box even if a cached one exists")
    bound_help = f"stop a boot whose domain runs this long without a DHCP lease (default {BOOT_BOUND})"
    ap.add_argument("--boot-bound", type=float, default=BOOT_BOUND, metavar="SECONDS", help=bound_help)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("vagrant_libvirt: run as root: debootstrap, network namespaces and libvirtd need it", file=sys.stderr)
        return 2
    # Ctrl-C and kill end the stage through its teardown, also where it was started with SIGINT
    # ignored (`cmd &` in a script), which its children would inherit: vagrant needs Ctrl-C (interrupt).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    for deviation in DEVIATIONS:
        say(f"deviation of this test box: {deviation}")
    timings: dict[str, float] = {}
    started = time.monotonic()
    code = 1
    try:
        with phase("host packages", timings):
            ensure_host_packages()
        with phase("box (build or reuse)", timings):
            box = box_file()
            if args.rebuild or not box.is_file():
                build_box(box)
            say(f"box: {box} ({box.stat().st_size / 2**20:.0f} MiB)")
        with contextlib.ExitStack() as stack:
            rehearse(stack, timings, box, args.boot_bound)
            say("tearing down")
        code = 0
    except StageFailed as e:
        say(f"FAILED: {e}")
    except subprocess.CalledProcessError as e:
        say(f"FAILED: `{shlex.join(map(str, e.cmd))}` exited {e.returncode}")
    except subprocess.TimeoutExpired as e:
        say(f"FAILED: `{shlex.join(map(str, e.cmd))}` ran past its {e.timeout:g} s budget")
    finally:
        timings["stage (wall clock)"] = time.monotonic() - started
        for name, seconds in timings.items():
            say(f"{name:<52} {seconds:8.1f} s")
    say("passed" if code == 0 else "failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
