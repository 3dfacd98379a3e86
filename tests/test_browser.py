"""Pages as a person sees them in headless Chromium: the tutorial's page and the HTML report.

All traffic stays on 127.0.0.1 (a local http.server) or file:// URLs.
"""

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from loopback_server import serving
from test_render import FAIL_AT, PNG_SIZE, build_report, tiny_png

from provision.rehearsal.browser import ChromiumMissing, find_chromium, look, open_page
from provision.reports.htmlpage import write_html
from provision.reports.record import Status
from provision.tutorial.params import PAGE

needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="no chromium on PATH (Debian package `chromium`): cannot look at pages"
)

BLUE = "rgb(0, 0, 255)"
FAILED_RED = "rgb(207, 34, 46)"  # the report's .failed colour, #cf222e


class TutorialApp(BaseHTTPRequestHandler):
    """Answers every GET the way the tutorial's Flask app answers `/`."""

    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest's output to the test results


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    with serving(TutorialApp) as url:
        yield url + "/"


@needs_chromium
def test_look_sees_the_tutorial_page(app_url: str, tmp_path: Path):
    seen = look(app_url, tmp_path / "shots" / "page.png")
    assert (seen.heading, seen.color, seen.status) == ("Hello There!", BLUE, 200)
    assert seen.screenshot == tmp_path / "shots" / "page.png"
    assert seen.screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert seen.screenshot.stat().st_size > 100


@needs_chromium
def test_report_reads_right_in_chromium(tmp_path: Path):
    report = build_report(fail_at=FAIL_AT, screenshot=str(tiny_png(tmp_path / "page.png")))
    html = write_html(report, tmp_path / "report.html")
    with open_page(html.as_uri()) as (page, status):
        assert status is None
        assert page.locator("h1").inner_text() == "Rehearsal bookworm (adapted): failed"

        rows = page.locator("tr.step")
        assert rows.count() == len(report.steps)
        for i, step in enumerate(report.steps):
            row = rows.nth(i)
            assert row.is_visible()
            cells = row.locator("td")
            assert (cells.nth(0).inner_text(), cells.nth(2).inner_text()) == (step.id, step.status)

        failed = page.locator(f"tr.step[data-status='{Status.FAILED}'] .status").first
        assert failed.evaluate("el => getComputedStyle(el).color") == FAILED_RED
        assert page.locator(f"tr.step[data-status='{Status.NOT_REACHED}']").count() > 0

        # The failing output is folded away until the reader opens it.
        output = page.locator("details.command pre")
        assert not output.is_visible()
        page.locator("details.command summary").click()
        assert output.is_visible() and "<see journalctl -xeu myproject>" in output.inner_text()

        img = page.locator("img.screenshot")
        assert img.is_visible()
        width, height = img.evaluate("el => [el.naturalWidth, el.naturalHeight]")
        assert (width, height) == PNG_SIZE


@needs_chromium
def test_look_renders_the_report_to_png(tmp_path: Path):
    html = write_html(build_report(), tmp_path / "report.html")
    seen = look(html.as_uri(), tmp_path / "report.png")
    assert seen.heading == "Rehearsal bookworm (adapted): passed"
    assert seen.color == "rgb(34, 34, 34)"  # the body's #222, inherited
    assert seen.screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_missing_chromium_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a real PATH with no browser on it
    assert find_chromium() is None
    with pytest.raises(ChromiumMissing, match=r"^chromium not found on PATH: install the Debian package `chromium`$"):
        look("http://127.0.0.1:9/", tmp_path / "never.png")
    assert not (tmp_path / "never.png").exists()
