"""The HTML and JUnit renderings of a rehearsal record, checked without a browser."""

import base64
import io
import struct
import threading
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from provision.platforms import PLATFORMS, Mode
from provision.reports.htmlpage import render_html, write_html
from provision.reports.junit import render_junit, write_junit
from provision.reports.record import ClaimResult, CommandResult, DeviationUsed, Outcome, Report, Status, StepResult
from provision.reports.terminal import PEEK_EVERY, StepProgress, show
from provision.tutorial.steps import TUTORIAL

FAIL_AT = "7"  # the systemd deviation's step: a failure there exercises deviations and claims together
FAIL_ERROR = "`sudo systemctl restart myproject` exited 1"
FAIL_OUTPUT = "Job for myproject.service failed <see journalctl -xeu myproject> & \x1b[0mexit-code"
PNG_SIZE = (7, 3)


def tiny_png(path: Path, size: tuple[int, int] = PNG_SIZE) -> Path:
    """A solid blue RGB PNG, encoded by hand so these tests need no image library."""
    width, height = size

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x00\x00\xff" * width for _ in range(height))  # filter byte 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )
    return path


def build_report(fail_at: str | None = None, screenshot: str = "") -> Report:
    """A bookworm/adapted record over the real catalogue; with `fail_at`, that step fails and the rest are
    not reached."""
    steps, failed = [], False
    for planned in PLATFORMS["bookworm"].plan(Mode.ADAPTED):
        step = planned.step
        result = StepResult(step.id, step.title)
        result.deviations = [DeviationUsed(d.reason, d.replaced(planned.original)) for d in planned.deviations]
        if not failed:
            result.status, result.seconds = Status.CHANGED, 1.5
            result.commands = [CommandResult(c, 0, 0.5, "ok") for c in step.commands]
            result.claims = [ClaimResult(c.id, c.text, True) for c in step.all_claims]
        if step.id == fail_at:
            failed = True
            result.status, result.error = Status.FAILED, FAIL_ERROR
            result.commands[-1] = CommandResult(step.commands[-1], 1, 0.2, FAIL_OUTPUT)
            result.claims[0] = ClaimResult(result.claims[0].id, result.claims[0].text, False, "no such file: socket")
        steps.append(result)
    return Report(
        platform="bookworm",
        mode="adapted",
        target="docker",
        started="2024-05-01T12:00:00+00:00",
        finished="2024-05-01T12:03:00+00:00",
        seconds=180.0,
        status=Outcome.FAILED if failed else Outcome.PASSED,
        log="/tmp/rehearsal/run.log",
        http_url="http://127.0.0.1:41234" if screenshot else "",
        screenshot=screenshot,
        steps=steps,
    )


class StepRows(HTMLParser):
    """The step rows' data-status, as a browser would build them from the markup."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.statuses: dict[str, str] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("class") == "step":
            self.statuses[str(a["id"]).removeprefix("step-")] = str(a["data-status"])


def test_passing_report_lists_every_step_and_all_claims_held():
    report = build_report()
    page = render_html(report)
    claims = sum(len(s.claims) for s in report.steps)
    assert StepRows(page).statuses == {s.id: Status.CHANGED for s in TUTORIAL}
    for step in TUTORIAL:
        assert step.title in page
    assert f'<span id="claims-held">{claims}/{claims}</span>' in page
    assert "did not hold" not in page
    assert "<details" not in page  # nothing failed, so nothing to unfold
    assert "<img" not in page


def test_failing_report_shows_failure_deviation_and_unreached_steps():
    report = build_report(fail_at=FAIL_AT)
    page = render_html(report)
    statuses = StepRows(page).statuses
    ids = [s.id for s in TUTORIAL]
    after = ids[ids.index(FAIL_AT) + 1 :]
    assert statuses[FAIL_AT] == Status.FAILED
    assert after and all(statuses[i] == Status.NOT_REACHED for i in after)
    assert "Rehearsal bookworm (adapted): failed" in page
    assert '<a href="#step-7">7 Create an Upstart script</a>' in page
    # The systemd deviation, with what it replaced, escaped.
    assert "Debian 12 boots with systemd, not Upstart" in page
    assert "<code>sudo start myproject</code>" in page
    assert "did not hold" in page and "no such file: socket" in page
    # The failing command's output is folded and escaped; the output of passing commands is not shown.
    assert "<summary>exit 1: <code>sudo systemctl restart myproject</code></summary>" in page
    assert "&lt;see journalctl -xeu myproject&gt; &amp;" in page
    assert "<see journalctl" not in page
    assert page.count("<details") == 1
    assert "/tmp/rehearsal/run.log" in page


def test_screenshot_is_embedded_only_when_it_is_a_png(tmp_path: Path):
    png = tiny_png(tmp_path / "page.png")
    page = render_html(build_report(screenshot=str(png)))
    assert f'src="data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}"' in page

    missing = render_html(build_report(screenshot=str(tmp_path / "absent.png")))
    assert "<img" not in missing and "screenshot not available" in missing


def test_write_html_writes_the_rendering(tmp_path: Path):
    report = build_report(fail_at=FAIL_AT)
    path = write_html(report, tmp_path / "report.html")
    assert path.read_text(encoding="utf-8") == render_html(report, tmp_path)


SERVICE_LOG = (
    "*** Starting uWSGI ***\nModuleNotFoundError: No module named 'wsgix'\n"
    "unable to load app 0 (mountpoint='') (callable not found or import error)"
)


def failing_with_evidence() -> Report:
    """Step 7 failed: a command with its decisive line, a claim with its diff, and the service's log."""
    report = build_report(fail_at=FAIL_AT)
    step = report.failed_step
    assert step is not None
    step.commands[-1].decisive = ["Job for myproject.service failed because the control process exited"]
    step.claims[0].diff = "--- expected\n+++ got\n-socket deploy www-data 660\n+socket deploy deploy 755"
    step.service_log = SERVICE_LOG
    return report


def test_html_opens_with_the_failure_and_its_evidence(tmp_path: Path):
    report = failing_with_evidence()
    report.log = str(tmp_path / "rehearsal.log")
    page = render_html(report, tmp_path)
    section = page[page.index('<section class="failure"') : page.index("</section>")]
    # before the summary and the table: the first thing a reader sees
    assert page.index('<section class="failure"') < page.index('<dl class="summary">') < page.index("<table>")
    assert "at step 7: Create an Upstart script</h2>" in section
    assert f'<p class="error">{FAIL_ERROR}</p>' in section
    assert "<code>sudo systemctl restart myproject</code> exited 1" in section
    assert '<pre class="decisive">Job for myproject.service failed because' in section
    assert "+socket deploy deploy 755" in section
    assert "ModuleNotFoundError: No module named &#39;wsgix&#39;" in section
    assert '<a class="full-output" href="rehearsal.log">' in section  # beside the page, as written
    assert '<a href="#step-7">the step in the table</a>' in section


def test_junit_failure_carries_the_services_log():
    suite = parse_junit(failing_with_evidence())
    failure = suite.find("testcase[@name='7 Create an Upstart script']/failure")
    assert failure is not None and (failure.text or "").endswith(f"the service's own log:\n{SERVICE_LOG}")


def test_a_passing_report_has_no_failure_section():
    assert '<section class="failure"' not in render_html(build_report())


def parse_junit(report: Report) -> ET.Element:
    return ET.fromstring(render_junit(report))


def test_junit_for_a_passing_report_counts_steps_and_claims():
    report = build_report()
    suite = parse_junit(report)
    claims = sum(len(s.claims) for s in report.steps)
    assert suite.tag == "testsuite" and suite.get("name") == "rehearsal.bookworm.adapted"
    assert int(suite.get("tests", "")) == len(report.steps) + claims
    assert (suite.get("failures"), suite.get("skipped"), suite.get("errors")) == ("0", "0", "0")
    steps = suite.findall("testcase[@classname='step']")
    assert [c.get("name") for c in steps] == [f"{s.id} {s.title}" for s in TUTORIAL]
    assert steps[0].get("time") == "1.500"
    assert suite.find("testcase[@classname='claim.8.4']") is not None


def test_junit_for_a_failing_report_has_failures_and_skips(tmp_path: Path):
    report = build_report(fail_at=FAIL_AT)
    suite = ET.parse(write_junit(report, tmp_path / "junit.xml")).getroot()
    unreached = sum(s.status == Status.NOT_REACHED for s in report.steps)
    assert (suite.get("failures"), suite.get("skipped")) == ("2", str(unreached))  # the step and its claim
    assert len(suite.findall("testcase/skipped")) == unreached

    step = suite.find("testcase[@name='7 Create an Upstart script']")
    assert step is not None
    failure = step.find("failure")
    assert failure is not None and failure.get("message") == FAIL_ERROR
    # The terminal escape XML cannot carry is replaced, the rest of the output kept verbatim.
    assert "$ sudo systemctl restart myproject\n[exit 1]\n" in (failure.text or "")
    assert "<see journalctl -xeu myproject> & \ufffd[0mexit-code" in (failure.text or "")

    failed_claims = {c.get("name"): c.find("failure") for c in suite.iterfind("testcase[@classname='claim.7']")}
    assert len(failed_claims) == 2
    socket = failed_claims["socket-group-writable: the unix socket is group-writable for www-data"]
    assert socket is not None and socket.get("message") == "no such file: socket"
    assert failed_claims["starts-at-boot: the service starts at boot (enabled for multi-user.target)"] is None


@pytest.mark.parametrize(
    ("outcome", "status"), [(Outcome.RUNNING, Status.RUNNING), (Outcome.INTERRUPTED, Status.INTERRUPTED)]
)
def test_junit_of_a_killed_or_interrupted_run_reports_the_step_as_an_error(outcome: Outcome, status: Status):
    report = build_report()
    report.status, report.steps[6].status = outcome, status
    for later in report.steps[7:]:
        later.status = Status.NOT_REACHED
    suite = ET.fromstring(render_junit(report))
    assert (suite.get("errors"), suite.get("skipped")) == ("1", str(len(report.steps) - 7))
    errored = suite.find("testcase[@classname='step']/error/..")
    assert errored is not None and errored.get("name") == f"{report.steps[6].id} {report.steps[6].title}"


def test_terminal_table_ends_with_the_verdict():
    out = io.StringIO()
    show(build_report(fail_at=FAIL_AT), Console(file=out, width=400, color_system=None))
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["step", "title", "status", "seconds", "deviations"]
    report = build_report(fail_at=FAIL_AT)
    rows = lines[1 : 1 + len(TUTORIAL)]
    assert [row.split()[0] for row in rows] == [s.id for s in TUTORIAL]
    assert [f" {s.status} " in row for s, row in zip(report.steps, rows, strict=True)] == [True] * len(rows)
    assert lines[-2] == "verdict: 3 of 16 steps need a deviation on bookworm: 3, 4.1, 7"
    assert lines[-1] == f"failed at step {FAIL_AT} (Create an Upstart script): {FAIL_ERROR}"


def test_progress_line_of_a_failed_step_shows_the_cause_and_the_services_log():
    out = io.StringIO()
    report = failing_with_evidence()
    step = report.failed_step
    assert step is not None
    StepProgress(Console(file=out, width=80, color_system=None))(step)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:2] == ["FAIL", "7"] and lines[1] == f"       {FAIL_ERROR}"
    assert "+socket deploy deploy 755" in lines
    at = lines.index("       the service's own log says:")
    # the decisive lines of the service's log, whole however narrow the console
    assert lines[at + 1 :] == [
        "         ModuleNotFoundError: No module named 'wsgix'",
        "         unable to load app 0 (mountpoint='') (callable not found or import error)",
    ]


def test_verdict_names_an_unfinished_previous_run():
    report = build_report()
    report.previous = (
        "the run started 2024-05-01T11:00:00+00:00 was interrupted during step 5.1 (Install Flask and uWSGI)"
    )
    out = io.StringIO()
    show(report, Console(file=out, width=400, color_system=None))
    assert f"note: before this run, {report.previous}" in out.getvalue().splitlines()


def test_live_line_shows_the_command_running_now_on_a_terminal():
    out = io.StringIO()
    progress = StepProgress(Console(file=out, force_terminal=True, width=120, color_system=None))
    step = StepResult("5.1", "Install Flask and uWSGI", status=Status.RUNNING)
    progress(step)
    said = iter(["Collecting flask", "[notice] Building wheel for uWSGI"])
    looked = threading.Semaphore(0)

    def peek() -> str:
        looked.release()
        return next(said, "[notice] Building wheel for uWSGI")

    progress.command("pip install uwsgi flask", peek)
    for _ in range(2):  # the poller looks twice, PEEK_EVERY apart
        assert looked.acquire(timeout=10 * PEEK_EVERY)
    step.status, step.seconds = Status.CHANGED, 12.0
    progress(step)
    text = out.getvalue()
    assert "5.1  Install Flask and uWSGI  $ pip install uwsgi flask" in text  # the live line, while it ran
    # then the command's last line so far, markup brackets shown as they are
    assert "$ pip install uwsgi flask  > [notice] Building wheel for uWSGI" in text
    assert progress.poller is None  # stopped with the step
    # then the live line is erased (cursor up, clear line) and the step's line printed in its place
    assert text.splitlines()[-1].split()[-7:] == ["5.1", "Install", "Flask", "and", "uWSGI", "12.0", "s"]


def test_off_a_terminal_there_is_no_live_line():
    out = io.StringIO()
    progress = StepProgress(Console(file=out, width=120, color_system=None))
    progress(StepResult("5.1", "Install Flask and uWSGI", status=Status.RUNNING))
    progress.command("pip install uwsgi flask", lambda: "Collecting flask")
    assert out.getvalue() == ""
