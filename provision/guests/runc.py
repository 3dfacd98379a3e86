"""`runc://NAME`: a testinfra backend that runs commands in a local rootful podman container through the
container's own runtime, `runc exec`, without podman and conmon (~30 ms a call where `podman exec`
costs ~150 ms).

Safety is the runtime's: nothing from the guest's filesystem runs until runc has put the process in the
container's namespaces and cgroups, dropped its capabilities to the container's sets, applied its
rlimits, no-new-privileges setting, LSM label and the container's whole seccomp profile (podman's, as
compiled by runc through libseccomp from the container's OCI config), exactly as for `podman exec`.
The harness only chooses the process's arguments, environment and working directory, from the same
OCI config podman exec starts from: the container's `process`, its args replaced, `terminal` off, and
the environment without the `container_uuid` podman gives PID 1 alone. The container is named to runc
by its ID, never by a host PID, so a PID reused after a restart is never entered.

Every call is bounded on the host: a command that bounds itself in the guest with coreutils'
`timeout [--kill-after=K] T` (the transport does) gets T + K + BOUND_SLACK seconds, any other the
backend's bound (`runc://NAME?timeout=SECONDS`, default DEFAULT_BOUND, or `timeout=` per call). Past
it the command's process group in the guest is killed (runc writes its PID to a file in the harness's
private directory; runc makes each exec'd process a session leader) and the call raises
`ChannelTimeout`.
"""

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import testinfra.backend
from testinfra.backend import base

from provision.errors import DriverError
from provision.guests import private

ENV_CHANNEL = "REHEARSE_CHANNEL"  # "podman": always podman exec; unset: runc where usable
DEFAULT_BOUND = 1800.0  # seconds, for a command that does not bound itself
BOUND_SLACK = 30.0  # past a self-bounded command's own budget and grace
RUNC_ROOT = "/run/runc"  # runc's own default state directory for root, when podman passes no --root
SELF_BOUNDED = re.compile(r"timeout (?:--kill-after=(?P<kill>\d+(?:\.\d+)?) )?(?P<budget>\d+(?:\.\d+)?) ")
_calls = itertools.count()


class ChannelTimeout(DriverError, TimeoutError):
    """A command outlived the backend's bound; its process group in the guest was killed."""


@dataclass(frozen=True)
class Container:
    """What `runc exec` on a running container takes, read from `podman inspect` and its OCI config."""

    name: str
    id: str
    runc: str  # the runtime binary podman runs the container with
    root: str  # that runtime's state directory
    process: dict[str, Any]  # the OCI process of podman exec, its args left to each call

    @property
    def state(self) -> Path:
        return Path(self.root) / self.id / "state.json"

    def running(self) -> bool:
        return self.state.is_file()

    def spec(self, args: list[str]) -> bytes:
        return json.dumps(self.process | {"args": args}).encode()

    def argv(self, spec_fd: int, pid_file: Path) -> list[str]:
        """runc exec of the process spec on `spec_fd`, into the container named by its ID."""
        return [
            self.runc, "--root", self.root, "exec", "--process", f"/proc/self/fd/{spec_fd}",
            "--pid-file", str(pid_file), self.id,
        ]  # fmt: skip


def runtime_of(args: list[str]) -> tuple[str, str]:
    """(runtime binary, state root) from the container's conmon command line: `-r PATH`, and the
    `--runtime-arg` pair for `--root`, if podman passed one (runc's own default otherwise)."""
    binary = next((b for a, b in itertools.pairwise(args) if a == "-r"), "")
    # podman hands runc its options one `--runtime-arg` each: `--root DIR` as two of them, or `--root=DIR`
    runtime_args = [b for a, b in itertools.pairwise(args) if a == "--runtime-arg"]
    runtime_args += [a.split("=", 1)[1] for a in args if a.startswith("--runtime-arg=")]
    root = RUNC_ROOT
    for a, b in itertools.pairwise([*runtime_args, ""]):
        if a == "--root":
            root = b
        elif a.startswith("--root="):
            root = a.split("=", 1)[1]
    if not binary:
        raise DriverError("the container's conmon names no runtime binary")
    return binary, root


def locate(name: str) -> Container:
    """The running container `name`; raises DriverError saying why runc cannot reach it."""
    podman = shutil.which("podman")
    if podman is None:
        raise DriverError("podman not on PATH")
    cp = subprocess.run(
        [podman, "inspect", "--type", "container", "--format", "json", name],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if cp.returncode != 0:
        raise DriverError(f"no container {name}: {(cp.stderr.strip().splitlines() or ['?'])[-1]}")
    info = json.loads(cp.stdout)[0]
    state = info["State"]
    if not state.get("Running"):
        raise DriverError(f"container {name} is not running")
    if info.get("OCIRuntime") != "runc":
        raise DriverError(f"container {name} runs under {info.get('OCIRuntime')!r}, not runc")
    binary, root = runtime_of(Path(f"/proc/{state['ConmonPid']}/cmdline").read_bytes().decode().split("\0"))
    config = json.loads(Path(info["OCIConfigPath"]).read_text())
    process = dict(config["process"])
    process["terminal"] = False
    process["env"] = [e for e in process.get("env", []) if not e.startswith("container_uuid=")]
    container = Container(name, info["Id"], binary, root, process)
    if not container.running():
        raise DriverError(f"runc keeps no state for container {name} under {root}")
    return container


def _forget_the_dead(pid_files: Path) -> None:
    """Pid files of calls whose harness process died mid-call (SIGKILL): named `<its pid>-<n>.pid`."""
    for path in pid_files.glob("*-*.pid"):
        owner = path.name.split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            path.unlink(missing_ok=True)


def unusable(name: str) -> str | None:
    """Why runc:// cannot reach the container `name` from here, or None when it can."""
    if os.environ.get(ENV_CHANNEL) == "podman":
        return f"{ENV_CHANNEL}=podman"
    if os.geteuid() != 0:
        return "not root (runc exec on a rootful container's state takes root)"
    try:
        locate(name)
    except (DriverError, OSError, subprocess.SubprocessError, ValueError, KeyError) as e:
        return str(e)
    return None


class RuncBackend(base.BaseBackend):  # type: ignore[misc]  # testinfra ships no types
    NAME = "runc"

    def __init__(self, name: str, *args: Any, timeout: float | str = DEFAULT_BOUND, **kwargs: Any) -> None:
        self.name, user = self.parse_containerspec(name)
        if user is not None:
            raise DriverError(f"runc://{name}: runs as root only (sudo inside, or podman://{name})")
        self.bound = float(timeout)
        self._container: Container | None = None
        _forget_the_dead(private.directory("runc"))
        super().__init__(self.name, *args, **kwargs)

    @property
    def container(self) -> Container:
        """The container as podman has it now: located again once runc has no state for it (removed, or
        stopped and started again under a new ID)."""
        if self._container is None or not self._container.running():
            self._container = locate(self.name)
        return self._container

    def bound_for(self, command: str) -> float:
        if m := SELF_BOUNDED.match(command):
            return max(self.bound, float(m["budget"]) + float(m["kill"] or 0) + BOUND_SLACK)
        return self.bound

    def run(self, command: str, *args: str, timeout: float | None = None, **kwargs: Any) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        container = self.container
        bound = self.bound_for(cmd) if timeout is None else timeout
        pid_file = private.directory("runc") / f"{os.getpid()}-{next(_calls)}.pid"
        spec = container.spec(["/bin/sh", "-c", cmd])
        read, write = os.pipe()  # the process spec, read by runc on the host; never the command's stdin
        try:
            os.write(write, spec)  # a few KiB: within a pipe's buffer
            os.close(write)
            with open(os.devnull, "rb") as null:  # read-only, as podman exec's stdin
                p = subprocess.Popen(
                    container.argv(read, pid_file), stdin=null, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    pass_fds=(read,),
                )  # fmt: skip
        finally:
            os.close(read)
            with contextlib.suppress(OSError):
                os.close(write)
        try:
            stdout, stderr = p.communicate(timeout=bound)
        except subprocess.TimeoutExpired:
            self._kill(p, pid_file)
            raise ChannelTimeout(f"runc://{self.name}: killed after {bound:g} s: {cmd[:200]}") from None
        finally:
            pid_file.unlink(missing_ok=True)
        if p.returncode != 0 and not container.running():
            raise DriverError(f"runc://{self.name}: the container stopped during `{cmd[:200]}`")
        return self.result(p.returncode, self.encode(cmd), stdout, stderr)

    @staticmethod
    def _kill(p: "subprocess.Popen[bytes]", pid_file: Path) -> None:
        """Kill the command's process group in the guest, then runc (whose death alone would not end it)."""
        with contextlib.suppress(OSError, ValueError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
        p.kill()
        p.communicate()


def register() -> None:
    """Make `runc://NAME` a testinfra connection string."""
    testinfra.backend.BACKENDS.setdefault(RuncBackend.NAME, f"{__name__}.{RuncBackend.__name__}")


register()
