"""A machine that already exists, reached over ssh (`ssh://user@host[:port]`)."""

import shlex
import sys
import urllib.parse
from pathlib import Path

from provision.errors import DriverError
from provision.guests import bounded
from provision.guests.driver import Driver, GuestSpec
from provision.guests.sshlib import LoopbackForward


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class SshDriver(Driver):
    """An existing machine: `up` checks it answers, `destroy` leaves it alone; both say so."""

    name = "ssh"
    tools = ("ssh",)

    def __init__(self, spec: GuestSpec, workdir: Path, url: str) -> None:
        super().__init__(spec, workdir)
        parts = urllib.parse.urlsplit(url)
        try:
            port = parts.port
        except ValueError as e:
            raise DriverError(f"bad port in {url!r}: {e}") from None
        if parts.scheme != "ssh" or not parts.hostname or parts.path not in ("", "/") or parts.query:
            raise DriverError(f"expected ssh://user@host[:port], got {url!r}")
        self.url = url.rstrip("/")
        self.user = parts.username
        self.destination = f"{self.user}@{parts.hostname}" if self.user else parts.hostname
        self.ssh_args = (["-p", str(port)] if port else []) + [self.destination]
        self.forward = LoopbackForward(self.ssh_args, workdir)

    @property
    def target(self) -> str:
        return self.url

    def status(self) -> str:
        """running when it answers over ssh; an existing machine that does not counts as stopped."""
        cp = bounded.run(["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", *self.ssh_args, "true"], 60)
        return "running" if cp.returncode == 0 else "stopped"

    def up(self) -> None:
        say(f"{self.url}: an existing machine, nothing to create; checking that it answers")
        if self.status() != "running":
            raise DriverError(f"{self.url} does not answer over ssh (BatchMode: key authentication only)")

    def destroy(self) -> None:
        say(f"{self.url}: an existing machine, not destroyed; closing the port-80 forward only")
        self.forward.close()

    def host_spec(self) -> str:
        # Steps that act as root go through sudo unless the login already is root.
        return self.url if self.user == "root" else f"{self.url}?sudo=true"

    def http_url(self) -> str:
        return self.forward.url()

    def login_argv(self, command: list[str], *, tty: bool) -> list[str]:
        # ssh hands the remote shell one string: quoted here, split there
        return ["ssh", *(["-t"] if tty else []), *self.ssh_args, shlex.join(command)]
