"""`rehearse load`: the rehearsed site under load through nginx (wrk), the knee explained by the stack's
own logs, and the tutorial's unix-socket claim measured against TCP, in every report.

The guest tests run a short load (seconds) on the session guest and check it is left exactly as the
rehearsal made it; the rest run without a guest, wrk against a small server on loopback included.
"""

import http.server
import json
import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback_server import serving
from rich.console import Console

from provision import cli
from provision.errors import UsageError
from provision.guests.transport import Guest
from provision.rehearsal import load, wrk
from provision.rehearsal.claims import Context
from provision.rehearsal.faults import Trial
from provision.reports.htmlpage import render_html
from provision.reports.junit import render_junit
from provision.reports.loadchart import chart_svg
from provision.reports.record import Figures, Load, Outcome, Report, SocketRound, Status
from provision.reports.terminal import load_table, load_verdict

LINE = (
    "wrk-load requests=12034 duration_us=2003112 connect=0 read=3 write=0 timeout=2 non2xx=41 "
    "p50_us=1520 p95_us=8123 p99_us=20456 max_us=51000"
)
EAGAIN = (
    "nginx: 1873 x [error] connect() to unix:/home/deploy/myproject/myproject.sock failed "
    "(11: Resource temporarily unavailable) while connecting to upstream"
)


def figures(connections: int, rps: float, *, non_2xx: int = 0, p50: float = 2.0) -> Figures:
    return Figures(connections, 2.0, int(rps * 2), rps, p50, p50 * 3, p50 * 6, non_2xx)


def rounds(unix: list[float], tcp: list[float]) -> list[SocketRound]:
    out = []
    for u, t in zip(unix, tcp, strict=True):
        out += [SocketRound("unix", "unix:/s", figures(8, u)), SocketRound("tcp", "127.0.0.1:4000", figures(8, t))]
    return out


# --- wrk's figures ---------------------------------------------------------------------------------


def test_wrk_figures_are_parsed_from_the_scripts_line_among_wrks_table():
    output = f"Running 2s test @ http://127.0.0.1:8080/\n  2 threads and 32 connections\n{LINE}\n"
    f = wrk.parse(output, 32, cap=100_000)
    assert (f.connections, f.requests, f.non_2xx) == (32, 12034, 41)
    assert f.rps == pytest.approx(12034 / 2.003112, abs=0.1)
    assert (f.p50_ms, f.p95_ms, f.p99_ms) == (1.52, 8.123, 20.456)
    assert f.socket_errors == {"read": 3, "timeout": 2}
    assert f.errors == 46
    assert not f.capped


def test_a_run_that_hit_its_request_bound_is_marked_capped():
    assert wrk.parse(LINE, 32, cap=12034).capped


@pytest.mark.parametrize(
    "output",
    [
        "",
        "unable to connect to 127.0.0.1:1 Connection refused",
        LINE.replace(" p99_us=20456", ""),
        LINE.replace("duration_us=2003112", "duration_us=0"),
    ],
)
def test_output_without_whole_figures_is_an_error_not_zeros(output):
    with pytest.raises(wrk.LoadToolError):
        wrk.parse(output, 8, cap=1000)


def test_the_request_bound_is_shared_between_wrks_threads():
    assert wrk.share(1, 1000) == (1, 1000)
    assert wrk.share(512, 1000) == (2, 500)
    argv = wrk.command("wrk", Path("s.lua"), "http://127.0.0.1:1/", "example.com", 512, 2, 1000)
    assert argv[:4] == ["wrk", "-t2", "-c512", "-d2s"]
    assert argv[-2:] == ["--", "500"] and "Host: example.com" in argv


class _Page(http.server.BaseHTTPRequestHandler):
    """200 for `/`, 503 for anything else: the script must count the 503s as non-2xx."""

    def do_GET(self) -> None:
        code = 200 if self.path == "/" else 503
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def page_server() -> Iterator[str]:
    with serving(_Page) as url:
        yield url


@pytest.mark.skipif(shutil.which("wrk") is None and os.environ.get("CI") != "true", reason="wrk not installed")
def test_real_wrk_on_loopback_gives_figures_and_counts_non_2xx(page_server):
    ok = wrk.run(page_server + "/", "example.com", 2, 2, cap=100)
    assert ok.requests > 0 and ok.rps > 0 and ok.non_2xx == 0 and ok.p50_ms > 0
    assert ok.requests <= 110 and ok.capped  # bounded in requests: each of the 2 threads stops after 50
    bad = wrk.run(page_server + "/missing", "example.com", 1, 1, cap=50)
    assert bad.requests > 0 and bad.non_2xx == bad.requests


def test_wrk_is_sent_to_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        wrk.run("http://192.0.2.1:80/", "example.com", 1, 1, cap=10)


def test_a_missing_load_tool_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match=r"apt-get install wrk"):
        wrk.require()


# --- the knee and the claim ------------------------------------------------------------------------


def test_the_knee_is_the_first_level_with_errors():
    levels = [figures(1, 300), figures(8, 900), figures(32, 950, non_2xx=5), figures(128, 400, non_2xx=900)]
    knee = load.knee(levels)
    assert knee is not None and knee.connections == 32
    assert load.knee(levels[:2]) is None


def test_the_knee_is_explained_by_nginxs_eagain_against_uwsgis_backlog():
    why = load.explain(figures(128, 400, non_2xx=1873), [EAGAIN], backlog=100, workers=5)
    assert why.startswith("first errors at 128 connections (1873 non-2xx of 800 requests)")
    assert "listen backlog (100) was full while the 5 workers were busy" in why
    assert why.endswith("so nginx answered 502 at once (nginx's log below)")


def test_a_knee_without_a_known_cause_quotes_the_logs_or_says_they_are_silent():
    at = figures(512, 10, non_2xx=3)
    assert "the stack's logs say: nginx: 3 x [crit] something new" in load.explain(
        at, ["nginx: 3 x [crit] something new"], 100, 5
    )
    assert load.explain(at, [], 100, 5).endswith("nginx's error log and uWSGI's log say nothing about them")


def test_the_backlog_is_the_inis_listen_else_uwsgis_default():
    assert load.backlog_of("[uwsgi]\nsocket = myproject.sock\n") == 100
    assert load.backlog_of("[uwsgi]\nlisten = 1024\n") == 1024


@pytest.mark.parametrize(
    ("unix", "tcp", "verdict", "why"),
    [
        ([1100, 1120], [1000, 1050], "holds", "the unix socket was faster in every round (by chance alone 1 in 6)"),
        ([1000, 1100], [1050, 1080], "does not hold", "the difference is within the rounds' spread"),
        (
            [900, 950, 990],
            [1000, 1010, 991],
            "does not hold",
            "TCP was faster in every round (by chance alone 1 in 20)",
        ),
    ],
)
def test_the_claim_holds_only_when_every_unix_round_beats_every_tcp_round(unix, tcp, verdict, why):
    got, detail = load.judge(rounds(unix, tcp))
    assert got == verdict
    assert detail.endswith(why)
    assert f"({min(unix)}-{max(unix)})" in detail and f"({min(tcp)}-{max(tcp)})" in detail


def test_the_claim_needs_both_sockets():
    with pytest.raises(ValueError):
        load.judge(rounds([1000], [900])[:1])


# --- reports ---------------------------------------------------------------------------------------


def a_load() -> Load:
    return Load(
        started="2026-12-01T04:00:00+00:00", url="http://127.0.0.1:40000", duration=2.0,
        levels=[figures(1, 300), figures(32, 950), figures(512, 400, non_2xx=1873)],
        knee=512, knee_why="first errors at 512 connections: nginx could not connect", knee_evidence=[EAGAIN],
        rounds=rounds([1100, 1120], [1000, 1050]), claim="holds", claim_why="unix socket 1110 req/s (1100-1120)",
        restored="restored both files", seconds=30.0,
    )  # fmt: skip


def a_report(tmp_path: Path) -> Report:
    report = Report("bookworm", "adapted", "podman", "2026-12-01T03:59:00+00:00", status=Outcome.PASSED)
    report.load_run = a_load()
    return report


def test_the_load_is_kept_in_report_json_under_load(tmp_path):
    report = a_report(tmp_path)
    report.save(tmp_path / "report.json")
    assert json.loads((tmp_path / "report.json").read_text())["load"]["knee"] == 512
    assert Report.load(tmp_path / "report.json") == report


def test_the_html_shows_the_chart_the_table_the_knee_and_the_claim(tmp_path):
    html = render_html(a_report(tmp_path))
    assert '<img class="chart"' in html and "data:image/svg+xml;base64," in html
    assert html.count('<tr class="level') == 3 and html.count('<tr class="round"') == 4
    assert "The knee: 512 connections." in html and "(11: Resource temporarily unavailable)" in html
    assert "The unix-socket claim (step 6.2):" in html and ">holds</span>" in html


def test_the_chart_is_an_svg_with_the_three_panels():
    svg = chart_svg(a_load())
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert svg.count('id="axes_') == 3  # throughput, latency, unix vs TCP
    assert chart_svg(Load("now", "http://127.0.0.1:1", 1.0)) == ""


def test_the_same_figures_draw_the_same_file():
    assert chart_svg(a_load()) == chart_svg(a_load())  # no timestamp, no random element ids


def test_junit_carries_the_figures_as_properties_and_no_failures(tmp_path):
    suite = ET.fromstring(render_junit(a_report(tmp_path)))
    cases = {c.get("name"): c for c in suite.iter("testcase") if c.get("classname", "").startswith("load")}
    props = {p.get("name"): p.get("value") for p in cases["512 connections"].iter("property")}
    assert props["non_2xx"] == "1873" and props["knee"].startswith("first errors at 512")
    assert "(11: Resource temporarily unavailable)" in props["knee_evidence"]
    claim = {
        p.get("name"): p.get("value") for p in cases["the unix socket is faster than TCP (step 6.2)"].iter("property")
    }
    assert claim["verdict"] == "holds"
    assert suite.get("failures") == "0" and suite.get("errors") == "0"


def test_the_terminal_shows_every_run_the_knee_and_the_claim():
    console = Console(record=True, width=200)
    console.print(load_table(a_load()))
    for line in load_verdict(a_load()):
        console.print(line, markup=False)
    text = console.export_text()
    rows = [line.split()[0:2] for line in text.splitlines() if line.strip()]
    assert [r for r in rows if r[0] == "level"] == [["level", "1"], ["level", "32"], ["level", "512"]]
    assert [r for r in rows if r[0][:-1].isdigit()] == [["1:", "unix"], ["2:", "tcp"], ["3:", "unix"], ["4:", "tcp"]]
    assert "knee: first errors at 512 connections" in text
    assert "unix-socket claim (step 6.2, faster than TCP): holds" in text


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--duration", "0"], ["--duration", "-1"], ["--duration", "61"], ["--duration", "soon"], ["--duration", "nan"],
        ["--concurrency", "0"], ["--concurrency", "1025"], ["--concurrency", "8,1"], ["--concurrency", "8,8"],
        ["--concurrency", "x"], ["--concurrency", ""], ["--concurrency", ",".join(map(str, range(1, 12)))],
        ["--rounds", "0"], ["--rounds", "11"], ["--rounds", "-1"], ["--rounds", "two"],
    ],
)  # fmt: skip
def test_bad_duration_or_concurrency_is_a_usage_error(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["load", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rehearse load: error: argument --")


def test_good_duration_and_concurrency_are_taken():
    args = cli.parser().parse_args(["load", "--duration", "2", "--concurrency", "1,32,512", "--rounds", "2"])
    assert (args.duration, args.concurrency, args.compare, args.rounds) == (2.0, (1, 32, 512), True, 2)
    defaults = cli.parser().parse_args(["load", "--no-compare"])
    assert (defaults.concurrency, defaults.compare) == (load.LEVELS, False)


def test_load_without_a_rehearsal_is_refused(tmp_path, capsys):
    assert cli.main(["load", "--target", "podman", "--platform", "bookworm", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no rehearsal of this guest to load" in err[0]


def test_load_without_wrk_ends_with_one_line_naming_the_install(tmp_path, monkeypatch, capsys):
    """A passed rehearsal on record, podman on PATH, wrk not: one line, exit 2, before any guest is touched."""
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman is not installed") if os.environ.get("CI") != "true" else pytest.fail("no podman")
    out = cli.state_dir(tmp_path, "podman", "bookworm")
    out.mkdir(parents=True)
    Report("bookworm", "adapted", "podman", "2026-12-01T03:59:00+00:00", status=Outcome.PASSED).save(
        out / "report.json"
    )
    (tmp_path / "bin").mkdir()
    for tool in ("podman", "runc"):  # what the podman driver needs: all but the load tool
        (tmp_path / "bin" / tool).symlink_to(shutil.which(tool) or podman)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert cli.main(["load", "--target", "podman", "--platform", "bookworm", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "rehearse: error: the load tool `wrk` is not installed: `apt-get install wrk` (./rehearse installs it)"
    ]


# --- on the guest ----------------------------------------------------------------------------------


def fingerprint(rehearsed) -> str:
    """The tutorial's ini and server block, byte for byte (sha256) with owner, group, mode and size."""
    files = [rehearsed.params.expand(load.INI), load.SERVER_BLOCK]
    guest = Guest(rehearsed.driver.host_spec(), rehearsed.out / "rehearsal.log")
    names, saved = " ".join(files), " ".join(f + load.SAVED for f in files)
    return guest.run(f"sha256sum {names} && stat -c '%n %U %G %a %s' {names} && ls {saved} 2>&1 || true").output


@pytest.mark.guest
def test_the_switch_to_tcp_serves_the_page_and_restores_both_files_byte_for_byte(rehearsed):
    before = fingerprint(rehearsed)
    guest = Guest(rehearsed.driver.host_spec(), rehearsed.out / "rehearsal.log")
    ctx = Context(guest=guest, params=rehearsed.params, http_url=rehearsed.driver.http_url())
    stack = load.Stack(Trial(ctx, rehearsed.platform.expect), rehearsed.platform)
    try:
        address = stack.to_tcp()
        ini = guest.run(f"cat {rehearsed.params.expand(load.INI)}").output
        block = guest.run(f"cat {load.SERVER_BLOCK}").output
        assert f"socket = {address}\n" in ini and "myproject.sock" not in ini
        assert f"uwsgi_pass {address};" in block and "unix:" not in block
        assert stack.trial.serving()
    finally:
        restored = stack.restore()
    assert restored.startswith("restored ")
    assert fingerprint(rehearsed) == before
    assert stack.trial.serving()
    assert stack.restore() == "nothing to restore"


@pytest.mark.guest
def test_a_short_load_gives_figures_and_leaves_the_guest_unchanged(rehearsed, tmp_path):
    target, platform, workdir = rehearsed.driver.target, rehearsed.platform.name, str(rehearsed.out.parent)
    before = fingerprint(rehearsed)
    short = ["--duration", "2", "--concurrency", "1,32", "--rounds", "2"]
    code = cli.main(["load", "--target", target, "--platform", platform, "--workdir", workdir, *short])
    assert code == 0
    report = Report.load(rehearsed.out / "report.json")
    run = report.load_run
    assert run is not None and not run.error
    assert [f.connections for f in run.levels] == [1, 32]
    assert all(f.requests > 0 and f.rps > 0 and 0 < f.p50_ms <= f.p95_ms <= f.p99_ms for f in run.levels)
    assert run.levels[0].errors == 0  # one connection at a time: the stack serves every request
    assert [r.socket for r in run.rounds] == ["unix", "tcp", "unix", "tcp"]
    assert all(r.figures.requests > 0 and r.figures.errors == 0 for r in run.rounds)
    assert run.claim in ("holds", "does not hold") and "req/s" in run.claim_why
    assert run.restored.startswith("restored ")
    assert fingerprint(rehearsed) == before
    html = (rehearsed.out / "report.html").read_text()
    assert "data:image/svg+xml;base64," in html
    # The guest as the rehearsal left it: a following apply changes nothing (its record in a workdir of its
    # own: the session's stays the rehearsal's, which other tests read).
    assert cli.main(["apply", "--target", target, "--platform", platform, "--workdir", str(tmp_path)]) == 0
    again = Report.load(cli.state_dir(tmp_path, target, platform) / "report.json")
    assert [s.status for s in again.steps] == [Status.UNCHANGED] * len(again.steps)
