"""The rehearsal runner's logic against a fake guest, no host needed (pyinfra's operation fixtures in
spirit): given what the guest answers (probe exits, command outputs, which files are already current),
the step's status, the commands that reached the guest in order, and the verdicts recorded."""

import json
import time
import types
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import pytest
from fake_guest import Answer, Call, FakeGuest
from playwright.sync_api import Error as PlaywrightError

from provision.guests.transport import Result
from provision.platforms import PLATFORMS, Mode
from provision.platforms.base import PlannedStep
from provision.rehearsal import runner
from provision.rehearsal.browser import ChromiumMissing, Seen
from provision.rehearsal.claims import Context, check_in_browser, check_in_guest
from provision.rehearsal.runner import StepFailed, apply_step, literal_works, rehearse, serve
from provision.reports.record import ClaimResult, CommandResult, Outcome, Report, Status, StepResult
from provision.tutorial.params import PAGE, Params
from provision.tutorial.steps import BROWSER_CLAIM, Claim, File, OnChange, Serve, Step, tutorial_step


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The runner's sleeps, recorded instead of slept; a runaway poll fails instead of spinning."""
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        assert len(slept) < 10, "the runner keeps polling"

    monkeypatch.setattr(runner, "time", types.SimpleNamespace(monotonic=time.monotonic, sleep=sleep))
    yield slept


def context(guest: FakeGuest, params: Params | None = None) -> Context:
    return Context(guest, params or Params())


# --- apply_step: facts first, then only what is needed ----------------------------------------------

PROBE = "test -f /srv/done"
FILE = "/home/deploy/demo/wsgi.py"  # File("~/demo/wsgi.py") for the reader `deploy`
DONE = Claim("done", "the marker says yes", "cat /srv/done", expect="yes\n")
DEMO = Step(
    "9.1", "A demo step", run=("make ${user}", "make install"), files=(File("~/demo/wsgi.py", "wsgi.py"),), probe=PROBE
)
LINES = ["make deploy", "make install"]  # DEMO's lines as the guest receives them


@pytest.mark.parametrize(
    ("step", "answers", "current", "status", "ran", "files"),
    [
        pytest.param(DEMO, {}, {FILE}, Status.UNCHANGED, [PROBE], [], id="probe-holds-nothing-runs"),
        pytest.param(
            DEMO, {PROBE: [(1, ""), (0, "")]}, {FILE}, Status.CHANGED, [PROBE, *LINES, PROBE], [], id="probe-fails-runs"
        ),
        pytest.param(DEMO, {}, set(), Status.CHANGED, [*LINES, PROBE], [FILE], id="file-differs-runs-despite-probe"),
        pytest.param(replace(DEMO, probe=None), {}, {FILE}, Status.UNCHANGED, LINES, [], id="no-probe-always-runs"),
        pytest.param(replace(DEMO, probe=None), {}, set(), Status.CHANGED, LINES, [FILE], id="no-probe-file-differs"),
        pytest.param(
            replace(DEMO, claims=(DONE,)),
            {"cat /srv/done": (0, "yes\n")},
            {FILE},
            Status.UNCHANGED,
            [PROBE, "cat /srv/done"],
            [],
            id="claims-checked-when-in-place",
        ),
    ],
)
def test_apply_step(
    step: Step,
    answers: dict[str, Answer | list[Answer]],
    current: set[str],
    status: Status,
    ran: list[str],
    files: list[str],
) -> None:
    guest = FakeGuest(answers, current)
    result = StepResult(step.id, step.title)
    apply_step(context(guest), step, result)
    assert result.status == status
    assert guest.commands == ran
    assert result.files == files == [w.path for w in guest.writes]
    # Only the step's lines are recorded, with their exit and output; probes and claims are not commands.
    assert [c.command for c in result.commands] == [c for c in ran if c in LINES]
    assert all(c.passed for c in result.claims) and len(result.claims) == len(step.claims)


RESTART = "make restart"
SERVED = replace(DEMO, on_change=OnChange(("~/demo/app.py",), (RESTART,)))  # a service that reads app.py
APP_PY = "/home/deploy/demo/app.py"


@pytest.mark.parametrize(
    ("skip_in_place", "answers", "current", "written", "status", "ran"),
    [
        pytest.param(True, {}, {FILE}, set(), Status.UNCHANGED, [PROBE], id="in-place-nothing-edited"),
        pytest.param(True, {}, {FILE}, {APP_PY}, Status.CHANGED, [PROBE, RESTART], id="in-place-upstream-edited"),
        pytest.param(True, {}, set(), set(), Status.CHANGED, [PROBE, RESTART], id="in-place-own-file-edited"),
        pytest.param(True, {}, {FILE}, {"/home/deploy/other"}, Status.UNCHANGED, [PROBE], id="unrelated-file-edited"),
        pytest.param(
            True, {PROBE: [(1, ""), (0, "")]}, {FILE}, {APP_PY}, Status.CHANGED, [PROBE, *LINES, PROBE],
            id="not-running-starts-instead",
        ),
        pytest.param(False, {}, {FILE}, {APP_PY}, Status.CHANGED, [*LINES, PROBE], id="literal-runs-its-commands"),
    ],
)  # fmt: skip
def test_on_change_handler_restarts_a_service_in_place(
    skip_in_place: bool,
    answers: dict[str, Answer | list[Answer]],
    current: set[str],
    written: set[str],
    status: Status,
    ran: list[str],
) -> None:
    guest = FakeGuest(answers, current)
    result = StepResult(SERVED.id, SERVED.title)
    apply_step(context(guest), SERVED, result, skip_in_place=skip_in_place, written=written)
    assert (result.status, guest.commands) == (status, ran)


@pytest.mark.parametrize(
    ("step", "answers", "error", "ran"),
    [
        pytest.param(
            DEMO,
            {PROBE: (1, "")},
            f"its commands succeeded but its effect is absent (probe: {PROBE})",
            [PROBE, *LINES, PROBE],
            id="effect-absent",
        ),
        pytest.param(
            DEMO,
            {PROBE: (1, ""), "make deploy": (2, "make: *** No rule to make target 'deploy'.\n")},
            "`make deploy` exited 2: make: *** No rule to make target 'deploy'.",
            [PROBE, "make deploy"],
            id="line-fails-later-lines-not-run",
        ),
        pytest.param(
            DEMO,
            {
                PROBE: (1, ""),
                "make deploy": (
                    100,
                    "Err:1 http://deb.debian.org/debian bookworm/main amd64 nginx\n"
                    "  Temporary failure resolving 'deb.debian.org'\n"
                    "E: Failed to fetch http://deb.debian.org/debian/pool/nginx_1.22.deb "
                    "Temporary failure resolving 'deb.debian.org'\n",
                ),
            },
            "`make deploy` exited 100: E: Failed to fetch http://deb.debian.org/debian/pool/nginx_1.22.deb "
            "Temporary failure resolving 'deb.debian.org'; the guest's network was unreachable",
            [PROBE, "make deploy"],
            id="a-lost-network-is-named-as-the-cause",
        ),
        pytest.param(
            replace(DEMO, claims=(DONE,)),
            {"cat /srv/done": (0, "no\n")},
            "claim 'done' failed: exit 0, got 'no', expected 'yes\\n'",
            [PROBE, "cat /srv/done"],
            id="claim-fails-though-in-place",
        ),
        pytest.param(
            replace(DEMO, claims=(DONE,)),
            {PROBE: (1, ""), "cat /srv/done": (0, "no\n")},
            "claim 'done' failed: exit 0, got 'no', expected 'yes\\n'",
            [PROBE, *LINES, PROBE, "cat /srv/done"],
            id="failing-claim-explains-before-absent-effect",
        ),
    ],
)
def test_apply_step_fails(step: Step, answers: dict[str, Answer | list[Answer]], error: str, ran: list[str]) -> None:
    guest = FakeGuest(answers, current={FILE})
    result = StepResult(step.id, step.title)
    with pytest.raises(StepFailed) as failed:
        apply_step(context(guest), step, result)
    assert str(failed.value) == error
    assert guest.commands == ran
    assert result.status == Status.NOT_REACHED  # the runner, not apply_step, records the failure


def test_failing_line_is_recorded_with_its_exit_and_output() -> None:
    guest = FakeGuest({PROBE: (1, ""), "make install": (2, "compiling\nError 2\n")}, current={FILE})
    result = StepResult(DEMO.id, DEMO.title)
    with pytest.raises(StepFailed, match="`make install` exited 2"):
        apply_step(context(guest), DEMO, result)
    assert result.commands == [
        CommandResult("make deploy", 0, 0.0, ""),
        CommandResult("make install", 2, 0.0, "compiling\nError 2", ["Error 2"]),
    ]


def test_unwritable_file_stops_the_step_before_any_command() -> None:
    guest = FakeGuest(unwritable={FILE})
    with pytest.raises(OSError, match=f"writing {FILE} failed"):
        apply_step(context(guest), DEMO, StepResult(DEMO.id, DEMO.title))
    assert guest.calls == []


@pytest.mark.parametrize(
    ("step_id", "user", "prelude"),
    [
        ("2", None, "cd ~ && cd ~"),  # the prerequisite creates the reader: root
        ("4.3", "alice", "cd ~ && cd ~/myproject"),
        ("5.1", "alice", "cd ~ && cd ~/myproject && source myprojectenv/bin/activate"),
        ("4.4", "alice", "cd ~ && cd ~/myproject"),  # its claim too runs as the reader, in the step's shell
    ],
)
def test_lines_run_as_the_reader_in_the_steps_shell(step_id: str, user: str | None, prelude: str) -> None:
    step = tutorial_step(step_id)
    params = Params(user="alice")
    probe = {params.expand(step.probe): [(1, ""), (0, "")]} if step.probe else {}
    venv = {"$VIRTUAL_ENV": (0, "/home/alice/myproject/myprojectenv\n")}
    guest = FakeGuest({**probe, **venv})
    result = StepResult(step.id, step.title)
    apply_step(context(guest, params), step, result)
    assert len(guest.calls) == len(step.run) + len(step.claims) + (2 if step.probe else 0)
    assert {(c.user, c.prelude) for c in guest.calls} == {(user, prelude)}
    assert result.status == (Status.CHANGED if step.probe else Status.UNCHANGED)


def test_placeholders_are_filled_before_reaching_the_guest() -> None:
    guest = FakeGuest({"sudo -n true": [(1, ""), (0, "")]})
    apply_step(context(guest, Params(user="alice")), tutorial_step("2"), StepResult("2", ""))
    assert not any("${" in c for c in guest.commands)
    assert guest.commands[1] == "id -u alice >/dev/null 2>&1 || useradd --create-home --shell /bin/bash alice"
    assert "echo 'alice ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/alice" in guest.commands
    assert guest.commands[0] == guest.commands[-1] and guest.commands[0].startswith("sudo -u alice sudo -n true")


BOOKWORM = PLATFORMS["bookworm"]


def planned(step_id: str, platform: str = "bookworm", mode: Mode = Mode.ADAPTED) -> PlannedStep:
    return next(p for p in PLATFORMS[platform].plan(mode) if p.step.id == step_id)


@pytest.mark.parametrize(
    ("step", "path", "sudo", "filled"),
    [
        (tutorial_step("5.3"), "/home/alice/myproject/wsgi.py", False, "application"),
        (planned("7").step, "/etc/systemd/system/myproject.service", True, "User=alice"),
        (planned("7", "trusty").step, "/etc/init/myproject.conf", True, "setuid alice"),
        (tutorial_step("8.1"), "/etc/nginx/sites-available/myproject", True, "unix:/home/alice/myproject/"),
    ],
)
def test_files_are_written_as_the_reader_with_placeholders_filled(
    step: Step, path: str, sudo: bool, filled: str
) -> None:
    guest = FakeGuest({"stat -c": (0, "socket alice www-data 660\n"), "is-enabled myproject": (0, "enabled\n")})
    result = StepResult(step.id, step.title)
    apply_step(context(guest, Params(user="alice")), step, result)
    [write] = guest.writes
    assert (write.path, write.user, write.sudo) == (path, "alice", sudo)
    assert filled in write.content and "${" not in write.content
    assert result.files == [path] and result.status == Status.CHANGED


# --- claims -----------------------------------------------------------------------------------------

REFUSED = (
    'Traceback (most recent call last):\n  File "<string>", line 3, in <module>\n'
    "ConnectionRefusedError: [Errno 111] Connection refused\n\nDuring handling of the above exception:\n"
    "urllib.error.URLError: <urlopen error [Errno 111] Connection refused>\n"
)
ENABLED = Claim("enabled", "the service is enabled", "systemctl is-enabled myproject", expect="enabled\n")
RUNS = Claim("runs", "the service runs", "systemctl is-active myproject")
SOCKET = tutorial_step("7").claims[0]


@pytest.mark.parametrize(
    ("claim", "answer", "passed", "detail"),
    [
        (ENABLED, (0, "enabled\n"), True, ""),
        (ENABLED, (0, "disabled\n"), False, "exit 0, got 'disabled', expected 'enabled\\n'"),
        (ENABLED, (1, "enabled\n"), False, "exit 1, got 'enabled', expected 'enabled\\n'"),
        (ENABLED, (0, "enabled"), False, "exit 0, got 'enabled', expected 'enabled\\n'"),  # exact output
        (RUNS, (0, "anything\n"), True, ""),
        (RUNS, (3, "inactive\n"), False, "exit 3, got 'inactive'"),
        (SOCKET, (0, "socket alice www-data 660\n"), True, ""),  # expect's ${user} is the reader
        (SOCKET, (0, "socket deploy www-data 660\n"), False, "expected 'socket alice www-data 660\\n'"),
        # a failed probe shows the line that says why: a traceback's exception, not its first lines
        (
            RUNS,
            (1, REFUSED),
            False,
            "exit 1, got 'ConnectionRefusedError: [Errno 111] Connection refused'",
        ),
    ],
)
def test_check_in_guest(claim: Claim, answer: Answer, passed: bool, detail: str) -> None:
    guest = FakeGuest({claim.probe: answer})
    got = check_in_guest(context(guest, Params(user="alice")), claim, tutorial_step("5.1"))
    assert (got.id, got.passed) == (claim.id, passed)
    assert detail in got.detail if detail else got.detail == ""
    assert guest.calls == [Call(claim.probe, "alice", "cd ~ && cd ~/myproject && source myprojectenv/bin/activate")]


def test_check_in_guest_cuts_long_output() -> None:
    got = check_in_guest(context(FakeGuest({ENABLED.probe: (1, "x" * 1000)})), ENABLED, DEMO)
    assert not got.passed and "x" * 300 in got.detail and "x" * 301 not in got.detail


BLUE, RED = "rgb(0, 0, 255)", "rgb(255, 0, 0)"
HEADING = BROWSER_CLAIM.heading
NO_CHROMIUM = "chromium not found on PATH: install the Debian package `chromium`"


@pytest.mark.parametrize(
    ("seen", "passed", "detail"),
    [
        ((200, HEADING, BLUE), True, f"HTTP 200, heading {HEADING!r} in {BLUE}"),
        ((200, HEADING, RED), False, f"HTTP 200, heading {HEADING!r} in {RED}"),
        ((200, "Welcome to nginx!", "rgb(0, 0, 0)"), False, "HTTP 200, heading 'Welcome to nginx!' in rgb(0, 0, 0)"),
        ((502, "", ""), False, "HTTP 502, heading '' in "),
        (
            ChromiumMissing(NO_CHROMIUM),
            False,
            NO_CHROMIUM,
        ),
        (
            PlaywrightError("Page.goto: net::ERR_CONNECTION_REFUSED\nCall log:\n  - navigating"),
            False,
            "Page.goto: net::ERR_CONNECTION_REFUSED",
        ),
    ],
)
def test_check_in_browser(tmp_path: Path, seen: tuple[int, str, str] | Exception, passed: bool, detail: str) -> None:
    looked: list[tuple[str, Path, tuple[str, str]]] = []

    def look(url: str, screenshot: Path, resolve: tuple[str, str]) -> Seen:
        looked.append((url, screenshot, resolve))
        if isinstance(seen, Exception):
            raise seen
        status, heading, color = seen
        return Seen(heading, color, screenshot, status)

    params = Params(server_name="example.test")
    ctx = Context(FakeGuest(), params, "http://127.0.0.1:8080/", tmp_path / "page.png", look)
    got = check_in_browser(ctx, BROWSER_CLAIM)
    assert got == ClaimResult(BROWSER_CLAIM.id, BROWSER_CLAIM.text, passed, detail)
    # the server name, on the port forwarded to the guest's 80, resolved to loopback
    assert looked == [("http://example.test:8080/", tmp_path / "page.png", ("example.test", "127.0.0.1"))]


@pytest.mark.parametrize(("http_url", "screenshot"), [("", Path("page.png")), ("http://127.0.0.1:8080/", None)])
def test_check_in_browser_without_an_address_fails_without_looking(http_url: str, screenshot: Path | None) -> None:
    def look(url: str, screenshot: Path, resolve: tuple[str, str]) -> Seen:
        raise AssertionError("nothing to open")

    got = check_in_browser(Context(FakeGuest(), Params(), http_url, screenshot, look), BROWSER_CLAIM)
    assert not got.passed and got.detail == "no address of the guest's port 80 to open"


# --- serve: start in the foreground, look, CTRL-C ---------------------------------------------------

SERVE_STEP = tutorial_step("5.2")
FREE = "ss -ltnp 'sport = :5000'"  # what listens on the port before the server starts
START = "set -m; nohup python myproject.py >/fake/work-deploy/serve-5000.log 2>&1 </dev/null & echo $!"
ALIVE = "kill -0 4242"
STOP = "kill -INT 4242;"
LOOK = '"http://$addr:5000/"'  # in the page claim's probe: the guest's own non-loopback address
TAIL = "tail -n 20 /fake/work-deploy/serve-5000.log"  # in this run's private working directory
STALE = "tail -n 20 /tmp/rehearse-serve-5000.log"  # where runs before 2026-12 read the log: anyone's file


@pytest.mark.parametrize(
    ("answers", "error", "ran", "naps"),
    [
        pytest.param({}, None, [FREE, START, ALIVE, LOOK, STOP], 0, id="answers-at-once"),
        pytest.param(
            {LOOK: [(1, "refused"), (1, "refused"), (0, PAGE)]},
            None,
            [FREE, START, ALIVE, LOOK, ALIVE, LOOK, ALIVE, LOOK, STOP],
            2,
            id="answers-on-third-look",
        ),
        pytest.param(
            {FREE: (0, 'LISTEN 0 5 0.0.0.0:5000 0.0.0.0:* users:(("python3",pid=77,fd=3))\n')},
            "port 5000 is taken before `python myproject.py` started: LISTEN 0 5 0.0.0.0:5000 0.0.0.0:* "
            'users:(("python3",pid=77,fd=3))',
            [FREE],
            0,
            id="port-taken-before",
        ),
        pytest.param(
            {START: (127, "nohup: failed to run command 'python'\n")},
            "`python myproject.py` did not start (exit 127)",
            [FREE, START],
            0,
            id="does-not-start",
        ),
        pytest.param(
            {ALIVE: (1, ""), LOOK: (1, "refused"), TAIL: (0, "Traceback\nImportError: no flask\n")},
            "`python myproject.py` exited before its page answered; server log: ImportError: no flask",
            [FREE, START, ALIVE, LOOK, STOP, TAIL],
            0,
            id="dies-before-answering",
        ),
        pytest.param(
            {ALIVE: (1, ""), LOOK: (1, "refused"), STALE: (0, '"GET / HTTP/1.1" 200 -\nTraceback\nE: old')},
            "`python myproject.py` exited before its page answered",
            [FREE, START, ALIVE, LOOK, STOP, TAIL],
            0,
            id="a-stale-log-at-the-old-name-is-never-quoted",
        ),
        pytest.param(
            {LOOK: (0, "<h1>other</h1>")},
            "claim 'page-on-5000' failed: exit 0, got '<h1>other</h1>', expected \"<h1 style='color:blue'>Hello "
            'There!</h1>"',
            [FREE, START, ALIVE, LOOK, STOP, TAIL],
            0,
            id="other-page-is-an-answer-no-retry",
        ),
        pytest.param(
            {STOP: (1, "did not stop on CTRL-C\n")},
            "`python myproject.py` did not stop on CTRL-C",
            [FREE, START, ALIVE, LOOK, STOP],
            0,
            id="ignores-ctrl-c",
        ),
    ],
)
def test_serve(
    sleeps: list[float], answers: dict[str, Answer | list[Answer]], error: str | None, ran: list[str], naps: int
) -> None:
    guest = FakeGuest({START: (0, "Last login: today\n4242\n"), LOOK: (0, PAGE), FREE: (0, ""), **answers})
    result = StepResult(SERVE_STEP.id, SERVE_STEP.title)
    [item] = SERVE_STEP.run
    assert isinstance(item, Serve)
    if error is None:
        serve(context(guest), item, SERVE_STEP, result)
    else:
        with pytest.raises(StepFailed) as failed:
            serve(context(guest), item, SERVE_STEP, result)
        assert str(failed.value) == error
    assert len(guest.calls) == len(ran), guest.commands
    assert all(want in call.command for want, call in zip(ran, guest.calls, strict=True))
    # the port check reads every process's sockets, as root; the reader runs and stops the server
    assert {c.user for c in guest.calls if FREE not in c.command} <= {"deploy"}
    assert sleeps == [runner.SERVE_POLL] * naps
    assert len(result.claims) == (1 if LOOK in ran else 0)


def test_serve_gives_up_at_the_deadline_and_quotes_the_server_log() -> None:
    guest = FakeGuest({START: (0, "4242\n"), LOOK: (1, "Connection refused"), TAIL: (0, "OSError: Address in use\n")})
    result = StepResult(SERVE_STEP.id, SERVE_STEP.title)
    with pytest.raises(StepFailed) as failed:  # the deadline has passed at the first look
        apply_step(replace(context(guest, Params()), serve_wait=-1.0), SERVE_STEP, result)
    assert str(failed.value).startswith("claim 'page-on-5000' failed: exit 1, got 'Connection refused'")
    assert str(failed.value).endswith("; server log: OSError: Address in use")
    # the server is stopped all the same, before its log is read
    assert [c for c in guest.commands if c.startswith(("kill -INT", "tail"))] == [guest.commands[-2], TAIL]
    assert guest.commands[-2].startswith(STOP)
    assert [c.passed for c in result.claims] == [False]


NO_PIP = "E: Package 'python-pip' has no installation candidate"  # Debian 12's apt, asked for Python 2


# --- literal_works (audit): the tutorial's form first, without its probe -----------------------------


@pytest.mark.parametrize(
    ("step_id", "answers", "unwritable", "works", "literal"),
    [
        pytest.param("4.1", {}, (), True, "works", id="works"),
        pytest.param(
            "3",
            {
                "install python-pip": (
                    100,
                    f"Reading package lists...\n{NO_PIP}\n",
                )
            },
            (),
            False,
            f"fails: `sudo apt-get install python-pip python-dev nginx` exited 100: {NO_PIP}",
            id="command-fails-quotes-its-decisive-line",
        ),
        pytest.param(
            "7",
            {"sudo start myproject": (1, "sudo: start: command not found\n")},
            (),
            False,
            "fails: `sudo start myproject` exited 1: sudo: start: command not found",
            id="upstart-missing",
        ),
        pytest.param(
            "7",
            {},
            ("/etc/init/myproject.conf",),
            False,
            "fails: writing /etc/init/myproject.conf failed (exit 1): "
            "tee: /etc/init/myproject.conf: No such file or directory",
            id="file-unwritable",
        ),
    ],
)
def test_literal_works(
    step_id: str, answers: dict[str, Answer], unwritable: tuple[str, ...], works: bool, literal: str
) -> None:
    step = planned(step_id, mode=Mode.AUDIT)
    assert step.try_literal_first
    guest = FakeGuest(answers, unwritable=unwritable)
    result = StepResult(step_id, step.step.title)
    assert literal_works(context(guest), step, result) is works
    assert result.literal == literal
    # As written, never skipped by a probe: the probe only verifies, after the tutorial's commands.
    first_probe = guest.commands.index(step.original.probe) if step.original.probe in guest.commands else None
    assert first_probe is None or first_probe > max(guest.commands.index(c) for c in step.original.run)
    adapted = [line for line in step.step.run if line not in step.original.run]
    assert not any(c in adapted for c in guest.commands)


def test_audit_reverts_what_hides_the_tutorials_verdict_before_trying_it() -> None:
    """trixie's 8.4: an earlier rehearsal left `chmod o+x ~`, which would let the tutorial's form pass
    here; the deviation's revert runs first, then the tutorial's line, never the adapted `chmod o+x`."""
    step = next(p for p in PLATFORMS["trixie"].plan(Mode.AUDIT) if p.step.id == "8.4")
    [deviation] = step.deviations
    guest = FakeGuest()
    result = StepResult(step.step.id, step.step.title)
    literal_works(context(guest), step, result)
    assert (
        guest.commands[:2]
        == ["chmod o-x ~", "sudo service nginx restart"]
        == [
            *deviation.revert,
            *step.original.run,
        ]
    )
    assert "chmod o+x ~" not in guest.commands
    assert [c.command for c in result.commands][:1] == ["chmod o-x ~"]  # the revert is evidence too


def test_literal_that_works_on_a_fresh_guest_is_changed() -> None:
    step = planned("4.1", mode=Mode.AUDIT)
    # The probe is asked only once the tutorial's `sudo pip install virtualenv` has run.
    guest = FakeGuest({"command -v virtualenv": (0, "/usr/bin/virtualenv")})
    result = StepResult(step.step.id, step.step.title)
    assert literal_works(context(guest), step, result)
    assert result.status == Status.CHANGED


# --- rehearse: the whole plan, a report on disk ----------------------------------------------------

# What a rehearsed bookworm guest answers: every probe holds, the page is served, the claims hold.
REHEARSED: dict[str, Answer | list[Answer]] = {
    "$VIRTUAL_ENV": (0, "/home/deploy/myproject/myprojectenv\n"),
    "nohup": (0, "4242\n"),
    "urlopen": (0, PAGE),
    "stat -c": (0, "socket deploy www-data 660\n"),
    "systemctl is-enabled myproject": (0, "enabled\n"),
}
FILES = {Params().expand(f.path) for p in BOOKWORM.plan(Mode.ADAPTED) for f in (*p.step.files, *p.original.files)}


def rehearsal(
    tmp_path: Path, answers: Mapping[str, Answer | list[Answer]] | None = None, mode: Mode = Mode.ADAPTED
) -> tuple[Report, FakeGuest, list[tuple[str, Status, Status]]]:
    """Rehearse bookworm on a fake guest; also returns (step, status, status on disk) at each progress call."""
    guest = FakeGuest({**REHEARSED, **(answers or {})}, current=FILES)
    shot = tmp_path / "page.png"

    def look(url: str, screenshot: Path, resolve: tuple[str, str]) -> Seen:
        screenshot.write_bytes(b"\x89PNG")
        return Seen(HEADING, BLUE, screenshot, 200)

    ctx = Context(guest, Params(), "http://127.0.0.1:8080/", shot, look)
    progress: list[tuple[str, Status, Status]] = []

    def seen(step: StepResult) -> None:
        on_disk = {s["id"]: s["status"] for s in json.loads((tmp_path / "report.json").read_text())["steps"]}
        progress.append((step.id, step.status, Status(on_disk[step.id])))

    report = rehearse(ctx, BOOKWORM, mode, target="fake", report_path=tmp_path / "report.json", progress=seen)
    return report, guest, progress


def test_rehearsed_guest_changes_nothing(tmp_path: Path) -> None:
    report, guest, progress = rehearsal(tmp_path)
    assert report.status == Outcome.PASSED and report.finished
    assert [s.status for s in report.steps] == [Status.UNCHANGED] * len(report.steps)
    # only the steps without a fact to read run their lines: activate, the two servers, nginx -t
    assert [s.id for s in report.steps if s.commands] == ["4.4", "5.2", "6.1", "8.3"]
    assert guest.writes == []
    assert report.claims and all(c.passed for c in report.claims)
    assert report.screenshot == str(tmp_path / "page.png")
    assert Report.load(tmp_path / "report.json") == report
    # each step is announced (RUNNING, on disk too) and then concluded, in order
    assert progress[0::2] == [(s.id, Status.RUNNING, Status.RUNNING) for s in report.steps]
    assert progress[1::2] == [(s.id, Status.UNCHANGED, Status.UNCHANGED) for s in report.steps]
    assert guest.notes[0].endswith("rehearsal of bookworm (adapted) on fake")
    assert guest.notes[1:] == [f"--- step {s.id}: {s.title}" for s in report.steps]


@pytest.mark.parametrize(
    ("mode", "answers", "failed", "error"),
    [
        pytest.param(
            Mode.LITERAL,
            {
                "dpkg-query": (1, ""),
                "install python-pip": (100, NO_PIP),
            },
            "3",
            f"`sudo apt-get install python-pip python-dev nginx` exited 100: {NO_PIP}",
            id="literal-apt",
        ),
        pytest.param(
            Mode.ADAPTED,
            {"command -v virtualenv": (1, ""), "apt-get install virtualenv": (100, "E: Unable to locate package")},
            "4.1",
            "`sudo apt-get install virtualenv` exited 100: E: Unable to locate package",
            id="adapted-command",
        ),
        pytest.param(
            Mode.ADAPTED,
            {"test -d ~/myproject": (1, "")},
            "4.2",
            "its commands succeeded but its effect is absent (probe: test -d ~/myproject)",
            id="effect-absent",
        ),
        pytest.param(
            Mode.ADAPTED,
            {"$VIRTUAL_ENV": (0, "\n")},
            "4.4",
            "claim 'venv-active' failed: exit 0, got '', expected '/home/deploy/myproject/myprojectenv\\n'",
            id="claim",
        ),
        pytest.param(
            Mode.ADAPTED,
            {"nginx -t": (1, "nginx: [emerg] unknown directive")},
            "8.3",
            "`sudo nginx -t` exited 1: nginx: [emerg] unknown directive",
            id="late-step",
        ),
    ],
)
def test_rehearsal_stops_at_the_first_failure(
    tmp_path: Path, mode: Mode, answers: dict[str, Answer], failed: str, error: str
) -> None:
    (tmp_path / "page.png").write_bytes(b"an earlier run's picture")
    report, guest, _ = rehearsal(tmp_path, answers, mode)
    ids = [s.id for s in report.steps]
    at = ids.index(failed)
    assert report.status == Outcome.FAILED and report.failed_step is report.steps[at]
    assert (report.steps[at].status, report.steps[at].error) == (Status.FAILED, error)
    # Adapted and audit skip what is in place; literal runs every step whatever the guest's history.
    before = Status.CHANGED if mode is Mode.LITERAL else Status.UNCHANGED
    assert [s.status for s in report.steps[:at]] == [before] * at
    assert [s.status for s in report.steps[at + 1 :]] == [Status.NOT_REACHED] * (len(ids) - at - 1)
    assert guest.notes[-1] == f"--- step {failed}: {report.steps[at].title}"  # nothing ran after it
    assert not (tmp_path / "page.png").exists() and report.screenshot == ""  # no stale evidence
    on_disk = Report.load(tmp_path / "report.json")
    assert on_disk == report and on_disk.finished


@pytest.mark.parametrize(
    ("answers", "step_id", "literal", "kept", "commands"),
    [
        pytest.param(
            {
                "install python-pip": (100, NO_PIP + "\n"),
                "dpkg-query": [(1, ""), (0, "")],  # the adapted form's fact: absent, then in place
            },
            "3",
            f"fails: `sudo apt-get install python-pip python-dev nginx` exited 100: {NO_PIP}",
            True,
            [
                "sudo apt-get update",
                "sudo apt-get install python-pip python-dev nginx",  # as written: fails, kept as evidence
                "sudo apt-get update",
                "sudo apt-get install python3-pip python3-dev nginx build-essential",
            ],
            id="literal-fails-deviation-kept",
        ),
        pytest.param(
            {"pip install virtualenv": (0, "Successfully installed virtualenv")},
            "4.1",
            "works",
            False,
            ["sudo pip install virtualenv"],  # the deviation's `apt-get install virtualenv` never runs
            id="literal-works-deviation-dropped",
        ),
    ],
)
def test_audit_earns_each_deviation(
    tmp_path: Path,
    answers: dict[str, Answer | list[Answer]],
    step_id: str,
    literal: str,
    kept: bool,
    commands: list[str],
) -> None:
    report, _, _ = rehearsal(tmp_path, answers, Mode.AUDIT)
    step = next(s for s in report.steps if s.id == step_id)
    assert report.status == Outcome.PASSED
    assert step.literal == literal
    reasons = [d.reason for d in BOOKWORM.deviations if d.step == step_id]
    assert [d.reason for d in step.deviations] == (reasons if kept else [])
    assert [c.command for c in step.commands] == commands
    assert Report.load(tmp_path / "report.json").steps[report.steps.index(step)].literal == literal
    # only deviated steps are tried as written
    assert {s.id for s in report.steps if s.literal} == {d.step for d in BOOKWORM.deviations}


def test_audit_keeps_what_the_deviation_replaced(tmp_path: Path) -> None:
    report, _, _ = rehearsal(tmp_path, {"install python-pip": (100, "E: no python-pip")}, Mode.AUDIT)
    [used] = next(s for s in report.steps if s.id == "3").deviations
    assert used.replaces["run"] == ["sudo apt-get update", "sudo apt-get install python-pip python-dev nginx"]
    assert set(used.replaces) == {"run", "probe"}


# --- a failing service explains itself; interruptions leave a record ---------------------------------

UWSGI_LOG = (
    "*** Starting uWSGI 2.0.28 ***\n"
    "ModuleNotFoundError: No module named 'wsgix'\n"
    "unable to load app 0 (mountpoint='') (callable not found or import error)\n"
    "*** no app loaded. going in full dynamic mode ***\n"
)
NGINX_500 = "urllib.error.HTTPError: HTTP Error 500: INTERNAL SERVER ERROR"


def test_a_failing_service_step_shows_the_services_own_log(tmp_path: Path) -> None:
    answers = {"http://127.0.0.1:80/": (1, NGINX_500), "journalctl -u myproject": (0, UWSGI_LOG)}
    report, _, _ = rehearsal(tmp_path, answers)
    failed = report.failed_step
    assert failed is not None and failed.id == "8.4"
    assert failed.error == (
        f"claim 'nginx-port-80' failed: exit 1, got {NGINX_500!r}, expected \"{PAGE}\"; "
        "service log: ModuleNotFoundError: No module named 'wsgix'"
    )
    assert failed.service_log == UWSGI_LOG.strip()
    assert Report.load(tmp_path / "report.json").failed_step == failed


def test_a_step_that_is_not_the_services_reads_no_service_log(tmp_path: Path) -> None:
    report, guest, _ = rehearsal(tmp_path, {"test -d ~/myproject": (1, "")})
    assert report.failed_step is not None and report.failed_step.service_log == ""
    assert not any("journalctl" in c for c in guest.commands)


def test_a_service_log_without_a_decisive_line_leaves_the_error_alone(tmp_path: Path) -> None:
    answers = {"http://127.0.0.1:80/": (1, NGINX_500), "journalctl -u myproject": (0, "WSGI app 0 ready\n")}
    report, _, _ = rehearsal(tmp_path, answers)
    failed = report.failed_step
    assert failed is not None and failed.service_log == "WSGI app 0 ready" and "service log" not in failed.error


class Interrupting(FakeGuest):
    """CTRL-C while `when` runs in the guest."""

    def __init__(self, when: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.when = when

    def run(
        self, command: str, *, user: str | None = None, prelude: str = "", timeout: float | None = None,
        live: bool = False,
    ) -> Result:  # fmt: skip
        if self.when in command:
            raise KeyboardInterrupt
        return super().run(command, user=user, prelude=prelude, timeout=timeout, live=live)


def test_ctrl_c_marks_the_step_interrupted_and_the_next_run_says_so(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    guest = Interrupting("pip install uwsgi", answers={**REHEARSED, "import flask": (1, "")}, current=FILES)
    with pytest.raises(KeyboardInterrupt):
        rehearse(context(guest), BOOKWORM, Mode.ADAPTED, target="fake", report_path=path)
    on_disk = Report.load(path)
    assert on_disk.status == Outcome.INTERRUPTED and on_disk.finished
    assert on_disk.failed_step is not None and on_disk.failed_step.id == "5.1"
    assert on_disk.failed_step.status == Status.INTERRUPTED and "interrupted" in on_disk.failed_step.error
    again = rehearse(context(FakeGuest(REHEARSED, FILES)), BOOKWORM, Mode.ADAPTED, target="fake", report_path=path)
    assert (
        again.previous == f"the run started {on_disk.started} was interrupted during step 5.1 (Install Flask and uWSGI)"
    )


def test_a_killed_run_is_named_by_the_next_and_its_leftovers_stopped(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    killed = Report("bookworm", "adapted", "fake", "2026-11-28T23:00:00+00:00", steps=[StepResult("5.1", "Install")])
    killed.steps[0].status = Status.RUNNING  # what a SIGKILL leaves on disk
    killed.save(path)
    leftover = "timeout --kill-after=10 1200 sudo -H -u deploy bash -l -c pip install uwsgi flask"
    guest = FakeGuest(REHEARSED, FILES, leftovers=[leftover])
    report = rehearse(context(guest), BOOKWORM, Mode.ADAPTED, target="fake", report_path=path)
    assert report.steps[0].status == Status.UNCHANGED  # the run goes on as usual
    assert (
        report.previous
        == "the run started 2026-11-28T23:00:00+00:00 ended without a word (killed?) during step 5.1 (Install)"
    )
    assert guest.commands[0] == "settle"  # before any step touches the guest
    assert f"killed, left running by an earlier run: {leftover}" in guest.notes


def test_a_finished_run_is_not_mentioned_by_the_next(tmp_path: Path) -> None:
    first, _, _ = rehearsal(tmp_path)
    second, _, _ = rehearsal(tmp_path)
    assert (first.status, second.previous) == (Outcome.PASSED, "")


NGINX_ERRORS = (
    "2026/12/01 03:31:17 [crit] 4395#4395: *9 connect() to unix:/home/deploy/myproject/myproject.sock failed "
    "(13: Permission denied) while connecting to upstream\n"
    "2026/12/01 03:38:55 [crit] 7677#7677: *1 connect() to unix:/home/deploy/myproject/myproject.sock failed "
    "(13: Permission denied) while connecting to upstream\n"
)


def test_a_502_quotes_the_latest_line_of_nginxs_error_log(tmp_path: Path) -> None:
    answers = {
        "http://127.0.0.1:80/": (1, "urllib.error.HTTPError: HTTP Error 502: Bad Gateway"),
        "journalctl -u myproject": (0, "WSGI app 0 ready\n"),
        "/var/log/nginx/error.log": (0, NGINX_ERRORS),
    }
    report, _, _ = rehearsal(tmp_path, answers)
    failed = report.failed_step
    assert failed is not None and failed.id == "8.4"
    assert failed.error.endswith(f"; nginx's error log: {NGINX_ERRORS.splitlines()[-1]}")
    assert failed.logs == {"nginx's error log": NGINX_ERRORS.strip()}
