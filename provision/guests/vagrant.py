"""The tutorial's own guest under Vagrant (ubuntu/trusty64 on VirtualBox; libvirt as an alternative).

The Vagrantfile defines one machine per platform, named after it. This driver boots with
`vagrant up --no-provision` and the CLI applies the steps itself; the Vagrantfile's provisioner,
which calls `rehearse apply --target vagrant`, runs only when Vagrant provisions (`vagrant up` of a
new machine, `vagrant provision`), so neither path re-enters the other.
"""

import shlex
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import vagrant

from provision.errors import DriverError
from provision.guests.driver import Driver, GuestSpec
from provision.guests.sshlib import LoopbackForward, close_master, control_path
from provision.layout import workplace

# Vagrant's states (libvirt's too, as python-vagrant normalizes them) in the contract's three words.
STATES = {vagrant.Vagrant.RUNNING: "running", vagrant.Vagrant.NOT_CREATED: "absent"}


def state_word(state: str | None) -> str:
    """running, absent, or stopped for every other state (poweroff, saved, aborted, ...)."""
    return STATES.get(state or "", "stopped")


def with_control_path(ssh_config: str, path: str) -> str:
    """`vagrant ssh-config` output (one Host block) plus the ControlPath that lets testinfra's
    `ControlMaster=auto` reuse one connection for every command."""
    if sum(line.startswith("Host ") for line in ssh_config.splitlines()) != 1:
        raise DriverError("expected one Host block from `vagrant ssh-config`")
    return ssh_config.rstrip("\n") + f"\n  ControlPath {path}\n"


class VagrantDriver(Driver):
    name = "vagrant"
    tools = ("vagrant", "ssh")

    def __init__(self, spec: GuestSpec, workdir: Path) -> None:
        super().__init__(spec, workdir)
        self.machine = spec.name  # the Vagrantfile names each machine after its platform
        root = workplace()
        if not (root / "Vagrantfile").is_file():
            raise DriverError(
                f"no Vagrantfile in {root}: write the project's with `rehearse vagrantfile > Vagrantfile`"
            )
        self.log = workdir / "driver.log"
        self.ssh_config_file = workdir / "ssh-config"
        log_cm = vagrant.make_file_cm(str(self.log))  # type: ignore[no-untyped-call]
        self.vagrant = vagrant.Vagrant(  # type: ignore[no-untyped-call]
            root=str(root), out_cm=log_cm, err_cm=log_cm
        )
        self.forward = LoopbackForward(["-F", str(self.ssh_config_file), self.machine], workdir)

    def _call(self, what: str, **kwargs: Any) -> Any:
        """A python-vagrant call (untyped); a failing `vagrant` becomes one line pointing at the log."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            return getattr(self.vagrant, what)(**kwargs)
        except subprocess.CalledProcessError as e:
            raise DriverError(f"`vagrant {what} {self.machine}` failed (exit {e.returncode}); see {self.log}") from None

    def status(self) -> str:
        return state_word(self._call("status", vm_name=self.machine)[0].state)

    def up(self) -> None:
        """Boot (or resume) without Vagrant's provisioner: the CLI applies the steps next."""
        self._call("up", vm_name=self.machine, provision=False)
        self.write_ssh_config()

    def provision(self) -> None:
        """Vagrant's own path: its provisioner runs `rehearse apply --target vagrant` on the host."""
        self._call("provision", vm_name=self.machine)

    def _disconnect(self) -> None:
        """Close the port-80 forward and testinfra's connection master before the guest goes away."""
        self.forward.close()
        if self.ssh_config_file.is_file():
            close_master(control_path(self.workdir, "ssh"), ["-F", str(self.ssh_config_file), self.machine])

    def reboot(self) -> None:
        self._disconnect()
        self._call("reload", vm_name=self.machine, provision=False)

    def halt(self) -> None:
        self._disconnect()
        self._call("halt", vm_name=self.machine)

    def destroy(self) -> None:
        if self.status() == "absent":
            return
        self._disconnect()
        self._call("destroy", vm_name=self.machine)
        self.ssh_config_file.unlink(missing_ok=True)

    def write_ssh_config(self) -> Path:
        """`vagrant ssh-config` into the workdir, where testinfra and ssh read it."""
        text = self._call("ssh_config", vm_name=self.machine)
        self.ssh_config_file.write_text(with_control_path(text, control_path(self.workdir, "ssh")))
        return self.ssh_config_file

    def host_spec(self) -> str:
        # Refreshed every time: a reload can move the ssh port. sudo: the reader's account is
        # created by root, and Vagrant logs in as `vagrant`.
        query = urllib.parse.urlencode({"ssh_config": self.write_ssh_config(), "sudo": "true"})
        return f"ssh://{self.machine}?{query}"

    def http_url(self) -> str:
        if not self.ssh_config_file.is_file():
            self.write_ssh_config()
        return self.forward.url()

    def login_argv(self, command: list[str], *, tty: bool) -> list[str]:
        # ssh hands the remote shell one string: quoted here, split there
        config = str(self.write_ssh_config())
        return ["ssh", "-F", config, *(["-t"] if tty else []), self.machine, shlex.join(command)]
