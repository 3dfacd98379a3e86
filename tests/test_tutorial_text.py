"""`--tutorial` and `port --check` on a real guest: a text's own values are what runs and what is
checked, a text that breaks a step fails there with the cause on screen, and the seed ported to the
platform passes literally. Each test leaves the guest rehearsed again with the catalogue."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from renderings import seed_text

from provision import cli
from provision.reports.record import Report, Status

pytestmark = pytest.mark.guest


@dataclass(frozen=True)
class Run:
    code: int
    terminal: str
    error: str
    report: Report
    out: Path


@pytest.fixture
def apply_text(rehearsed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[str], Run]]:
    """`rehearse apply --tutorial FILE` of an edit of the seed on the rehearsed guest; afterwards the
    catalogue is applied again, which must pass."""
    target, platform = rehearsed.driver.target, rehearsed.platform.name
    workdir = tmp_path / "state"
    out = cli.state_dir(workdir, target, platform)

    def apply(*args: str) -> Run:
        code = cli.main(["apply", "--target", target, "--platform", platform, "--workdir", str(workdir), *args])
        stdout, stderr = capsys.readouterr()
        return Run(code, stdout, stderr.strip(), Report.load(out / "report.json"), out)

    def with_text(text: str) -> Run:
        path = tmp_path / "edit.md"
        path.write_text(text, encoding="utf-8")
        return apply("--tutorial", str(path))

    yield with_text
    restored = apply()
    assert restored.code == 0, restored.error


def line_of(text: str, start: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(start))


def test_a_text_with_another_uwsgi_port_passes_with_its_claim_on_that_port(apply_text) -> None:
    text = seed_text().replace("uwsgi --socket 0.0.0.0:8000", "uwsgi --socket 0.0.0.0:8001")
    run = apply_text(text)
    assert run.code == 0, run.error
    [step] = [s for s in run.report.steps if s.id == "6.1"]
    assert [(c.id, c.passed) for c in step.claims] == [("page-on-8001", True)]
    assert step.cite == f"edit.md line {line_of(text, 'uwsgi --socket')}"
    assert "6.1  Test uWSGI serving" in run.terminal and step.cite in run.terminal
    assert run.report.tutorial == "edit.md" and (run.report.added, run.report.dropped) == ([], [])


def test_a_text_with_socket_mode_600_fails_at_nginx_with_its_permission_denied(apply_text) -> None:
    text = seed_text().replace("chmod-socket = 660", "chmod-socket = 600")
    run = apply_text(text)
    assert run.code == 1
    failed = run.report.failed_step
    assert failed is not None and (failed.id, failed.status) == ("8.4", Status.FAILED)
    # The text's own socket claim (mode 600) held at step 7: the text is followed, even where it is wrong.
    [seven] = [s for s in run.report.steps if s.id == "7"]
    assert [c.passed for c in seven.claims if c.id == "socket-group-writable"] == [True]
    cite = f"edit.md line {line_of(text, 'sudo service nginx restart')}"
    assert len(run.error.splitlines()) == 1 and run.error.startswith(f"rehearse: step 8.4 ({cite}) ")
    for said in ("HTTP Error 502: Bad Gateway", "nginx's error log", "myproject.sock failed (13: Permission denied)"):
        assert said in run.error and said in run.terminal
    html = (run.out / "report.html").read_text()
    assert "(13: Permission denied)" in html and f"8.4 ({cite})" in html
    assert re.search(rf'<failure message="step 8\.4 \({cite}\): ', (run.out / "junit.xml").read_text())


def test_the_ported_seed_passes_literally(rehearsed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if rehearsed.driver.name != "podman":  # whatever the session's platform: the check makes its own guest
        pytest.skip("the port check makes a new bookworm guest with the podman driver")
    seed = tmp_path / "seed.md"
    seed.write_text(seed_text(), encoding="utf-8")
    ported = tmp_path / "seed.bookworm.md"
    argv = ["port", str(seed), "--platform", "bookworm", "-o", str(ported), "--check"]
    code = cli.main([*argv, "--target", rehearsed.driver.target, "--workdir", str(tmp_path / "state")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert re.search(
        r"^port check: passed in [\d.]+ s: literal rehearsal passed with 0 deviations, drift faithful$", out, re.M
    )
    assert "> **bookworm**: Debian 12 boots with systemd" in ported.read_text()
