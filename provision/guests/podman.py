"""Stand-in guests: a container with the platform's own init as PID 1, under rootful podman."""

import os
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from provision.errors import DriverError
from provision.guests import bounded, mirror, private, runc
from provision.guests.driver import Driver, GuestSpec
from provision.guests.image import ImageRecipe
from provision.guests.lock import checkout_id

GUEST_CA_DIR = "/usr/local/share/ca-certificates"
GUEST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # update-ca-certificates writes it
PIP_CACHE = "/var/cache/rehearse-pip"
READER_UID = 1000  # the uid adduser gives the tutorial's user, the first account in a fresh image
# A guest may write anything in a cache, a setuid binary or a device node included: none of it works there.
CACHE_MOUNT = "nosuid,nodev,noexec"
PODMAN_SECONDS = 120  # any podman call; a container starts, stops or copies a file in seconds
BOOT_SECONDS = 300  # systemd in the guest up to its targets (~5-20 s, more on a busy host)


@dataclass(frozen=True)
class Cache:
    """A guest directory kept on the host, so the next guest of the platform reuses what it holds."""

    name: str  # for the report
    host: str  # under the checkout's cache directory, per platform
    guest: str
    owner: int = 0  # on the host and in the guest alike (no user namespace): the one uid that writes there


# What a cold rehearsal spends its time fetching and building: apt's packages and pip's wheels (uWSGI
# compiles for 15-20 s). The tutorial's commands still run verbatim; they find the files already there.
CACHES = (
    Cache("apt archives", "apt-archives", "/var/cache/apt/archives"),
    # /etc/pip.conf points every pip there; the reader's pip builds uWSGI's wheel, so it is the reader's.
    Cache("pip wheels", "pip", PIP_CACHE, owner=READER_UID),
)


def _limit(kind: int, ceiling: int) -> int:
    """An explicit ulimit for the guest: podman's defaults can exceed the host's hard limit (then
    runc refuses to start), and runc was also seen refusing nproc at the full hard limit (96365)."""
    hard = resource.getrlimit(kind)[1]
    return ceiling if hard == resource.RLIM_INFINITY else min(hard, ceiling)


class PodmanDriver(Driver):
    name = "podman"
    tools = ("podman", "runc")

    def __init__(self, spec: GuestSpec, workdir: Path, *, caches: bool = True) -> None:
        super().__init__(spec, workdir)
        self.use_caches = caches
        if spec.image is None:
            raise DriverError(f"the podman driver has no image recipe for {spec.name!r}")
        self.image: ImageRecipe = spec.image

    @property
    def container(self) -> str:
        # Per checkout and platform: two checkouts on one host rehearse side by side.
        return f"rehearse-{self.spec.name}-{checkout_id()}"

    @property
    def log(self) -> Path:
        return self.workdir / "driver.log"

    def _podman(
        self, *args: str, check: bool = True, cleanup: bool = False, seconds: float = PODMAN_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        try:
            cp = bounded.run(["podman", *args], seconds)
        except DriverError as e:
            with self.log.open("a") as f:
                f.write(f"$ podman {' '.join(args)}  # {e}\n")
            raise
        with self.log.open("a") as f:
            f.write(f"$ podman {' '.join(args)}  # exit {cp.returncode}\n{cp.stdout}{cp.stderr}")
        if check and cp.returncode != 0:
            if cleanup:  # a container that failed to start would be "stopped" forever
                self._podman("rm", "--force", self.container, check=False)
            last = (cp.stderr.strip().splitlines() or ["no output"])[-1]
            raise DriverError(f"`podman {args[0]}` failed (exit {cp.returncode}): {last}")
        return cp

    def status(self) -> str:
        cp = self._podman("inspect", "--type", "container", "-f", "{{.State.Running}}", self.container, check=False)
        if cp.returncode != 0:
            return "absent"
        return "running" if cp.stdout.strip() == "true" else "stopped"

    def up(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.image.exists():
            self.image.build(self.workdir.parent / "cache", self.log)
        state = self.status()
        if state == "absent":
            nofile, nproc = _limit(resource.RLIMIT_NOFILE, 20000), _limit(resource.RLIMIT_NPROC, 32768)
            volumes = []
            for cache in CACHES if self.use_caches else ():
                volumes += ["--volume", f"{self._cache_dir(cache)}:{cache.guest}:{CACHE_MOUNT}"]
            self._podman(
                "run", "--detach", "--name", self.container, "--hostname", self.container,
                # crun cannot set up a systemd guest on a hybrid cgroup v1/v2 host; runc can.
                "--runtime", "runc", "--systemd", "always",
                "--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}",
                "--publish", "127.0.0.1::80", *volumes,
                self.image.tag, self.image.init,
                cleanup=True,
            )  # fmt: skip
        elif not self.use_caches and self.cache_mounts():
            raise DriverError(f"{self.container} was created with caches: `rehearse destroy` first to rehearse cold")
        elif state == "stopped":
            self._podman("start", self.container)
        self._wait_for_boot()
        self._mirror_host()
        pip = [f"cache-dir = {PIP_CACHE}"] if any(c.guest == PIP_CACHE for c in self.cache_mounts()) else []
        if mirror.ca_certificates():  # a venv's own pip (its bundled certifi) trusts the host's CAs too
            pip.append(f"cert = {GUEST_CA_BUNDLE}")
        if pip:  # the lines as arguments: nothing to quote
            write = 'printf "%s\\n" "$@" > /etc/pip.conf'
            self._podman("exec", self.container, "sh", "-c", write, "sh", "[global]", *pip)

    @property
    def cache_root(self) -> Path:
        """This platform's caches on the host: root's alone (0700), so no other local user can reach a
        file a guest left there, nor plant one for the next guest."""
        return self.workdir.parent / "cache" / self.spec.name

    def _cache_dir(self, cache: Cache) -> Path:
        root = self.cache_root
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        root.chmod(0o700)  # caches made before this rule were under a 0755 directory
        private.check_owned(root)
        host = root / cache.host
        host.mkdir(exist_ok=True)
        os.chown(host, cache.owner, cache.owner)
        host.chmod(0o755)  # never 1777 again (the mode caches once had)
        return host

    def cache_mounts(self) -> list[Cache]:
        """The caches this guest was created with (a guest keeps its mounts for life)."""
        mounts = "{{range .Mounts}}{{.Destination}} {{end}}"
        cp = self._podman("inspect", "--type", "container", "-f", mounts, self.container, check=False)
        mounted = cp.stdout.split() if cp.returncode == 0 else []
        return [c for c in CACHES if c.guest in mounted]

    def caches(self) -> list[str]:
        return [f"{c.name} ({c.guest}, kept on the host)" for c in self.cache_mounts()]

    def _wait_for_boot(self) -> None:
        # "degraded" is fine: a container has units (e.g. for kernel devices) that can't start.
        self._podman(
            "exec", self.container, "systemctl", "is-system-running", "--wait", check=False, seconds=BOOT_SECONDS
        )

    def reboot(self) -> None:
        # systemd (PID 1) stops every unit on SIGRTMIN+3, then runc starts /sbin/init again.
        self._podman("restart", "--time", "20", self.container)
        self._wait_for_boot()

    def _mirror_host(self) -> None:
        """Give the guest the host's apt sources for its own suite (with their keyrings), apt settings
        and extra CA certificates."""
        sources = mirror.guest_sources(mirror.APT, self.image.suite)
        if sources.files:  # else the guest keeps debootstrap's sources.list (the host's mirror, too)
            self._podman("exec", self.container, "rm", "-f", "/etc/apt/sources.list")
        for local, rel in sources.stage(self.workdir / "host-apt"):
            self._podman("cp", str(local), f"{self.container}:/etc/apt/{rel}")
        for key in sources.keyrings:
            if Path(key).is_file():
                self._podman("exec", self.container, "mkdir", "-p", str(key.parent))
                self._podman("cp", str(key), f"{self.container}:{key}")
        for path in mirror.apt_settings():
            self._podman("cp", str(path), f"{self.container}:/etc/apt/{path.relative_to(mirror.APT)}")
        for cert in mirror.ca_certificates():
            self._podman("cp", str(cert), f"{self.container}:{GUEST_CA_DIR}/{cert.name}")
        self._podman("exec", self.container, "update-ca-certificates")

    def destroy(self) -> None:
        if self.status() != "absent":
            self._podman("rm", "--force", "--time", "5", self.container)

    def purge(self) -> None:
        """The image, and this platform's caches (what the guests wrote there goes with them)."""
        self.image.remove()
        shutil.rmtree(self.cache_root, ignore_errors=True)

    def host_spec(self) -> str:
        # runc:// when this host can use it: every `podman exec` costs ~150 ms (podman, conmon and runc
        # start each time); `runc exec` on the container's state is the same exec, with the same
        # privileges, without podman and conmon (runc.py). It takes root and a running rootful container
        # under runc; otherwise, or with REHEARSE_CHANNEL=podman, podman exec stays the channel.
        why_not = runc.unusable(self.container)
        spec = f"podman://{self.container}" if why_not else f"runc://{self.container}"
        with self.log.open("a") as f:
            f.write(f"channel: {spec}" + (f" (runc unusable: {why_not})\n" if why_not else "\n"))
        return spec

    def login_argv(self, command: list[str], *, tty: bool) -> list[str]:
        return ["podman", "exec", "-i", *(["-t"] if tty else []), self.container, *command]

    def http_url(self) -> str:
        cp = self._podman("port", self.container, "80/tcp")
        addr = cp.stdout.strip().splitlines()[0]
        if not addr.startswith("127.0.0.1:"):
            raise DriverError(f"guest port 80 is published on {addr}, not on loopback")
        return f"http://{addr}/"
