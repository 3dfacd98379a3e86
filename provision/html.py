"""The rehearsal's record as one self-contained HTML page, for a person to open in a browser."""

import base64
from html import escape
from pathlib import Path

from provision.report import CHANGED, FAILED, NOT_REACHED, UNCHANGED, ClaimResult, Report, StepResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Class names rather than inline colours, so the legend and the rows share one definition.
STATUS_CLASS = {
    CHANGED: "changed",
    UNCHANGED: "unchanged",
    FAILED: "failed",
    NOT_REACHED: "not-reached",
    "passed": "changed",
    "running": "unchanged",
}

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { margin-bottom: .2em; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dl.summary dt { font-weight: bold; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
.status { font-weight: bold; white-space: nowrap; }
.changed { color: #1a7f37; }
.unchanged { color: #0550ae; }
.failed { color: #cf222e; }
.not-reached { color: #6e7781; }
ul { margin: 0; padding-left: 1.2em; }
pre { background: #f6f8fa; padding: .5em; overflow-x: auto; white-space: pre-wrap; }
img.screenshot { max-width: 100%; border: 1px solid #ccc; }
"""


def _status(status: str, css: str | None = None) -> str:
    return f'<span class="status {css or STATUS_CLASS.get(status, "")}">{escape(status)}</span>'


def _claim(claim: ClaimResult) -> str:
    mark = _status("held", "changed") if claim.passed else _status("did not hold", "failed")
    detail = f"<br><small>{escape(claim.detail)}</small>" if claim.detail else ""
    return f'<li class="claim" data-passed="{str(claim.passed).lower()}">{mark} {escape(claim.text)}{detail}</li>'


def _deviations(step: StepResult) -> str:
    if not step.deviations and not step.literal:
        return "-"
    items = []
    if step.literal:
        items.append(f'<li class="literal">as the tutorial wrote it, this step {escape(step.literal)}</li>')
    for dev in step.deviations:
        replaced = "".join(
            f"<li>{escape(name)} was: <code>{escape(' / '.join(values))}</code></li>"
            for name, values in dev.replaces.items()
        )
        items.append(f'<li class="deviation">{escape(dev.reason)}{f"<ul>{replaced}</ul>" if replaced else ""}</li>')
    return f"<ul>{''.join(items)}</ul>"


def _failing_commands(step: StepResult) -> str:
    """Failing commands folded away: the table stays readable, the evidence is one click away."""
    return "".join(
        f'<details class="command"><summary>exit {c.exit_code}: <code>{escape(c.command)}</code></summary>'
        f"<pre>{escape(c.output_tail)}</pre></details>"
        for c in step.commands
        if c.exit_code != 0
    )


def _row(step: StepResult) -> str:
    claims = f"<ul>{''.join(_claim(c) for c in step.claims)}</ul>" if step.claims else "-"
    error = f'<div class="error failed">{escape(step.error)}</div>' if step.error else ""
    return (
        f'<tr class="step" id="step-{escape(step.id)}" data-status="{escape(step.status)}">'
        f"<td>{escape(step.id)}</td><td>{escape(step.title)}{error}{_failing_commands(step)}</td>"
        f"<td>{_status(step.status)}</td><td>{step.seconds:.1f}</td>"
        f"<td>{_deviations(step)}</td><td>{claims}</td></tr>"
    )


def _screenshot(report: Report) -> str:
    """The guest's page as Chromium saw it, inlined so the HTML file travels alone."""
    if not report.screenshot:
        return ""
    path = Path(report.screenshot)
    data = path.read_bytes() if path.is_file() else b""
    if not data.startswith(PNG_SIGNATURE):
        return f'<p class="not-reached">screenshot not available: {escape(report.screenshot)}</p>'
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (
        f'<h2>Screenshot</h2><figure><img class="screenshot" alt="the page at {escape(report.http_url)}" '
        f'src="{uri}"><figcaption>{escape(report.http_url)}</figcaption></figure>'
    )


def render_html(report: Report) -> str:
    """The whole report as a standalone HTML page (inline CSS, screenshot as a data: URI)."""
    claims = [c for s in report.steps for c in s.claims]
    held = sum(c.passed for c in claims)
    title = f"Rehearsal {report.platform} ({report.mode}): {report.status}"
    failed = report.failed_step
    summary = [
        ("platform", escape(report.platform)),
        ("mode", escape(report.mode)),
        ("target", escape(report.target)),
        ("status", _status(report.status)),
        ("started", escape(report.started)),
        ("duration", f"{report.seconds:.1f} s"),
        ("claims held", f'<span id="claims-held">{held}/{len(claims)}</span>'),
    ]
    if failed is not None:
        anchor = f'<a href="#step-{escape(failed.id)}">{escape(failed.id)} {escape(failed.title)}</a>'
        summary.append(("failed at", anchor))
    if report.http_url:
        summary.append(("page", escape(report.http_url)))
    if report.log:
        summary.append(("log", f"<code>{escape(report.log)}</code>"))
    rows = "".join(_row(s) for s in report.steps)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<dl class="summary">{"".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in summary)}</dl>'
        "<table><thead><tr><th>step</th><th>title</th><th>status</th><th>seconds</th>"
        f"<th>deviations</th><th>claims</th></tr></thead><tbody>{rows}</tbody></table>"
        f"{_screenshot(report)}</body></html>\n"
    )


def write_html(report: Report, path: Path) -> Path:
    """Write `render_html(report)` to `path` and return it."""
    path.write_text(render_html(report), encoding="utf-8")
    return path
