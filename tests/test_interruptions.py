"""A rehearsal stopped in the middle of step 5.1 (pip compiling uWSGI), on a real guest: CTRL-C and
SIGKILL each leave a report that says where it stopped, and the next run completes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provision import cli
from provision.guests.transport import Guest
from provision.layout import PROJECT
from provision.reports.record import Outcome, Report, Status

pytestmark = pytest.mark.guest

WAIT_FOR_STEP = 300.0  # seconds: steps 4.3 to 5.1 on a guest whose venv was removed


def running_step(report: Path) -> str | None:
    try:
        steps = json.loads(report.read_text())["steps"]
    except (OSError, ValueError):  # not written yet
        return None
    return next((s["id"] for s in steps if s["status"] == Status.RUNNING), None)


@pytest.fixture
def interruptible():
    """The rehearsal this test starts takes CTRL-C also where the suite itself was started with SIGINT
    ignored (`cmd &` in a script: an ignored signal stays ignored across exec, a handled one does not)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(
    ("sig", "code", "outcome", "status", "previous"),
    [
        (signal.SIGINT, 130, Outcome.INTERRUPTED, Status.INTERRUPTED, "was interrupted during step 5.1"),
        (signal.SIGKILL, -signal.SIGKILL, Outcome.RUNNING, Status.RUNNING, "without a word (killed?) during step 5.1"),
    ],
)  # fmt: skip
def test_stopped_during_pip_install_then_the_next_run_completes(
    rehearsed, tmp_path, interruptible, sig, code, outcome, status, previous
):
    target, platform = rehearsed.driver.target, rehearsed.platform.name
    guest = Guest(rehearsed.driver.host_spec(), tmp_path / "check.log")
    # Without its venv the guest must run 4.3 to 5.1 again: pip is busy when the signal lands.
    assert guest.run(f"rm -rf {rehearsed.params.project}/myprojectenv", timeout=60).exit_code == 0
    args = ["apply", "--target", target, "--platform", platform, "--workdir", str(tmp_path)]
    out = cli.state_dir(tmp_path, target, platform)
    with subprocess.Popen(
        [sys.executable, "-m", "provision.cli", *args], cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    ) as run:  # fmt: skip
        deadline = time.monotonic() + WAIT_FOR_STEP
        while running_step(out / "report.json") != "5.1" and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running_step(out / "report.json") == "5.1"
        deadline = time.monotonic() + 60
        while (busy := guest.run("pgrep -f '[p]ip install'", timeout=10).exit_code == 0) is False:
            assert time.monotonic() < deadline and run.poll() is None, "pip never ran in step 5.1"
        os.kill(run.pid, sig)
        assert busy  # the signal lands while pip works, which is what this test is about
        _, err = run.communicate(timeout=60)
    assert run.returncode == code
    stopped = Report.load(out / "report.json")
    assert stopped.status == outcome
    assert stopped.failed_step is not None and (stopped.failed_step.id, stopped.failed_step.status) == ("5.1", status)
    if sig == signal.SIGINT:  # one line, the HTML and JUnit reports of the partial run, pip stopped
        assert guest.run("pgrep -f '[p]ip install'", timeout=30).exit_code == 1
        assert err.strip().splitlines() == [f"rehearse: interrupted; the partial report and log are kept in {out}"]
        assert "interrupted</span> at step 5.1: Install Flask and uWSGI</h2>" in (out / "report.html").read_text()
        assert 'message="interrupted (CTRL-C or SIGTERM)' in (out / "junit.xml").read_text()

    assert cli.main(args) == 0
    again = Report.load(out / "report.json")
    assert again.status == Outcome.PASSED and previous in again.previous
    # nothing of the stopped run's pip is left running beside the completed one
    assert guest.run("pgrep -f '[p]ip install'", timeout=30).exit_code == 1
