"""The transport: shell scripts and files on a guest, through a testinfra backend.

testinfra's backends (`podman://`, `ssh://`) are the only channel: applying and verifying use the
same connection the acceptance tests use. The transport knows nothing of the tutorial: it runs the
scripts it is given, as the user it is told, and logs every one.
"""

import base64
import hashlib
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import testinfra

from provision.printable import printable

# coreutils' `timeout` exits 124 when it sent the signal, 137 when it had to KILL after the grace time.
TIMED_OUT = (124, 137)
KILL_AFTER = 10  # seconds between TERM and KILL for a command past its budget
DEFAULT_TIMEOUT = 120.0  # the harness's own commands (digests, file writes, kills) finish in seconds
# The harness's working files in the guest: a directory per run and account, made by mktemp (0700, the
# account's own), so no name is fixed in advance where another account could plant a file or a symlink.
WORKSPACE = re.compile(r"/tmp/rehearse\.[A-Za-z0-9]{10}")


@dataclass(frozen=True)
class Result:
    command: str
    exit_code: int
    output: str
    seconds: float
    timeout: float | None = None  # the budget it ran under

    @property
    def timed_out(self) -> bool:
        return self.timeout is not None and self.exit_code in TIMED_OUT and self.seconds >= self.timeout

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


class Shell(Protocol):
    """What the runner needs of a guest; `Guest` is the real one, tests bring fakes."""

    log: Path  # every command's full output

    def run(
        self, command: str, *, user: str | None = None, prelude: str = "", timeout: float | None = None,
        live: bool = False,
    ) -> Result: ...  # fmt: skip

    def peek(self) -> str: ...

    def sync_file(self, path: str, content: str, *, user: str, sudo: bool) -> bool: ...

    def note(self, text: str) -> None: ...

    def settle(self) -> list[str]: ...

    def workspace(self, user: str | None) -> str: ...

    def cleanup(self) -> None: ...


class Guest:
    """A guest reached through testinfra."""

    def __init__(self, spec: str, log: Path) -> None:
        self.host = testinfra.get_host(spec)
        self.log = log
        self.live_file = ""  # where the last `live` command's output goes, in the guest
        self.workspaces: dict[str | None, str] = {}  # account (None: root) -> its working directory

    def run(
        self, command: str, *, user: str | None = None, prelude: str = "", timeout: float | None = DEFAULT_TIMEOUT,
        live: bool = False,
    ) -> Result:  # fmt: skip
        """`command` in a bash login shell of `user` (root when None), after `prelude`; the result
        names `command` alone. Past `timeout` seconds the command's whole process group is killed in
        the guest (`timeout` leads a group of its own and signals all of it). `live`: its output also
        goes to a file in the guest as it comes, for `peek` (stdout and stderr then in one stream)."""
        script = f"{prelude}\n{command}" if prelude else command
        if live:
            self.live_file = f"{self.workspace(user)}/live.log"
            script = f"exec > >(tee {shlex.quote(self.live_file)}) 2>&1\n{script}"
        if user is None:  # the transport's login may be root (podman) or a sudoer (vagrant, ssh)
            wrapped = f"sudo -H bash -c {shlex.quote(script)}"
        else:
            wrapped = f"sudo -H -u {shlex.quote(user)} bash -l -c {shlex.quote(script)}"
        if timeout is not None:
            wrapped = f"timeout --kill-after={KILL_AFTER} {timeout:g} {wrapped}"
        start = time.monotonic()
        out = self.host.run(wrapped)
        # The guest's bytes become text the operator can be shown (terminal, one-line error, reports).
        result = Result(command, out.rc, printable(out.stdout + out.stderr), time.monotonic() - start, timeout)
        self.note(f"$ {command}  # exit {result.exit_code}, {result.seconds:.1f} s\n{result.output}")
        return result

    def peek(self) -> str:
        """The last line the running `live` command printed so far ("" before any): for a progress
        display, from another thread; not logged."""
        if not self.live_file:
            return ""
        out = self.host.run(f"timeout 5 tail -n 1 {shlex.quote(self.live_file)} 2>/dev/null")
        return printable(str(out.stdout)).strip()

    def settle(self) -> list[str]:
        """Kill what an earlier, killed run left running in the guest (its host side died, the guest
        side of `podman exec`/ssh did not): each of the transport's commands leads a process group under
        `timeout`, all of which go but this command's own; then the working directories it left. Returns
        the command lines killed."""
        script = (
            "own=$(ps -o pgid= -p $$ | tr -d ' '); "
            f"pgrep -af '^timeout --kill-after={KILL_AFTER} ' | while read -r pid line; do "
            '[ "$pid" = "$own" ] || { kill -KILL -- "-$pid" 2>/dev/null && echo "$line"; }; done; '
            # and the working directories it left (rm does not follow a symlink planted there)
            "rm -rf /tmp/rehearse.??????????"
        )
        return self.run(script, timeout=30).output.splitlines()

    def workspace(self, user: str | None) -> str:
        """This run's private working directory for `user` (root when None) in the guest, made on first use."""
        if user not in self.workspaces:
            made = self.run("mktemp -d /tmp/rehearse.XXXXXXXXXX", user=user, timeout=30)
            path = made.output.strip()
            if made.exit_code != 0 or not WORKSPACE.fullmatch(path):
                raise OSError(f"no working directory in the guest for {user or 'root'}: {made.tail(1)}")
            self.workspaces[user] = path
        return self.workspaces[user]

    def cleanup(self) -> None:
        """Remove this run's working directories: a run leaves nothing of its own behind in the guest."""
        for user, path in self.workspaces.items():
            self.run(f"rm -rf {shlex.quote(path)}", user=user, timeout=30)
        self.workspaces.clear()
        self.live_file = ""

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
        # Into a temporary file beside it, then renamed: an interrupted write never leaves half a file.
        tmp, dest = shlex.quote(f"{path}.rehearse-tmp"), shlex.quote(path)
        sudo_ = "sudo " if sudo else ""
        sink = f"{sudo_}tee {tmp} >/dev/null && {sudo_}mv -f {tmp} {dest}"
        result = self.run(f"echo {payload} | base64 -d | {{ {sink}; }}", user=user)
        if result.exit_code != 0:
            raise OSError(f"writing {path} failed (exit {result.exit_code}): {result.tail(3)}")
        return True
