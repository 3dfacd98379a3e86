"""The accuracy matrix: the tutorial's steps against the platforms, from audit rehearsals.

Each cell says what the tutorial's own words do on that platform: they work as written, they need
a deviation (with its reason, earned by the audit), or the step breaks even adapted.
"""

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from rich.table import Table

from provision.reports.junit import junit_suite, xml_text
from provision.reports.record import Report, Status, StepResult, write_atomically


class Accuracy(StrEnum):
    WORKS = "works as written"
    DEVIATES = "needs a deviation"
    BREAKS = "breaks"
    UNKNOWN = "not reached"


STYLE = {Accuracy.WORKS: "green", Accuracy.DEVIATES: "yellow", Accuracy.BREAKS: "bold red", Accuracy.UNKNOWN: "dim"}


@dataclass(frozen=True)
class Cell:
    accuracy: Accuracy
    why: str = ""  # the deviation's reason, or the failure


def cell(step: StepResult) -> Cell:
    """A step of an audit rehearsal, judged as the tutorial wrote it."""
    if step.status in (Status.FAILED, Status.INTERRUPTED):
        return Cell(Accuracy.BREAKS, step.error)
    if step.status in (Status.NOT_REACHED, Status.RUNNING):
        return Cell(Accuracy.UNKNOWN)
    if step.deviations:  # kept only when the tutorial's own form failed first (audit)
        return Cell(Accuracy.DEVIATES, "; ".join(d.reason for d in step.deviations))
    return Cell(Accuracy.WORKS)


def matrix(reports: list[Report]) -> dict[str, dict[str, Cell]]:
    """step id -> platform -> cell, in the tutorial's order."""
    out: dict[str, dict[str, Cell]] = {}
    for report in reports:
        for step in report.steps:
            out.setdefault(step.id, {})[report.platform] = cell(step)
    return out


def titles(reports: list[Report]) -> dict[str, str]:
    return {s.id: s.title for r in reports for s in r.steps}


def matrix_table(reports: list[Report]) -> Table:
    t = Table(show_edge=False, box=None, pad_edge=False, header_style="bold")
    t.add_column("step", no_wrap=True)
    t.add_column("title", no_wrap=True)
    for report in reports:
        t.add_column(report.platform, overflow="fold")
    names = titles(reports)
    for step_id, row in matrix(reports).items():
        cells = []
        for report in reports:
            c = row.get(report.platform, Cell(Accuracy.UNKNOWN))
            cells.append(f"[{STYLE[c.accuracy]}]{c.accuracy}[/]" + (f": {c.why}" if c.why else ""))
        t.add_row(step_id, names[step_id], *cells)
    return t


_TEMPLATES = Environment(loader=PackageLoader("provision.reports"), autoescape=select_autoescape(default=True))


def render_matrix_html(reports: list[Report]) -> str:
    return _TEMPLATES.get_template("matrix.html.j2").render(
        reports=reports, rows=matrix(reports), titles=titles(reports), Accuracy=Accuracy
    )


def render_merged_junit(reports: list[Report]) -> str:
    """One <testsuites> holding each platform's rehearsal suite."""
    suites = ET.Element("testsuites", name="rehearsal matrix")
    suites.extend(junit_suite(report) for report in reports)
    for key in ("tests", "failures", "errors", "skipped"):
        suites.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    return xml_text(suites)


def write_matrix(reports: list[Report], directory: Path) -> tuple[Path, Path]:
    html = write_atomically(directory / "matrix.html", render_matrix_html(reports))
    junit = write_atomically(directory / "matrix-junit.xml", render_merged_junit(reports))
    return html, junit
