"""The Vagrantfile, validated by the real `vagrant` offline, and the Vagrant and ssh drivers' pure parts."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import testinfra
from testinfra.backend import parse_hostspec

from provision.errors import DriverError
from provision.guests.driver import GuestSpec
from provision.guests.ssh import SshDriver
from provision.guests.sshlib import SOCKET_PATH_MAX, control_path
from provision.guests.vagrant import VagrantDriver, state_word, with_control_path
from provision.layout import PROJECT

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


def vagrant_validate(workdir: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VAGRANT_HOME": str(tmp_path / "vagrant.d"),  # no state left in the user's ~/.vagrant.d
        "VAGRANT_DOTFILE_PATH": str(tmp_path / "dotfile"),  # nor a .vagrant/ in the project
        "VAGRANT_CHECKPOINT_DISABLE": "1",
        "VAGRANT_DEFAULT_PROVIDER": "libvirt",
    }
    return subprocess.run(
        offline(["vagrant", "validate", *args]), cwd=workdir, env=env, capture_output=True, text=True, check=False
    )


def test_vagrantfile_validates_with_libvirt_provider_offline(tmp_path: Path) -> None:
    # libvirt's provider blocks included: vagrant-libvirt is installed here, VirtualBox is not.
    cp = vagrant_validate(PROJECT, tmp_path)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "Vagrantfile validated successfully" in cp.stdout


def test_vagrantfile_validates_without_provider_blocks_offline(tmp_path: Path) -> None:
    # The VirtualBox path: its provider blocks cannot be checked without VirtualBox installed.
    cp = vagrant_validate(PROJECT, tmp_path, "--ignore-provider")
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_vagrantfile_rehearse_provisioner_is_registered_and_validated(tmp_path: Path) -> None:
    """The inline provisioner plugin loads, and Vagrant runs its config validation."""
    broken = tmp_path / "project"
    broken.mkdir()
    text = VAGRANTFILE.read_text()
    assert "r.platform = name" in text
    (broken / "Vagrantfile").write_text(text.replace("r.platform = name", 'r.platform = "xenial"'))
    cp = vagrant_validate(broken, tmp_path)
    assert cp.returncode != 0
    assert "rehearse: platform must be one of trusty, bookworm" in cp.stdout + cp.stderr


def test_vagrantfile_boxes_and_loopback_port() -> None:
    text = VAGRANTFILE.read_text()
    assert '"ubuntu/trusty64"' in text and '"generic/ubuntu1404"' in text
    assert re.search(r'forwarded_port", guest: 80, host: spec\[:http_port\], host_ip: "127.0.0.1"', text)


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


def test_control_path_falls_back_to_temp_dir_when_too_deep(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * SOCKET_PATH_MAX)
    path = control_path(deep, "ssh")
    assert not path.startswith(str(deep)) and path.endswith("-ssh-%C")
    assert len(path) - 2 <= SOCKET_PATH_MAX


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


def test_vagrant_driver_names_its_machine_after_the_platform(tmp_path: Path) -> None:
    assert VagrantDriver(TRUSTY_GUEST, tmp_path).machine == "trusty"
    assert VagrantDriver(GuestSpec("bookworm"), tmp_path).machine == "bookworm"
    assert re.search(r'^\s*"bookworm" => \{', VAGRANTFILE.read_text(), re.M)


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
    with pytest.raises(DriverError, match="ssh not found"):
        SshDriver(TRUSTY_GUEST, tmp_path, "ssh://deploy@example.test")
