"""`rehearse plan`: what a rehearsal would do, touching nothing: host-free against a scripted guest,
then on a real fresh guest and on the rehearsed one."""

import io
import shutil

import pytest
from fake_guest import FakeGuest
from rich.console import Console

from provision import cli
from provision.guests.transport import Guest
from provision.layout import APP
from provision.platforms import PLATFORMS, Mode
from provision.rehearsal.claims import Context
from provision.rehearsal.dryrun import Preview, dry_run, show_plan
from provision.tutorial.params import Params

BOOKWORM = PLATFORMS["bookworm"]
PARAMS = Params()
# every file the adapted plan writes, as the guest path and the content it would get
FILES = {PARAMS.expand(f.path): PARAMS.artifact(f.artifact) for p in BOOKWORM.plan(Mode.ADAPTED) for f in p.step.files}


def rehearsed_fake(**edits: str) -> FakeGuest:
    """A guest where every probe holds and every file is current, but for `edits` (path -> content)."""
    contents = {**FILES, **edits}
    return FakeGuest({f"cat {path}": (0, content) for path, content in contents.items()})


def by_id(previews: list[Preview]) -> dict[str, Preview]:
    return {p.id: p for p in previews}


def test_a_rehearsed_guest_would_change_nothing() -> None:
    guest = rehearsed_fake()
    previews = dry_run(Context(guest, PARAMS), BOOKWORM, Mode.ADAPTED)
    assert [p.id for p in previews if p.changes] == []
    assert {p.id: p.action for p in previews if p.action != "in place"} == {
        "4.4": "check", "5.2": "check", "6.1": "check", "8.3": "check",
    }  # fmt: skip
    assert guest.writes == []


def test_an_edited_app_would_be_written_and_restart_the_service() -> None:
    path = f"{PARAMS.project}/myproject.py"
    guest = rehearsed_fake(**{path: FILES[path].replace("Hello There!", "Hello, plan!")})
    previews = by_id(dry_run(Context(guest, PARAMS), BOOKWORM, Mode.ADAPTED))
    assert [i for i, p in previews.items() if p.changes] == ["5.2", "7"]
    assert previews["5.2"].diffs == [
        f'--- {path}\n+++ {path}\n@@ -3,7 +3,7 @@\n \n @application.route("/")\n def hello():\n'
        "-    return \"<h1 style='color:blue'>Hello, plan!</h1>\"\n"
        '+    return "<h1 style=\'color:blue\'>Hello There!</h1>"\n \n if __name__ == "__main__":\n'
        "     application.run(host='0.0.0.0')"
    ]
    assert (previews["7"].action, previews["7"].commands) == (
        "handler", ["sudo systemctl daemon-reload", "sudo systemctl restart myproject"],
    )  # fmt: skip
    assert guest.writes == []
    # nothing but reads reached the guest: each file's content, and the steps' probes
    probes = {PARAMS.expand(p.step.probe) for p in BOOKWORM.plan(Mode.ADAPTED) if p.step.probe is not None}
    assert {c for c in guest.commands if not c.startswith("cat ")} <= probes


def test_a_fresh_guest_would_run_every_step_and_create_every_file() -> None:
    guest = FakeGuest({"": (1, "sudo: unknown user deploy")})  # every probe and every read fails
    previews = by_id(dry_run(Context(guest, PARAMS), BOOKWORM, Mode.ADAPTED))
    with_probe = {p.step.id for p in BOOKWORM.plan(Mode.ADAPTED) if p.step.probe is not None}
    assert {i for i, p in previews.items() if p.action == "run"} == with_probe
    assert previews["3"].commands == [
        "sudo apt-get update", "sudo apt-get install python3-pip python3-dev nginx build-essential",
    ]  # fmt: skip
    assert previews["8.1"].action == "write"
    assert previews["8.1"].diffs[0].startswith("--- /dev/null\n+++ /etc/nginx/sites-available/myproject\n")


def test_audit_and_literal_say_how_they_would_run() -> None:
    audit = by_id(dry_run(Context(rehearsed_fake(), PARAMS), BOOKWORM, Mode.AUDIT))
    assert audit["3"].action == "try as written, then in place"
    literal = by_id(dry_run(Context(rehearsed_fake(), PARAMS), BOOKWORM, Mode.LITERAL))
    assert literal["3"].commands == ["sudo apt-get update", "sudo apt-get install python-pip python-dev nginx"]
    assert literal["3"].action == "run"  # literal never skips by probe


def test_show_plan_prints_a_line_per_step_then_the_count() -> None:
    path = f"{PARAMS.project}/myproject.py"
    guest = rehearsed_fake(**{path: "old\n"})
    out = io.StringIO()
    show_plan(dry_run(Context(guest, PARAMS), BOOKWORM, Mode.ADAPTED), Console(file=out, width=100, color_system=None))
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["in", "place", "2", "A", "non-root", "user", "with", "sudo"]
    assert "             $ sudo systemctl restart myproject" in lines
    assert "-old" in lines
    assert lines[-1] == "plan: 2 of 16 steps would act: 5.2, 7"


# --- on real guests ------------------------------------------------------------------------------

# What a plan must leave as it was: the files, the service's process, nginx's.
UNTOUCHED = (
    "sha256sum /etc/passwd /etc/nginx/sites-*/* /etc/systemd/system/*.service 2>&1; "
    "find /home -type f -newer /etc/hostname 2>/dev/null | xargs -r sha256sum; "
    "systemctl show -p MainPID --value myproject nginx"
)

# The whole guest as a plan could change it: every file's path, size, time, mode and owner outside the
# kernel's and the runtime's own trees and the scratch and log directories, and the running commands.
SNAPSHOT = (
    "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp "
    "-o -path /var/log \\) -prune -o -printf '%p %s %T@ %m %u:%g\\n' | sort | sha256sum; "
    "ps -eo comm= | grep -vx -e ps -e sort -e sha256sum -e bash -e sh -e sudo -e timeout -e grep -e uniq -e find "
    "| sort | uniq -c"
)


@pytest.mark.guest
def test_plan_on_the_rehearsed_guest(rehearsed, tmp_path, capsys):
    guest = Guest(rehearsed.driver.host_spec(), tmp_path / "check.log")
    before = guest.run(UNTOUCHED).output
    app = shutil.copytree(APP, tmp_path / "app")
    (app / "myproject.py").write_text((APP / "myproject.py").read_text().replace("Hello There!", "Hello, plan!"))
    target, platform = rehearsed.driver.target, rehearsed.platform.name
    base = ["plan", "--target", target, "--platform", platform, "--workdir", str(tmp_path)]
    assert cli.main(base) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "plan: 0 of 16 steps would act"
    assert cli.main([*base, "--app", str(app)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "plan: 2 of 16 steps would act: 5.2, 7"
    assert "+    return \"<h1 style='color:blue'>Hello, plan!</h1>\"" in out
    assert guest.run(UNTOUCHED).output == before


@pytest.mark.guest
def test_plan_on_a_fresh_guest_touches_nothing(rehearsed, fresh_guest):
    guest = Guest(fresh_guest.host_spec(), fresh_guest.workdir / "fresh.log")
    before = guest.run(SNAPSHOT, timeout=60).output
    previews = by_id(dry_run(Context(guest, rehearsed.params), rehearsed.platform, Mode.ADAPTED))
    assert guest.run(SNAPSHOT, timeout=60).output == before  # not a file, a mode, an owner, a process more
    still_fresh = guest.run("id deploy; ls /home; ls /etc/nginx 2>&1", timeout=30).output
    with_probe = {p.step.id for p in rehearsed.platform.plan(Mode.ADAPTED) if p.step.probe is not None}
    assert {i for i, p in previews.items() if p.action == "run"} == with_probe
    assert all(d.startswith("--- /dev/null") for p in previews.values() for d in p.diffs)
    assert sum(len(p.diffs) for p in previews.values()) == len(FILES)
    assert "no such user" in still_fresh and "No such file or directory" in still_fresh  # no user, no nginx
