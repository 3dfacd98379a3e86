"""The drivers' host commands, each with a bound: podman, ssh, debootstrap and pip end within their
time, and whatever they started goes with them (the pipeline of an image import, an ssh that forks)."""

import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

from provision.errors import DriverError


def run(cmd: Sequence[str], seconds: float, *, capture: bool = True, **popen: Any) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(cmd, text=True, capture_output=capture, **popen)` in a session of its own;
    past `seconds` the whole session is killed and a DriverError says which command and what bound."""
    if capture:
        popen |= {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    with subprocess.Popen(cmd, start_new_session=True, text=True, **popen) as p:
        try:
            out, err = p.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            # A daemon that left the session may still hold a pipe: not waited for.
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.communicate(timeout=5)
            shown = shlex.join(cmd[:5]) + (" …" if len(cmd) > 5 else "")
            raise DriverError(f"`{shown}` did not finish within {seconds:g} s: stopped") from None
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)
