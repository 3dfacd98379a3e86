"""ssh plumbing the ssh and Vagrant drivers share: control sockets and a loopback forward of the
guest's port 80."""

import hashlib
import socket
import subprocess
from pathlib import Path

from provision.errors import DriverError
from provision.guests import bounded, private

# A unix socket path holds about 104 bytes; ssh expands %C to 40 hex digits and appends a
# 17-character suffix while binding.
SOCKET_PATH_MAX = 104 - 40 - 17
FORWARD_SECONDS = 3600  # the forward's ssh exits by itself after this, even if nobody closes it


def control_path(workdir: Path, name: str) -> str:
    """An ssh ControlPath for `workdir`'s guest, in the harness's private directory: short enough for a
    socket wherever the checkout is, and at no name another local user could take first."""
    tag = hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:12]
    path = str(private.directory("ssh") / f"{tag}-{name}-%C")
    if len(path) - 2 > SOCKET_PATH_MAX:
        raise DriverError(f"the private directory's path is too long for an ssh control socket: {path}")
    return path


def close_master(socket_path: str, ssh_args: list[str]) -> None:
    """Ask the ssh master on `socket_path` (if any) to exit; testinfra's persists a minute otherwise."""
    cmd = ["ssh", "-S", socket_path, "-O", "exit", *ssh_args]
    bounded.run(cmd, 30)


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
        if self.port_file.is_file() and bounded.run(check, 30).returncode == 0:
            return f"http://127.0.0.1:{self.port_file.read_text().strip()}/"
        port = _free_loopback_port()
        # Not through pipes: the backgrounded master would hold them open, and reading them would
        # wait for its exit. Its messages go to a file instead.
        with self.log.open("w") as log:
            cp = bounded.run(
                ["ssh", "-S", self.socket, "-f", "-M", "-o", "ControlPersist=no", "-o", "ExitOnForwardFailure=yes",
                 "-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "-L", f"127.0.0.1:{port}:127.0.0.1:80",
                 *self.ssh_args, "sleep", str(FORWARD_SECONDS)],
                60, capture=False, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        if cp.returncode != 0:
            why = self.log.read_text().strip()
            raise DriverError(f"ssh forward of guest port 80 failed (exit {cp.returncode}): {why}")
        self.port_file.write_text(f"{port}\n")
        return f"http://127.0.0.1:{port}/"

    def close(self) -> None:
        close_master(self.socket, self.ssh_args)
        self.port_file.unlink(missing_ok=True)
