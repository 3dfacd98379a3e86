"""The transport: shell scripts and files on a guest, through a testinfra backend.

testinfra's backends (`podman://`, `ssh://`) are the only channel: applying and verifying use the
same connection the acceptance tests use. The transport knows nothing of the tutorial: it runs the
scripts it is given, as the user it is told, and logs every one.
"""

import base64
import hashlib
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import testinfra


@dataclass(frozen=True)
class Result:
    command: str
    exit_code: int
    output: str
    seconds: float

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


class Shell(Protocol):
    """What the runner needs of a guest; `Guest` is the real one, tests bring fakes."""

    log: Path  # every command's full output

    def run(self, command: str, *, user: str | None = None, prelude: str = "") -> Result: ...

    def sync_file(self, path: str, content: str, *, user: str, sudo: bool) -> bool: ...

    def note(self, text: str) -> None: ...


class Guest:
    """A guest reached through testinfra."""

    def __init__(self, spec: str, log: Path) -> None:
        self.host = testinfra.get_host(spec)
        self.log = log

    def run(self, command: str, *, user: str | None = None, prelude: str = "") -> Result:
        """`command` in a bash login shell of `user` (root when None), after `prelude`; the result
        names `command` alone."""
        script = f"{prelude}\n{command}" if prelude else command
        if user is None:  # the transport's login may be root (podman) or a sudoer (vagrant, ssh)
            wrapped = f"sudo -H bash -c {shlex.quote(script)}"
        else:
            wrapped = f"sudo -H -u {shlex.quote(user)} bash -l -c {shlex.quote(script)}"
        start = time.monotonic()
        out = self.host.run(wrapped)
        result = Result(command, out.rc, out.stdout + out.stderr, time.monotonic() - start)
        self.note(f"$ {command}  # exit {result.exit_code}, {result.seconds:.1f} s\n{result.output}")
        return result

    def note(self, text: str) -> None:
        """Append to the rehearsal log, which keeps every run's full output."""
        with self.log.open("a") as f:
            f.write(text + "\n")

    def sync_file(self, path: str, content: str, *, user: str, sudo: bool) -> bool:
        """Make `path` hold `content`, written by `user` (through sudo when `sudo`) as an editor
        would; False when it already did."""
        digest = hashlib.sha256(content.encode()).hexdigest()
        if self.run(f"sha256sum {shlex.quote(path)}", user=user).output.split(" ")[0] == digest:
            return False
        payload = base64.b64encode(content.encode()).decode()
        sink = f"sudo tee {shlex.quote(path)} >/dev/null" if sudo else f"cat > {shlex.quote(path)}"
        result = self.run(f"echo {payload} | base64 -d | {sink}", user=user)
        if result.exit_code != 0:
            raise OSError(f"writing {path} failed (exit {result.exit_code}): {result.tail(3)}")
        return True
