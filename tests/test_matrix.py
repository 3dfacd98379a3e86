"""The accuracy matrix: steps x platforms from audit rehearsals, host-free, then on a real guest."""

import io
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from rich.console import Console

from provision import cli, platforms
from provision.reports.matrix import Accuracy, Cell, cell, matrix, matrix_table, render_matrix_html, render_merged_junit
from provision.reports.record import DeviationUsed, Outcome, Report, Status, StepResult

REASON = "Debian 12 has no Python 2 packages"


def step(step_id: str, status: Status, *, deviated: bool = False, error: str = "") -> StepResult:
    s = StepResult(step_id, f"step {step_id}", status=status, error=error)
    s.deviations = [DeviationUsed(REASON, {"run": ["sudo apt-get install python-pip"]})] if deviated else []
    return s


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (step("2", Status.CHANGED), Cell(Accuracy.WORKS)),
        (step("2", Status.UNCHANGED), Cell(Accuracy.WORKS)),
        (step("3", Status.CHANGED, deviated=True), Cell(Accuracy.DEVIATES, REASON)),
        (
            step("8.3", Status.FAILED, error="`sudo nginx -t` exited 1"),
            Cell(Accuracy.BREAKS, "`sudo nginx -t` exited 1"),
        ),
        (step("8.4", Status.NOT_REACHED), Cell(Accuracy.UNKNOWN)),
        (step("5.1", Status.INTERRUPTED, error="interrupted"), Cell(Accuracy.BREAKS, "interrupted")),
    ],
)
def test_a_cell_judges_the_tutorials_own_words(result: StepResult, expected: Cell) -> None:
    assert cell(result) == expected


def two_platforms() -> list[Report]:
    a = Report("bookworm", "audit", "podman", "t", status=Outcome.PASSED)
    a.steps = [step("2", Status.CHANGED), step("3", Status.CHANGED, deviated=True)]
    b = Report("trusty", "audit", "vagrant", "t", status=Outcome.FAILED)
    b.steps = [step("2", Status.CHANGED), step("3", Status.FAILED, error="E: Unable to locate package")]
    return [a, b]


def test_matrix_is_steps_by_platforms() -> None:
    rows = matrix(two_platforms())
    assert list(rows) == ["2", "3"]
    assert rows["3"] == {
        "bookworm": Cell(Accuracy.DEVIATES, REASON),
        "trusty": Cell(Accuracy.BREAKS, "E: Unable to locate package"),
    }


def test_matrix_on_the_terminal_html_and_junit() -> None:
    reports = two_platforms()
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(matrix_table(reports))
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["step", "title", "bookworm", "trusty"]
    assert "works as written" in lines[1] and f"needs a deviation: {REASON}" in lines[2] and "breaks: E:" in lines[2]

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.cells: list[tuple[str, str]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            if tag == "td" and "cell" in (a.get("class") or ""):
                self.cells.append((str(a["data-platform"]), str(a["class"]).split()[1]))

    parser = Cells()
    parser.feed(render_matrix_html(reports))
    assert parser.cells == [
        ("bookworm", "works-as-written"), ("trusty", "works-as-written"),
        ("bookworm", "needs-a-deviation"), ("trusty", "breaks"),
    ]  # fmt: skip

    suites = ET.fromstring(render_merged_junit(reports))
    assert [s.get("name") for s in suites] == ["rehearsal.bookworm.audit", "rehearsal.trusty.audit"]
    assert (suites.get("tests"), suites.get("failures")) == ("4", "1")


@pytest.mark.guest
def test_matrix_on_the_stand_in(rehearsed, tmp_path, capsys):
    """Every platform the podman driver boots (three Debian releases), in audit mode: each passes, its
    deviations are earned, the rest works as written; the HTML and merged JUnit carry step x platform."""
    if rehearsed.driver.name != "podman":
        pytest.skip("the matrix of the podman stand-ins")
    stand_ins = [p for p in platforms.PLATFORMS.values() if "podman" in p.targets]
    assert [p.name for p in stand_ins] == ["trixie", "bookworm", "bullseye"]
    assert cli.main(["matrix", "--target", "podman", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "rehearsing trixie, bookworm, bullseye at once (audit) on podman" in out
    reports = [Report.load(cli.state_dir(tmp_path, "podman", p.name) / "report.json") for p in stand_ins]
    assert [r.status for r in reports] == [Outcome.PASSED] * 3
    rows = matrix(reports)
    for platform in stand_ins:
        deviated = {d.step for d in platform.deviations}
        accuracy = {i: r[platform.name].accuracy for i, r in rows.items()}
        assert {i for i, a in accuracy.items() if a == Accuracy.DEVIATES} == deviated, platform.name
        assert {i for i, a in accuracy.items() if a == Accuracy.WORKS} == set(rows) - deviated, platform.name
    html = (tmp_path / "matrix.html").read_text()
    assert all(f'data-platform="{p.name}"' in html for p in stand_ins)
    suites = ET.parse(tmp_path / "matrix-junit.xml").getroot()
    assert [s.get("name") for s in suites] == [f"rehearsal.{p.name}.audit" for p in stand_ins]
    assert suites.get("failures") == "0"
