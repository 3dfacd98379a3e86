"""The transport: shell commands and files on a guest, through a testinfra backend.

testinfra's backends (`podman://`, `ssh://`) are the only channel: applying and verifying use the
same connection the acceptance tests use.
"""

import base64
import hashlib
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import testinfra

from provision.params import Params
from provision.steps import HOME, Shell


@dataclass(frozen=True)
class Result:
    command: str
    exit_code: int
    output: str
    seconds: float

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


class Guest:
    """A guest reached through testinfra, acting as the tutorial's reader (or as root)."""

    def __init__(self, spec: str, params: Params, log: Path) -> None:
        self.host = testinfra.get_host(spec)
        self.params = params
        self.log = log

    def _script(self, command: str, shell: Shell) -> str:
        lines = ["cd ~", f"cd {shell.cwd}"]
        if shell.venv:
            lines.append("source myprojectenv/bin/activate")
        return " && ".join(lines) + "\n" + command

    def run(self, command: str, shell: Shell = HOME, *, as_root: bool = False) -> Result:
        """Run one line as the reader would type it: in a bash login shell of `user`, in `shell`'s state."""
        command = self.params.expand(command)
        script = self._script(command, shell)
        if as_root:  # the transport's login may be root (podman) or a sudoer (vagrant, ssh)
            wrapped = f"sudo -H bash -c {shlex.quote(script)}"
        else:
            wrapped = f"sudo -H -u {self.params.user} bash -l -c {shlex.quote(script)}"
        start = time.monotonic()
        out = self.host.run(wrapped)
        result = Result(command, out.rc, out.stdout + out.stderr, time.monotonic() - start)
        self.note(f"$ {command}  # exit {result.exit_code}, {result.seconds:.1f} s\n{result.output}")
        return result

    def note(self, text: str) -> None:
        """Append to the rehearsal log, which keeps every run's full output."""
        with self.log.open("a") as f:
            f.write(text + "\n")

    def sync_file(self, path: str, content: str, *, sudo: bool) -> bool:
        """Make `path` hold `content`, as the reader's editor would; False when it already did."""
        path = self.params.expand(path)
        digest = hashlib.sha256(content.encode()).hexdigest()
        if self.run(f"sha256sum {shlex.quote(path)}").output.split(" ")[0] == digest:
            return False
        payload = base64.b64encode(content.encode()).decode()
        sink = f"sudo tee {shlex.quote(path)} >/dev/null" if sudo else f"cat > {shlex.quote(path)}"
        result = self.run(f"echo {payload} | base64 -d | {sink}")
        if result.exit_code != 0:
            raise OSError(f"writing {path} failed (exit {result.exit_code}): {result.tail(3)}")
        return True
