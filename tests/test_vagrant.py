"""The Vagrantfile, evaluated by the real `vagrant` offline, and the Vagrant and ssh drivers' pure parts."""

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import testinfra
from testinfra.backend import parse_hostspec

from provision import cli
from provision.errors import DriverError
from provision.guests import private
from provision.guests.driver import GuestSpec
from provision.guests.ssh import SshDriver
from provision.guests.sshlib import SOCKET_PATH_MAX, control_path
from provision.guests.vagrant import VagrantDriver, state_word, with_control_path
from provision.guests.vagrantfile import installed_tools, render, ruby_string
from provision.guests.wheelhouse import GUEST_DIR, HOST_DIR
from provision.layout import PROJECT
from provision.platforms import PLATFORMS

VAGRANTFILE = PROJECT / "Vagrantfile"
TRUSTY_GUEST = GuestSpec("trusty")

# What `vagrant ssh-config trusty` prints for a VirtualBox machine (stands in for a real one here).
VIRTUALBOX_SSH_CONFIG = """Host trusty
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /home/reader/project/.vagrant/machines/trusty/virtualbox/private_key
  IdentitiesOnly yes
  LogLevel FATAL
"""


def offline(cmd: list[str]) -> list[str]:
    """`cmd` in a fresh network namespace with no interfaces up: proof that it needs no network."""
    netns = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--net", "--map-root-user"]
    return [*netns, *cmd]


def vagrant_env(tmp_path: Path) -> dict[str, str]:
    return {
        "VAGRANT_HOME": str(tmp_path / "vagrant.d"),  # no state left in the user's ~/.vagrant.d
        "VAGRANT_DOTFILE_PATH": str(tmp_path / "dotfile"),  # nor a .vagrant/ in the project
        "VAGRANT_CHECKPOINT_DISABLE": "1",
        "VAGRANT_DEFAULT_PROVIDER": "libvirt",
    }


def vagrant_validate(workdir: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        offline(["vagrant", "validate", *args]),
        cwd=workdir, env=os.environ | vagrant_env(tmp_path) | env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_vagrantfile_validates_with_libvirt_provider_offline(tmp_path: Path) -> None:
    # libvirt's provider blocks included: vagrant-libvirt is installed here, VirtualBox is not.
    cp = vagrant_validate(PROJECT, tmp_path)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "Vagrantfile validated successfully" in cp.stdout


def test_vagrantfile_validates_without_provider_blocks_offline(tmp_path: Path) -> None:
    # The VirtualBox path: its provider blocks cannot be checked without VirtualBox installed.
    cp = vagrant_validate(PROJECT, tmp_path, "--ignore-provider")
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_rehearse_vagrantfile_validates_outside_the_checkout_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rehearse vagrantfile > Vagrantfile` in another directory: the real `vagrant validate` passes on it, and
    it differs from the project's only in naming this tool's `rehearse` and Python for the provisioner."""
    assert cli.main(["vagrantfile"]) == 0
    text = capsys.readouterr().out
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "Vagrantfile").write_text(text)
    cp = vagrant_validate(elsewhere, tmp_path)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    rehearse, python = installed_tools()
    assert rehearse.is_file() and rehearse.parent == python.parent  # the venv's own, whatever is on PATH
    changed = set(text.splitlines()) ^ set(VAGRANTFILE.read_text().splitlines())
    assert changed == {
        f"REHEARSE = '{rehearse}'", f"PYTHON = '{python}'",
        'REHEARSE = host_tool("rehearse", "rehearse")', 'PYTHON = host_tool("python", "python3")',
    }  # fmt: skip


@pytest.mark.parametrize("text", ["/opt/a b/bin/rehearse", "/it's/#{`id`}/x", "/back\\slash\\'/end\\"])
def test_ruby_string_reads_back_verbatim_in_ruby(text: str) -> None:
    cp = subprocess.run(["ruby", "-e", f"print {ruby_string(text)}"], capture_output=True, text=True, check=True)
    assert cp.stdout == text


def test_render_refuses_a_relative_path() -> None:
    with pytest.raises(DriverError, match="REHEARSE: expected an absolute path"):
        render(Path("bin/rehearse"), Path("/usr/bin/python3"))


# Appended to a copy of the Vagrantfile: Vagrant merges a second block for the same machine, and a
# provisioner of the same name, into the first, so this overrides the platform the project sets.
XENIAL_PLATFORM = """
Vagrant.configure("2") do |config|
  config.vm.define "trusty" do |m|
    m.vm.provision "rehearse", type: "rehearse" do |r|
      r.platform = "xenial"
    end
  end
end
"""


@pytest.mark.parametrize(
    ("appended", "env", "message"),
    [
        (XENIAL_PLATFORM, {}, "rehearse: platform must be one of trusty, bookworm"),
        ("", {"REHEARSE_MODE": "bogus"}, "rehearse: mode must be adapted, literal or audit"),
    ],
    ids=["platform", "mode"],
)
def test_vagrantfile_rehearse_provisioner_is_registered_and_validated(
    tmp_path: Path, appended: str, env: dict[str, str], message: str
) -> None:
    """The inline provisioner plugin loads, and Vagrant runs its config validation."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "Vagrantfile").write_text(VAGRANTFILE.read_text() + appended)
    cp = vagrant_validate(project, tmp_path, **env)
    assert cp.returncode != 0
    assert message in cp.stdout + cp.stderr


# Read before the project's Vagrantfile (Vagrant loads $VAGRANT_HOME/Vagrantfile first): writes each
# synced folder as Vagrant receives it, a provider's overrides included, as a JSON line.
RECORD_SYNCED_FOLDERS = """require "json"
module RecordSyncedFolders
  def synced_folder(hostpath, guestpath, options = {})
    File.open(ENV.fetch("RECORD_TO"), "a") { |f| f.puts(JSON.dump([hostpath, guestpath, options])) }
    super
  end
end
Vagrant.configure("2") { |config| config.vm.class.prepend(RecordSyncedFolders) }
"""
# Vagrant's rsync helper: these arguments unless the folder sets its own, then `--exclude .vagrant/`
# and the folder's excludes after them (rsync keeps the first filter rule that matches).
RSYNC_DEFAULT_ARGS = ["--verbose", "--archive", "--delete", "-z", "--copy-links"]
WHEEL = "virtualenv-20.15.1-py2.py3-none-any.whl"


def test_wheelhouse_reaches_guest_dir_through_every_synced_folder(tmp_path: Path) -> None:
    """Each way the Vagrantfile shares the project (the default share VirtualBox mounts; libvirt's rsync,
    run here by the real rsync with the arguments and excludes Vagrant 2.3's rsync helper passes, in
    its order) brings the host-built wheelhouse to GUEST_DIR, and leaves the rest of .rehearse/ behind."""
    (tmp_path / "vagrant.d").mkdir()
    (tmp_path / "vagrant.d" / "Vagrantfile").write_text(RECORD_SYNCED_FOLDERS)
    record = tmp_path / "synced-folders.jsonl"
    cp = vagrant_validate(PROJECT, tmp_path, RECORD_TO=str(record))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    # The project root's shares; both kinds must be there, or the loop below would check nothing.
    shares = [json.loads(line) for line in sorted(set(record.read_text().splitlines()))]
    shares = [(host, guest, opts) for host, guest, opts in shares if host == "."]
    assert {opts.get("type") for _, _, opts in shares} >= {None, "rsync"}
    rel = HOST_DIR.relative_to(PROJECT).as_posix()
    checkout = tmp_path / "checkout"
    for path in (f"{rel}/{WHEEL}", ".rehearse/trusty/report.json", ".venv/bin/python", "app/wsgi.py"):
        (checkout / path).parent.mkdir(parents=True, exist_ok=True)
        (checkout / path).write_text("x")
    for host, guest, opts in shares:
        assert f"{guest}/{rel}" == GUEST_DIR
        if opts.get("type") != "rsync":
            continue  # the whole project, shared as it is on the host
        dest = tmp_path / "guest"
        args = opts.get("rsync__args", RSYNC_DEFAULT_ARGS)
        excludes = [arg for e in [".vagrant/", *opts.get("rsync__exclude", [])] for arg in ("--exclude", e)]
        subprocess.run(["rsync", *args, *excludes, f"{checkout / host}/", str(dest)], check=True)
        got = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
        assert got == {f"{rel}/{WHEEL}", "app/wsgi.py"}


def test_driver_up_boots_without_vagrant_provisioner_mocked_virtualbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No recursion: the driver's `vagrant up` never runs the provisioner that calls `rehearse apply`."""
    driver = VagrantDriver(TRUSTY_GUEST, tmp_path)
    calls: list[list[str]] = []
    monkeypatch.setattr(driver.vagrant, "_call_vagrant_command", lambda args: calls.append(args))
    monkeypatch.setattr(driver.vagrant, "ssh_config", lambda vm_name=None: VIRTUALBOX_SSH_CONFIG)
    driver.up()
    assert [a for a in calls[0] if a] == ["up", "trusty", "--no-provision"]


@pytest.mark.parametrize(
    ("state", "word"),
    [("running", "running"), ("not_created", "absent"), ("poweroff", "stopped"), ("saved", "stopped"),
     ("aborted", "stopped"), (None, "stopped")],
)  # fmt: skip
def test_state_word(state: str | None, word: str) -> None:
    assert state_word(state) == word


def test_ssh_config_with_control_path_resolves_in_openssh_mocked_virtualbox(tmp_path: Path) -> None:
    """The written file, as OpenSSH itself resolves it (`ssh -G` connects nowhere)."""
    path = tmp_path / "ssh-config"
    wanted = control_path(tmp_path, "ssh")
    path.write_text(with_control_path(VIRTUALBOX_SSH_CONFIG, wanted))
    cp = subprocess.run(["ssh", "-G", "-F", str(path), "trusty"], capture_output=True, text=True, check=True)
    resolved = dict(line.split(" ", 1) for line in cp.stdout.splitlines() if " " in line)
    assert (resolved["hostname"], resolved["port"], resolved["user"]) == ("127.0.0.1", "2222", "vagrant")
    # %C expanded to the connection's 40-hex-digit hash
    assert re.fullmatch(re.escape(wanted.removesuffix("%C")) + "[0-9a-f]{40}", resolved["controlpath"])


def test_with_control_path_rejects_several_hosts() -> None:
    with pytest.raises(DriverError):
        with_control_path(VIRTUALBOX_SSH_CONFIG + VIRTUALBOX_SSH_CONFIG.replace("trusty", "bookworm"), "/x")


def test_control_path_is_private_and_short_however_deep_the_checkout(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * SOCKET_PATH_MAX)
    path = Path(control_path(deep, "ssh"))
    assert len(str(path)) - 2 <= SOCKET_PATH_MAX
    assert path.parent == private.directory("ssh") and private.check_owned(path.parent)
    assert not str(path).startswith(tempfile.gettempdir())  # no guessable name in a shared directory
    assert control_path(tmp_path, "ssh") != str(path)  # one per workdir


def test_host_spec_reaches_testinfra_ssh_backend_mocked_virtualbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = VagrantDriver(TRUSTY_GUEST, tmp_path)
    monkeypatch.setattr(driver.vagrant, "ssh_config", lambda vm_name=None: VIRTUALBOX_SSH_CONFIG)
    spec = driver.host_spec()
    host, kw = parse_hostspec(spec)
    assert host == "trusty"
    assert kw == {"connection": "ssh", "sudo": True, "ssh_config": str(tmp_path / "ssh-config")}
    backend = testinfra.get_host(spec).backend
    cmd, args = backend._build_ssh_command("true")
    assert "-F %s" in cmd and str(tmp_path / "ssh-config") in args
    assert "ControlMaster=auto" in " ".join(cmd)  # reuse: with the file's ControlPath, one connection
    assert "ControlPath" in (tmp_path / "ssh-config").read_text()


def test_vagrant_driver_finds_a_machine_for_each_platform_it_boots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver's own status call, through the real `vagrant` (offline) on the project's Vagrantfile:
    each platform the Vagrant target boots is a machine there, not created yet; another name is not."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    vagrant = shutil.which("vagrant")
    assert vagrant is not None
    (bin_dir / "vagrant").write_text(f'#!/bin/sh\nexec {shlex.join(offline([vagrant]))} "$@"\n')
    (bin_dir / "vagrant").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    for name, value in vagrant_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    bootable = [name for name, platform in PLATFORMS.items() if "vagrant" in platform.targets]
    states = {name: VagrantDriver(GuestSpec(name), tmp_path / name).status() for name in bootable}
    assert states == dict.fromkeys(bootable, "absent")
    with pytest.raises(DriverError, match="vagrant status xenial"):
        VagrantDriver(GuestSpec("xenial"), tmp_path / "xenial").status()


@pytest.mark.parametrize(
    ("url", "spec", "user", "port"),
    [
        ("ssh://deploy@example.test:2200", "ssh://deploy@example.test:2200?sudo=true", "deploy", "2200"),
        ("ssh://root@example.test", "ssh://root@example.test", "root", None),
    ],
)
def test_ssh_driver_host_spec_is_the_url(tmp_path: Path, url: str, spec: str, user: str, port: str | None) -> None:
    driver = SshDriver(TRUSTY_GUEST, tmp_path, url)
    assert driver.host_spec() == spec and driver.target == url
    backend = testinfra.get_host(driver.host_spec()).backend
    assert (backend.host.name, backend.host.user, backend.host.port) == ("example.test", user, port)


@pytest.mark.parametrize("url", ["ssh://", "ssh://host:notaport", "ssh://host/path", "ssh://host?x=1", "http://host"])
def test_ssh_driver_rejects_bad_urls(tmp_path: Path, url: str) -> None:
    with pytest.raises(DriverError):
        SshDriver(TRUSTY_GUEST, tmp_path, url)


def test_ssh_driver_needs_ssh_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("ssh") is None
    with pytest.raises(DriverError, match=r"not found on PATH: ssh \(.*openssh-client"):
        SshDriver(TRUSTY_GUEST, tmp_path, "ssh://deploy@example.test")
