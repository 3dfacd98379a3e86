"""A machine that already exists, reached over ssh (`ssh://user@host[:port]`), and the ssh plumbing
the Vagrant driver shares: control sockets and a loopback forward of the guest's port 80."""

import os
import socket
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

from provision.drivers import Driver, DriverError
from provision.platforms import Platform

# A unix socket path holds about 104 bytes; ssh expands %C to 40 hex digits and appends a
# 17-character suffix while binding.
SOCKET_PATH_MAX = 104 - 40 - 17
FORWARD_SECONDS = 3600  # the forward's ssh exits by itself after this, even if nobody closes it


def control_path(workdir: Path, name: str) -> str:
    """An ssh ControlPath in `workdir`, or in the temp dir when `workdir` is too deep for a socket."""
    path = workdir.resolve() / f"{name}-%C"
    if len(str(path)) - 2 <= SOCKET_PATH_MAX:
        return str(path)
    return str(Path(tempfile.gettempdir()) / f"rehearse-{os.getuid()}-{name}-%C")


def close_master(socket_path: str, ssh_args: list[str]) -> None:
    """Ask the ssh master on `socket_path` (if any) to exit; testinfra's persists a minute otherwise."""
    cmd = ["ssh", "-S", socket_path, "-O", "exit", *ssh_args]
    subprocess.run(cmd, capture_output=True, check=False)


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackForward:
    """Guest port 80 on a host loopback port, through a backgrounded ssh master.

    Provider-independent (vagrant-libvirt has no `vagrant port`) and loopback-only by construction.
    `ssh_args` are the options and destination that reach the guest.
    """

    def __init__(self, ssh_args: list[str], workdir: Path) -> None:
        self.ssh_args = ssh_args
        self.socket = control_path(workdir, "http")
        self.port_file = workdir / "http-forward.port"
        self.log = workdir / "http-forward.log"

    def url(self) -> str:
        """The forward's URL, opening it unless it is still open."""
        check = ["ssh", "-S", self.socket, "-O", "check", *self.ssh_args]
        if self.port_file.is_file() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
            return f"http://127.0.0.1:{self.port_file.read_text().strip()}/"
        port = _free_loopback_port()
        # Not through pipes: the backgrounded master would hold them open, and reading them would
        # wait for its exit. Its messages go to a file instead.
        with self.log.open("w") as log:
            cp = subprocess.run(
                ["ssh", "-S", self.socket, "-f", "-M", "-o", "ControlPersist=no", "-o", "ExitOnForwardFailure=yes",
                 "-o", "BatchMode=yes", "-L", f"127.0.0.1:{port}:127.0.0.1:80", *self.ssh_args,
                 "sleep", str(FORWARD_SECONDS)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=False,
            )  # fmt: skip
        if cp.returncode != 0:
            why = self.log.read_text().strip()
            raise DriverError(f"ssh forward of guest port 80 failed (exit {cp.returncode}): {why}")
        self.port_file.write_text(f"{port}\n")
        return f"http://127.0.0.1:{port}/"

    def close(self) -> None:
        close_master(self.socket, self.ssh_args)
        self.port_file.unlink(missing_ok=True)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class SshDriver(Driver):
    """An existing machine: `up` checks it answers, `destroy` leaves it alone; both say so."""

    name = "ssh"
    platforms = ("trusty", "bookworm")
    tool = "ssh"

    def __init__(self, platform: Platform, workdir: Path, url: str) -> None:
        super().__init__(platform, workdir)
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
        cp = subprocess.run(
            ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", *self.ssh_args, "true"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
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
