"""The drivers' host commands are bounded (provision/guests/bounded.py): host-free, on real processes."""

import os
import subprocess
import time
from pathlib import Path

import pytest

from provision.errors import DriverError
from provision.guests import bounded


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for every purpose here.
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"


def test_a_command_within_its_bound_gives_what_subprocess_run_gives() -> None:
    cp = bounded.run(["sh", "-c", "echo out; echo err >&2; exit 3"], 10)
    assert (cp.returncode, cp.stdout, cp.stderr) == (3, "out\n", "err\n")


def test_output_can_go_to_a_file(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with log.open("w") as out:
        cp = bounded.run(["sh", "-c", "echo to the log"], 10, capture=False, stdout=out, stderr=subprocess.STDOUT)
    assert (cp.returncode, cp.stdout, log.read_text()) == (0, None, "to the log\n")


def test_past_its_bound_the_command_and_all_it_started_are_killed(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # A pipeline's worth of processes, one of them in the background, as `tar | podman import` has.
    script = f"sleep 300 & echo $! > {pids}; sleep 300 | cat"
    start = time.monotonic()
    with pytest.raises(DriverError, match=r"^`sh -c 'sleep 300 & .*` did not finish within 1 s: stopped$"):
        bounded.run(["sh", "-c", script], 1)
    assert time.monotonic() - start < 10
    background = int(pids.read_text())
    deadline = time.monotonic() + 5
    while alive(background) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(background)


def test_a_daemon_that_keeps_the_pipe_does_not_hold_the_caller_past_the_bound() -> None:
    # setsid: the daemon leaves the command's session, so killing that session misses it; it keeps stdout.
    start = time.monotonic()
    with pytest.raises(DriverError, match="did not finish within 1 s"):
        bounded.run(["sh", "-c", "setsid sleep 8 & sleep 300"], 1)
    assert time.monotonic() - start < 10
