"""The servers the reader starts and the service they deploy, on a real guest: a page counts only as
the reader would see it (at the server's IP, from the process the step started), and an edited app
reaches the running service."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from provision import cli
from provision.guests.transport import Guest
from provision.layout import APP
from provision.platforms import Mode
from provision.platforms.base import Deviation
from provision.rehearsal.claims import Context
from provision.rehearsal.runner import StepFailed, apply_step, rehearse
from provision.reports.record import Report, Status, StepResult
from provision.tutorial.params import PAGE, Params
from provision.tutorial.steps import Serve, tutorial_step

pytestmark = pytest.mark.guest


def context(rehearsed, tmp_path: Path, params: Params | None = None) -> Context:
    guest = Guest(rehearsed.driver.host_spec(), tmp_path / "rehearsal.log")
    return Context(guest, params or rehearsed.params, serve_wait=3.0)


def test_a_server_on_loopback_only_fails_the_readers_look(rehearsed, tmp_path):
    """The tutorial binds 0.0.0.0 so the reader's browser reaches it: bound to 127.0.0.1, the same app
    must fail the checkpoint."""
    loopback = "python -c 'from myproject import application; application.run(host=\"127.0.0.1\")'"
    step = replace(tutorial_step("5.2"), run=(Serve(loopback, 5000),))
    result = StepResult(step.id, step.title)
    with pytest.raises(StepFailed) as failed:
        apply_step(context(rehearsed, tmp_path), step, result)
    assert str(failed.value).startswith("claim 'page-on-5000' failed: exit 1")
    assert "Connection refused" in str(failed.value)
    # the server did run, on loopback: its own log says so, and it was stopped with CTRL-C after
    assert "Running on http://127.0.0.1:5000" in (tmp_path / "rehearsal.log").read_text()
    assert (
        Guest(rehearsed.driver.host_spec(), tmp_path / "x.log").run("ss -ltn 'sport = :5000' | tail -n +2").output == ""
    )


def test_a_listener_already_on_the_port_fails_the_step_before_it_starts(rehearsed, tmp_path):
    ctx = context(rehearsed, tmp_path)
    squatter = ctx.guest.run("setsid nohup python3 -m http.server 5000 >/dev/null 2>&1 & echo $!", timeout=10)
    pid = squatter.output.split()[-1]
    try:
        ctx.guest.run("for i in $(seq 50); do ss -ltn 'sport = :5000' | grep -q LISTEN && break; sleep 0.1; done")
        step = tutorial_step("5.2")
        result = StepResult(step.id, step.title)
        with pytest.raises(StepFailed) as failed:
            apply_step(ctx, step, result)
    finally:
        ctx.guest.run(f"kill {pid}", timeout=10)
    assert str(failed.value).startswith("port 5000 is taken before `python myproject.py` started: LISTEN")
    assert '"python3"' in str(failed.value)  # who holds it
    assert [c.command for c in result.commands] == ["ss -ltnp 'sport = :5000' | tail -n +2"]  # the app never ran


def test_an_edited_app_reaches_the_running_service(rehearsed, tmp_path):
    """A copy of app/ whose page differs: the rehearsal writes it and restarts the service, so nginx
    serves the new page (the tutorial's claim then fails, with the new page as what it got). The
    foreground checkpoints are left out, so the run reaches the service."""
    app = shutil.copytree(APP, tmp_path / "app")
    edited = PAGE.replace("Hello There!", "Hello, edited!")
    (app / "myproject.py").write_text((APP / "myproject.py").read_text().replace(PAGE, edited))
    quiet = tuple(Deviation(i, "no foreground checkpoint", {"run": ()}) for i in ("5.2", "6.1"))
    variant = replace(rehearsed.platform, deviations=(*rehearsed.platform.deviations, *quiet))
    ctx = context(rehearsed, tmp_path, replace(rehearsed.params, app=app))
    report = rehearse(ctx, variant, Mode.ADAPTED, target=rehearsed.driver.target, report_path=tmp_path / "r.json")
    steps = {s.id: s for s in report.steps}
    assert steps["5.2"].files == [f"{rehearsed.params.project}/myproject.py"]
    # the service was restarted by its handler (the unit itself was already in place)
    assert steps["7"].status == Status.CHANGED
    assert [c.command for c in steps["7"].commands][-1].endswith("restart myproject")
    failed = report.failed_step
    assert failed is not None and failed.id == "8.4"
    [claim] = [c for c in failed.claims if not c.passed]
    assert claim.id == "nginx-port-80" and f"+{edited}" in claim.diff.splitlines()

    # and back: the tutorial's own app, restarted again, serves the tutorial's page
    target, platform = rehearsed.driver.target, rehearsed.platform.name
    workdir = tmp_path / "state"
    assert cli.main(["apply", "--target", target, "--platform", platform, "--workdir", str(workdir)]) == 0
    back = Report.load(cli.state_dir(workdir, target, platform) / "report.json")
    assert {s.id: s.status for s in back.steps}["7"] == Status.CHANGED
    assert all(c.passed for c in back.claims)
