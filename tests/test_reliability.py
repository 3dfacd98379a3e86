"""Reliability on a real guest: two readers share it, names the harness once used are planted by a stranger,
and the evidence a failure quotes is this run's own."""

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from provision import cli
from provision.guests import podman
from provision.guests.podman import PodmanDriver
from provision.guests.transport import Guest
from provision.platforms import Mode
from provision.rehearsal.claims import Context
from provision.rehearsal.runner import rehearse
from provision.reports.record import Outcome, Report, Status

pytestmark = pytest.mark.guest

# Every fixed name the harness wrote in the guest before its working files went in a private directory.
OLD_NAMES = (
    "/tmp/rehearse-serve-5000.log",
    "/tmp/rehearse-serve-8000.log",
    "/tmp/rehearse-live-root.log",
    "/tmp/rehearse-live-{user}.log",
)
# Root's canaries stand where the symlinks point: a write through one would change it.
PLANT = (
    "printf 'canary a\\n' > /root/rehearse-canary-a; printf 'canary b\\n' > /root/rehearse-canary-b; "
    "chmod 600 /root/rehearse-canary-?; "
    "ln -sfn /root/rehearse-canary-a /tmp/rehearse-serve-5000.log; "
    "ln -sfn /root/rehearse-canary-b /tmp/rehearse-live-root.log; "
    "printf 'stale GET / HTTP/1.1 200\\n' > /tmp/rehearse-serve-8000.log; "
    "printf 'planted\\n' > /tmp/rehearse-live-{user}.log; "
    "chown nobody: /tmp/rehearse-serve-8000.log /tmp/rehearse-live-{user}.log"
)
STATE = (
    "sha256sum /root/rehearse-canary-?; stat -c '%n %U %a' /root/rehearse-canary-?; "
    "ls -l --time-style=+ /tmp | grep rehearse-; cat /tmp/rehearse-serve-8000.log /tmp/rehearse-live-*.log 2>&1"
)


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
    the harness once used (symlinks to root's files, files of nobody's), which stay as they were, as do the
    files they point to; and no run leaves a working file behind."""
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
        guest.run("rm -f /root/rehearse-canary-? " + " ".join(n.format(user=user) for n in OLD_NAMES), timeout=30)
        guest.run("userdel -r x2 2>/dev/null; true", timeout=60)


def test_a_lost_network_fails_the_step_saying_so_and_the_next_run_completes(rehearsed, tmp_path):
    """On a new guest without caches (so apt and pip must fetch), the network is cut (podman's own
    `network disconnect`, the host's untouched) as step 3's `apt-get install` starts, then in a second run as
    5.1's `pip install` starts: each fails at that step with the tool's own line and says the network was
    unreachable; reconnected, the third run completes."""
    if not isinstance(rehearsed.driver, PodmanDriver):
        pytest.skip("the network is cut with podman's own commands")  # a VM's would need the provider's
    spec = replace(rehearsed.platform.guest, name=f"{rehearsed.platform.name}-offline")
    driver = PodmanDriver(spec, tmp_path, caches=False)
    network = ["podman", "network"]

    def rehearsal(cut_at: str | None) -> Report:
        cut: list[str] = []

        def watch(command: str, peek: object) -> None:
            if cut_at is not None and cut_at in command and not cut:
                subprocess.run([*network, "disconnect", "podman", driver.container], check=True, capture_output=True)
                cut.append(command)

        ctx = Context(Guest(driver.host_spec(), tmp_path / "rehearsal.log"), rehearsed.params,
                      http_url=driver.http_url(), screenshot=tmp_path / "page.png", watch=watch)  # fmt: skip
        report = rehearse(ctx, rehearsed.platform, Mode.ADAPTED, target="podman", report_path=tmp_path / "r.json")
        if cut:
            subprocess.run([*network, "connect", "podman", driver.container], check=True, capture_output=True)
        return report

    try:
        driver.up()
        for step, cut_at, said in (
            ("3", "apt-get install", "E: Failed to fetch "),
            ("5.1", "pip install", "ERROR: Could not find a version that satisfies the requirement"),
        ):
            failed = rehearsal(cut_at).failed_step
            assert failed is not None and failed.id == step, failed
            assert said in failed.error and failed.error.endswith("; the guest's network was unreachable")
        again = rehearsal(None)
        assert again.status == Outcome.PASSED, again.failed_step and again.failed_step.error
    finally:
        subprocess.run([*network, "connect", "podman", driver.container], capture_output=True, check=False)
        driver.destroy()


def test_purge_refuses_an_image_another_checkouts_guest_uses(rehearsed, monkeypatch, capsys):
    """`destroy --purge` in a second checkout of the same platform: `podman rmi --force` would remove the
    first checkout's running guest with the image. Refused, and nothing removed."""
    if not isinstance(rehearsed.driver, PodmanDriver):
        pytest.skip("images are the podman driver's")  # a Vagrant box is not purged by rehearse
    own, image = rehearsed.driver.container, rehearsed.driver.image
    monkeypatch.setattr(podman, "checkout_id", lambda: "another")
    args = ["--target", "podman", "--platform", rehearsed.platform.name, "--workdir", str(rehearsed.out.parent)]
    assert cli.main(["destroy", "--purge", *args]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    said, _, why = line.partition(": `rehearse destroy`")
    assert said.startswith(f"rehearse: error: the image {image.tag} is still used by ")
    assert own in said.rpartition(" is still used by ")[2].split(", ")  # other checkouts' guests may be listed too
    assert why == " in the checkout each belongs to first; nothing was removed"
    monkeypatch.undo()
    assert image.exists() and rehearsed.driver.status() == "running"
