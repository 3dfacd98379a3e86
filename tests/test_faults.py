"""`rehearse faults`: faults injected into the rehearsed service, each reported as a finding about the
tutorial's deploy, in report.json, the HTML page and the JUnit XML.

The guest tests break the shared session guest on purpose (a killed master, a killed worker, 200 bad
requests), then check it is left serving for the tests that follow; the rest run without a host.
"""

import contextlib
import io
import json
import re
import socketserver
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from provision import cli
from provision.guests.transport import Result
from provision.platforms import PLATFORMS
from provision.rehearsal import abuse
from provision.rehearsal.claims import Context
from provision.rehearsal.faults import FAULTS, Fault, FaultError, Seen, Trial, run_fault, workers_in
from provision.reports.htmlpage import render_html
from provision.reports.junit import render_junit
from provision.reports.record import CommandResult, Finding, Outcome, Report, Verdict
from provision.reports.terminal import faults_table
from provision.tutorial.params import PAGE, Params

# What the tutorial's deploy does on both platforms: no respawn in the job nor Restart= in the unit,
# and nginx's stock default site left enabled; the rest holds.
VERDICTS = {
    "kill-master": Verdict.FINDING,
    "kill-worker": Verdict.AS_EXPECTED,
    "socket-outsider": Verdict.AS_EXPECTED,
    "test-ports-free": Verdict.AS_EXPECTED,
    "default-site": Verdict.FINDING,
    "request-buffer": Verdict.FINDING,  # uWSGI's 4 KiB buffer-size against nginx's 8 KiB header buffers
    "bad-requests": Verdict.AS_EXPECTED,
}


def uwsgi_listing(evidence: list[CommandResult]) -> list[tuple[int, list[int]]]:
    """Each uWSGI process listing in the evidence: (master, workers)."""
    out = []
    for c in evidence:
        if c.command.startswith("master=$("):
            lines = c.output_tail.splitlines()
            out.append((int(lines[0].split()[1]), [int(line.split()[0]) for line in lines[1:]]))
    return out


@dataclass(frozen=True)
class Faulted:
    code: int
    report: Report
    out: Path


@pytest.fixture(scope="module")
def faulted(rehearsed) -> Faulted:
    """`rehearse faults` once on the session's guest (about 100 s: the killed master's restart waits out
    systemd's stop timeout in the stand-in)."""
    target, platform = rehearsed.driver.target, rehearsed.platform.name
    workdir = rehearsed.out.parent
    code = cli.main(["faults", "--target", target, "--platform", platform, "--workdir", str(workdir)])
    return Faulted(code, Report.load(rehearsed.out / "report.json"), rehearsed.out)


def finding(faulted: Faulted, fault_id: str) -> Finding:
    return next(f for f in faulted.report.findings if f.id == fault_id)


@pytest.mark.guest
def test_every_fault_runs_and_its_verdict_is_the_deploys(faulted):
    assert faulted.code == 0
    assert {f.id: f.verdict for f in faulted.report.findings} == VERDICTS
    assert [f.error for f in faulted.report.findings] == [""] * len(FAULTS)
    assert faulted.report.status == Outcome.PASSED  # the rehearsal's own record is untouched


@pytest.mark.guest
def test_killed_master_stays_down_then_is_restored(faulted, rehearsed):
    f = finding(faulted, "kill-master")
    assert "Restart=on-failure" in f.fix and "respawn" in f.fix
    assert "no page within 30 s" in f.observed and "page served again" in f.observed
    [(master, workers)] = uwsgi_listing(f.evidence)
    assert len(workers) == 5
    commands = {c.command: c for c in f.evidence}
    assert commands[f"kill -9 {master}"].exit_code == 0
    [wait, back] = [c for c in f.evidence if c.command.startswith("t0=")]
    assert (wait.exit_code, wait.output_tail) == (1, "not within 30 s")
    assert wait.seconds >= 30
    assert commands[rehearsed.platform.expect.restart].exit_code == 0
    assert back.exit_code == 0 and re.fullmatch(r"after \d+ ms", back.output_tail)


@pytest.mark.guest
def test_killed_worker_is_replaced_by_the_master(faulted):
    f = finding(faulted, "kill-worker")
    (master, before), (master_after, after) = uwsgi_listing(f.evidence)
    assert master_after == master
    assert len(before) == len(after) == 5
    assert len(set(after) - set(before)) == 1 and len(set(before) - set(after)) == 1
    assert f"kill -9 {sorted(set(before) - set(after))[0]}" in [c.command for c in f.evidence]
    assert f.fix == ""


@pytest.mark.guest
def test_outsider_is_denied_the_socket_while_www_data_connects(faulted):
    f = finding(faulted, "socket-outsider")
    control, outsider = f.evidence
    assert (control.exit_code, control.output_tail) == (0, "connected")
    assert outsider.exit_code == 1 and outsider.output_tail.startswith("PermissionError")


@pytest.mark.guest
def test_test_servers_left_no_port_open(faulted):
    f = finding(faulted, "test-ports-free")
    [ss] = f.evidence
    assert ss.command == "ss -ltn" and ss.exit_code == 0
    assert ":80 " in ss.output_tail and ":5000 " not in ss.output_tail and ":8000 " not in ss.output_tail


@pytest.mark.guest
def test_stock_default_site_answers_strangers(faulted):
    f = finding(faulted, "default-site")
    assert "/etc/nginx/sites-enabled/default" in f.fix
    assert "HTTP 200: Welcome to nginx!" in f.observed
    assert "default -> /etc/nginx/sites-available/default" in f.evidence[0].output_tail


@pytest.mark.guest
def test_a_request_nginx_accepts_but_uwsgis_buffer_does_not_is_a_finding(faulted):
    f = finding(faulted, "request-buffer")
    assert f.verdict == Verdict.FINDING and "buffer-size = 32768" in f.fix
    assert "6 KiB query string gets 'HTTP 502: 502 Bad Gateway'" in f.observed
    assert "100 headers get 'HTTP 502: 502 Bad Gateway'" in f.observed
    assert "uWSGI says: invalid request block size:" in f.observed and "(max 4096)" in f.observed


def test_bad_requests_leave_master_and_workers_serving(faulted):
    f = finding(faulted, "bad-requests")
    [barrage] = [c for c in f.evidence if c.command.startswith("(from the host)")]
    sent = int(barrage.command.split()[3])
    tallied = sum(int(line.rsplit(": ", 1)[1]) for line in barrage.output_tail.splitlines())
    assert sent == tallied >= 200
    assert {kind for kind in ("malformed", "oversized", "slow") if f"\n{kind} -> " in f"\n{barrage.output_tail}"} == {
        "malformed",
        "oversized",
        "slow",
    }
    (master, before), (master_after, after) = uwsgi_listing(f.evidence)
    assert master_after == master and len(before) == len(after) == 5
    assert "1 master (same) + 5 workers, page served" in f.observed


@pytest.mark.guest
def test_evidence_is_in_the_json_html_and_junit_reports(faulted):
    data = json.loads((faulted.out / "report.json").read_text())
    assert [f["id"] for f in data["findings"]] == list(VERDICTS)
    assert all(f["evidence"] and all("exit_code" in c for c in f["evidence"]) for f in data["findings"])

    html = (faulted.out / "report.html").read_text()
    assert html.count('<tr class="fault"') == len(VERDICTS)
    assert html.count('<details class="evidence">') == len(VERDICTS)
    for f in faulted.report.findings:
        assert f'id="fault-{f.id}" data-verdict="{f.verdict}"' in html
    master_kill = next(c.command for c in finding(faulted, "kill-master").evidence if c.command.startswith("kill -9"))
    assert f"<pre>$ {master_kill}\n[exit 0," in html

    suite = ET.parse(faulted.out / "junit.xml").getroot()
    cases = suite.findall("testcase[@classname='fault']")
    assert [c.get("name", "").split(":")[0] for c in cases] == list(VERDICTS)
    assert suite.get("errors") == "0" and suite.find("testcase[@classname='fault']/error") is None
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iterfind("properties/property")}
        fault_id = case.get("name", "").split(":")[0]
        assert props["verdict"] == VERDICTS[fault_id]
        assert ("fix" in props) == (VERDICTS[fault_id] == Verdict.FINDING)
        assert (case.findtext("system-out") or "").startswith("$ ")
    assert f"$ {master_kill}\n[exit 0," in (cases[0].findtext("system-out") or "")


@pytest.mark.guest
def test_guest_is_left_serving(faulted, rehearsed, host, loopback):
    r = loopback.get(rehearsed.driver.http_url(), headers={"Host": rehearsed.params.server_name}, timeout=10)
    assert (r.status_code, r.text) == (200, PAGE)
    assert len(host.process.filter(comm="uwsgi")) == 6
    assert host.service("myproject").is_running


def test_faults_without_a_rehearsal_are_refused(tmp_path, capsys):
    assert cli.main(["faults", "--target", "podman", "--platform", "bookworm", "--workdir", str(tmp_path)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("rehearse: error: no rehearsal of this guest") and "rehearse up" in line


def test_faults_after_a_failed_rehearsal_are_refused(tmp_path, capsys):
    out = cli.state_dir(tmp_path, "podman", "bookworm")
    out.mkdir(parents=True)
    Report("bookworm", "adapted", "podman", "2024-05-01T12:00:00+00:00", status=Outcome.FAILED).save(
        out / "report.json"
    )
    assert cli.main(["faults", "--target", "podman", "--platform", "bookworm", "--workdir", str(tmp_path)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == "rehearse: error: the last rehearsal of this guest did not pass (failed): run `rehearse up` first"


# --- without a host: the reports, the record and the run contract ---

EVIDENCE = [
    CommandResult("kill -9 4401", 0, 0.1, ""),
    CommandResult("t0=$(date +%s%N); until <page>; do ...", 1, 30.2, "not within 30 s <502> & \x1b[0m"),
]


def report_with_findings() -> Report:
    return Report(
        "bookworm",
        "adapted",
        "podman",
        "2024-05-01T12:00:00+00:00",
        status=Outcome.PASSED,
        findings=[
            Finding(
                "kill-master",
                "kill -9 of the uWSGI master: is the page served again within 30 s?",
                "the init system restarts the service",
                "no page within 30 s",
                Verdict.FINDING,
                "`Restart=on-failure` in the unit",
                31.5,
                list(EVIDENCE),
            ),
            Finding("kill-worker", "kill -9 of one worker?", "replaced", "replaced in 1.0 s", Verdict.AS_EXPECTED),
            Finding("bad-requests", "200 bad requests?", "still serving", error="guest unreachable"),
        ],
    )


def test_html_shows_each_fault_with_fix_and_folded_escaped_evidence():
    page = render_html(report_with_findings())
    assert '<h2 id="faults">Faults</h2>' in page
    assert re.findall(r'<tr class="fault" id="fault-([\w-]+)" data-verdict="([^"]+)"', page) == [
        ("kill-master", "finding"),
        ("kill-worker", "as expected"),
        ("bad-requests", "error"),
    ]
    assert '<div class="fix">fix: `Restart=on-failure` in the unit</div>' in page
    assert page.count('<div class="fix">') == 1
    assert '<div class="error failed">could not run: guest unreachable</div>' in page
    assert page.count('<details class="evidence">') == 1  # only the fault that ran commands
    assert "<summary>evidence: 2 commands</summary>" in page
    assert "$ kill -9 4401\n[exit 0, 0.1 s]" in page
    assert "not within 30 s &lt;502&gt; &amp;" in page and "<502>" not in page


def test_html_without_findings_has_no_faults_section():
    report = report_with_findings()
    report.findings = []
    assert "Faults" not in render_html(report)


def test_junit_has_a_case_per_fault_findings_as_properties_errors_as_errors():
    suite = ET.fromstring(render_junit(report_with_findings()))
    cases = suite.findall("testcase[@classname='fault']")
    assert [c.get("name") for c in cases] == [
        "kill-master: kill -9 of the uWSGI master: is the page served again within 30 s?",
        "kill-worker: kill -9 of one worker?",
        "bad-requests: 200 bad requests?",
    ]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "0", "1")
    master, worker, bad = cases
    props = {p.get("name"): p.get("value") for p in master.iterfind("properties/property")}
    assert props == {
        "verdict": "finding",
        "expected": "the init system restarts the service",
        "observed": "no page within 30 s",
        "fix": "`Restart=on-failure` in the unit",
    }
    assert master.get("time") == "31.500" and master.find("failure") is None and master.find("error") is None
    out = master.findtext("system-out") or ""
    assert out.startswith("$ kill -9 4401\n[exit 0, 0.1 s]\n")
    assert "not within 30 s <502> & \ufffd[0m" in out  # the escape XML cannot carry, replaced
    assert worker.find("properties/property[@name='fix']") is None and worker.find("system-out") is None
    error = bad.find("error")
    assert error is not None and error.get("message") == "guest unreachable"


def test_report_round_trips_findings_and_reads_reports_without_them(tmp_path: Path):
    report = report_with_findings()
    report.save(tmp_path / "r.json")
    assert Report.load(tmp_path / "r.json") == report
    data = json.loads((tmp_path / "r.json").read_text())
    del data["findings"]  # a report written before `rehearse faults` existed
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert Report.load(tmp_path / "old.json").findings == []


def test_terminal_table_lists_faults_with_their_fix():
    out = io.StringIO()
    Console(file=out, width=400, color_system=None).print(faults_table(report_with_findings().findings))
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["fault", "verdict", "seconds", "observed"]
    assert lines[1].split()[:4] == ["kill-master", "finding", "31.5", "no"]
    assert lines[2].strip() == "fix: `Restart=on-failure` in the unit"
    assert lines[4].split()[:3] == ["bad-requests", "error", "0.0"] and lines[4].rstrip().endswith("guest unreachable")


class ScriptedGuest:
    """A `Shell` answering by the first rule whose text is in the command (a list is answered in turn,
    its last entry repeating); anything else exits 0 silently."""

    def __init__(self, *rules: tuple[str, tuple[int, str] | list[tuple[int, str]]]) -> None:
        self.rules = [(key, list(a) if isinstance(a, list) else [a]) for key, a in rules]
        self.log = Path("/fake/rehearsal.log")
        self.commands: list[str] = []

    def run(self, command: str, *, user: str | None = None, prelude: str = "", timeout: float | None = None) -> Result:
        assert timeout is not None  # every command of a fault is bounded
        self.commands.append(command)
        for key, queue in self.rules:
            if key in command:
                code, output = queue.pop(0) if len(queue) > 1 else queue[0]
                return Result(command, code, output, 0.0, timeout)
        return Result(command, 0, "", 0.0, timeout)

    def sync_file(self, path: str, content: str, *, user: str, sudo: bool) -> bool:
        raise AssertionError("faults write no files")

    def note(self, text: str) -> None:
        pass


TREE = (0, "master 100\n 101 uwsgi\n 102 uwsgi\n 103 uwsgi\n 104 uwsgi\n 105 uwsgi")
KILL_MASTER = FAULTS[0]


def run_scripted(fault: Fault, guest: ScriptedGuest, platform: str = "bookworm") -> Finding:
    return run_fault(fault, Context(guest=guest, params=Params()), PLATFORMS[platform])


def test_a_master_the_init_system_respawns_is_as_expected_on_trusty():
    """The same fault, through trusty's expectations: Upstart's commands, a job with `respawn`."""
    guest = ScriptedGuest(("master=$(", TREE), ("t0=$(date", (0, "after 1500 ms")))
    f = run_scripted(KILL_MASTER, guest, "trusty")
    assert (f.verdict, f.fix, f.error) == (Verdict.AS_EXPECTED, "", "")
    assert "served again after 1.5 s" in f.observed
    assert guest.commands[0].startswith("master=$(initctl status myproject")
    assert "kill -9 100" in guest.commands
    assert "restart myproject || start myproject" in guest.commands  # restored all the same


RESTART = PLATFORMS["bookworm"].expect.restart


def test_a_master_that_stays_down_is_a_finding_with_its_fix():
    guest = ScriptedGuest(
        ("master=$(", TREE),
        ("t0=$(date", [(1, "not within 30 s"), (0, "after 800 ms")]),
        ("import re, sys", (0, "HTTP 502: 502 Bad Gateway")),
    )
    f = run_scripted(KILL_MASTER, guest)
    assert (f.verdict, f.fix) == (Verdict.FINDING, KILL_MASTER.fix)
    assert f.observed == (
        "master (pid 100) killed; no page within 30 s (nginx answers 'HTTP 502: 502 Bad Gateway'); "
        f"restored with `{RESTART}` (0.0 s): page served again 0.8 s later"
    )
    assert [c.command for c in f.evidence] == guest.commands


def test_a_fault_that_cannot_run_is_an_error_and_is_still_restored():
    guest = ScriptedGuest(("master=$(", (1, "")), ("t0=$(date", (0, "after 100 ms")))
    f = run_scripted(KILL_MASTER, guest)
    assert f.verdict == Verdict.ERROR and f.fix == ""
    assert f.error.startswith("`master=$(systemctl show -p MainPID --value myproject)")
    assert RESTART in guest.commands


def test_a_restore_that_fails_makes_the_fault_an_error():
    guest = ScriptedGuest(
        ("master=$(", TREE), ("t0=$(date", (1, "not within 30 s")), ("systemctl restart", (1, "Job failed"))
    )
    f = run_scripted(KILL_MASTER, guest)
    assert f.verdict == Verdict.ERROR
    assert f.error == f"restoring: `{RESTART}` exited 1: Job failed"
    assert "no page within 30 s" in f.observed  # what the check saw is kept


def test_check_contract_a_seen_and_fault_errors():
    """Any check is a function of a Trial: a Seen is a verdict, a FaultError no verdict at all."""

    def denied(t: Trial) -> Seen:
        t.must("true")
        return Seen(False, "saw it")

    def broken(t: Trial) -> Seen:
        raise FaultError("precondition")

    seen = run_scripted(Fault("x", "q?", "e", "the fix", denied), ScriptedGuest())
    assert (seen.verdict, seen.observed, seen.fix) == (Verdict.FINDING, "saw it", "the fix")
    assert [c.command for c in seen.evidence] == ["true"]
    err = run_scripted(Fault("y", "q?", "e", "the fix", broken), ScriptedGuest())
    assert (err.verdict, err.error, err.fix) == (Verdict.ERROR, "precondition", "")


def test_worker_count_comes_from_the_tutorials_ini():
    assert workers_in(Params().artifact("myproject.ini")) == 5
    with pytest.raises(FaultError):
        workers_in("[uwsgi]\nmodule = wsgi\n")


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:8080/", "http://example.org:80/", "http://127.0.0.1/", "http://[::2]:80/"]
)
def test_bad_requests_go_to_loopback_only(url):
    with pytest.raises(ValueError, match="only a loopback address"):
        abuse.loopback(url)


def test_bad_requests_address_on_loopback():
    assert abuse.loopback("http://127.0.0.1:41234/") == ("127.0.0.1", 41234)
    assert abuse.loopback("http://[::1]:8080/") == ("::1", 8080)


class Refuser(socketserver.BaseRequestHandler):
    """A loopback server for the barrage: reads a request's head, answers 400, closes."""

    def handle(self) -> None:
        self.request.settimeout(10)  # longer than the slow clients trickle
        data = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in data and (chunk := self.request.recv(65536)):
                data += chunk
            self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    request_queue_size = 64  # the slow clients connect all at once


@contextlib.contextmanager
def refuser() -> Iterator[str]:
    """The address of a `Refuser` on loopback, for as long as the block runs."""
    with Server(("127.0.0.1", 0), Refuser) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()


def test_barrage_sends_every_kind_and_tallies_the_answers(monkeypatch):
    monkeypatch.setattr(abuse, "SLOW_HOLD", 0.6)
    with refuser() as url:
        tally = abuse.barrage(url, "127.0.0.1", minimum=50, budget=30)
    kinds = tally.by_kind()
    assert tally.sent == sum(kinds.values()) == 50
    assert kinds["slow"] == abuse.SLOW_CLIENTS and kinds["malformed"] > 0 and kinds["oversized"] > 0
    assert tally.by_answer() == {"HTTP 400": 50 - abuse.SLOW_CLIENTS // 2, "walked away": abuse.SLOW_CLIENTS // 2}
    assert tally.seconds < 30


def test_barrage_stops_at_its_time_cap():
    with refuser() as url:
        tally = abuse.barrage(url, "h", minimum=10**6, budget=0.5)
    assert 0 < tally.sent < 10**6 and "slow" not in tally.by_kind()
    assert tally.seconds < 5
