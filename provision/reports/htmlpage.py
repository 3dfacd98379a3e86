"""The rehearsal's record as one self-contained HTML page, for a person to open in a browser."""

import base64
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from provision.reports.record import Report

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


def render_html(report: Report) -> str:
    """The whole report as a standalone HTML page (inline CSS, screenshot as a data: URI)."""
    return _TEMPLATES.get_template("report.html.j2").render(
        report=report,
        title=f"Rehearsal {report.platform} ({report.mode}): {report.status}",
        held=sum(c.passed for c in report.claims),
        failed=report.failed_step,
        screenshot=_screenshot_uri(report),
    )


def write_html(report: Report, path: Path) -> Path:
    """Write `render_html(report)` to `path` and return it."""
    path.write_text(render_html(report), encoding="utf-8")
    return path
