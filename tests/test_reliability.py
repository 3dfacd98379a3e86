"""Reliability on a real guest: two readers share it, names the harness once used are planted by a stranger,
and the evidence a failure quotes is this run's own."""

from pathlib import Path

import pytest

from provision import cli
from provision.guests.transport import Guest
from provision.reports.record import Report, Status

pytestmark = pytest.mark.guest

# Every fixed name the harness wrote in the guest before its working files went in a private directory.
OLD_NAMES = (
    "/tmp/rehearse-serve-5000.log",
    "/tmp/rehearse-serve-8000.log",
    "/tmp/rehearse-live-root.log",
    "/tmp/rehearse-live-{user}.log",
)
PLANT = (
    "ln -sfn /etc/passwd /tmp/rehearse-serve-5000.log; ln -sfn /etc/shadow /tmp/rehearse-live-root.log; "
    "printf 'stale GET / HTTP/1.1 200\\n' > /tmp/rehearse-serve-8000.log; "
    "printf 'planted\\n' > /tmp/rehearse-live-{user}.log; "
    "chown nobody: /tmp/rehearse-serve-8000.log /tmp/rehearse-live-{user}.log"
)
STATE = "sha256sum /etc/passwd /etc/shadow; ls -l --time-style=+ /tmp | grep rehearse-; cat /tmp/rehearse-*.log 2>&1"


def apply_as(rehearsed, workdir: Path, user: str) -> Report:
    target, platform = rehearsed.driver.target, rehearsed.platform.name
    args = ["apply", "--target", target, "--platform", platform, "--workdir", str(workdir), "--user", user]
    code = cli.main(args)
    report = Report.load(cli.state_dir(workdir, target, platform) / "report.json")
    failed = report.failed_step
    assert code == 0, f"as {user}: step {failed.id if failed else '?'}: {failed.error if failed else ''}"
    return report


def test_two_readers_take_turns_on_one_guest_among_planted_names(rehearsed, tmp_path):
    """deploy, then x2, then deploy again: each rehearsal passes, whatever a stranger planted at the names
    the harness once used (symlinks to /etc/passwd and /etc/shadow, files of nobody's), which stay as
    they were; and no run leaves a working file behind."""
    guest = Guest(rehearsed.driver.host_spec(), tmp_path / "check.log")
    user = rehearsed.params.user
    assert guest.run(PLANT.format(user=user), timeout=30).exit_code == 0
    before = guest.run(STATE, timeout=30).output
    try:
        for reader in (user, "x2", user):
            report = apply_as(rehearsed, tmp_path / reader, reader)
            assert {s.status for s in report.steps} <= {Status.CHANGED, Status.UNCHANGED}
            assert guest.run(STATE, timeout=30).output == before
            assert guest.run("ls -d /tmp/rehearse.* 2>/dev/null", timeout=30).output == ""  # nothing left
    finally:
        guest.run("rm -f " + " ".join(name.format(user=user) for name in OLD_NAMES), timeout=30)
        guest.run("userdel -r x2 2>/dev/null; true", timeout=60)
