"""The rehearsal's record as one self-contained HTML page, for a person to open in a browser."""

import base64
import os
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from provision.reports.loadchart import chart_svg
from provision.reports.record import Report, write_atomically

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_TEMPLATES = Environment(
    loader=PackageLoader("provision.reports"), autoescape=select_autoescape(default=True), keep_trailing_newline=True
)


def _screenshot_uri(report: Report) -> str:
    """The guest's page as Chromium saw it, inlined so the HTML file travels alone; "" if it is no PNG."""
    path = Path(report.screenshot) if report.screenshot else None
    data = path.read_bytes() if path is not None and path.is_file() else b""
    if not data.startswith(PNG_SIGNATURE):
        return ""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _chart_uri(report: Report) -> str:
    """The load chart, inlined as an image (no markup of its own reaches the page)."""
    svg = chart_svg(report.load_run) if report.load_run is not None else ""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii") if svg else ""


def render_html(report: Report, here: Path | None = None) -> str:
    """The whole report as a standalone HTML page (inline CSS, screenshot as a data: URI), opening
    with the failure, if any. `here`: the page's directory, so the log is linked relative to it."""
    failed = report.failed_step
    log_href = ""
    if report.log:
        log_href = os.path.relpath(report.log, here) if here is not None else Path(report.log).as_uri()
    return _TEMPLATES.get_template("report.html.j2").render(
        report=report,
        title=f"Rehearsal {report.platform} ({report.mode}): {report.status}",
        held=sum(c.passed for c in report.claims),
        failed=failed,
        # the command that ended the step (a step can also fail on a claim, with every command fine)
        failing=next((c for c in reversed(failed.commands) if c.exit_code != 0), None) if failed else None,
        log_href=log_href,
        screenshot=_screenshot_uri(report),
        chart=_chart_uri(report),
    )


def write_html(report: Report, path: Path) -> Path:
    """Write `render_html(report)` to `path` and return it."""
    return write_atomically(path, render_html(report, path.parent))
