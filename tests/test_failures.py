"""Failures explain themselves, on a real guest: each kind of failure is caused on purpose (a throwaway
platform variant, or a temporary copy of `app/`), and the line that says why must be on the terminal
and in the one-line error. Each test leaves the guest rehearsed again, as it found it."""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import pytest

from provision import cli, platforms
from provision.layout import APP
from provision.platforms.base import Deviation
from provision.reports.record import Report, Status
from provision.tutorial.steps import packages_installed

pytestmark = pytest.mark.guest


@dataclass(frozen=True)
class Failed:
    code: int
    terminal: str  # what the rehearsal printed on stdout
    error: str  # the one line on stderr
    report: Report


@pytest.fixture
def run(rehearsed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator:
    """`rehearse apply` on the rehearsed guest with extra arguments; afterwards the guest is rehearsed
    again with the tutorial's own files, which must pass (the edits are undone, the service restarted)."""
    target, platform = rehearsed.driver.target, rehearsed.platform.name
    workdir = tmp_path / "state"

    def apply(*extra: str) -> Failed:
        code = cli.main(["apply", "--target", target, "--platform", platform, "--workdir", str(workdir), *extra])
        out, err = capsys.readouterr()
        report = Report.load(cli.state_dir(workdir, target, platform) / "report.json")
        return Failed(code, out, err.strip(), report)

    yield apply
    restored = apply()
    assert restored.code == 0, restored.error


def app_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of app/ with one edit in file `name`."""
    copy = shutil.copytree(APP, tmp_path / "app")
    text = (copy / name).read_text()
    assert old in text
    (copy / name).write_text(text.replace(old, new))
    return copy


def assert_explained(failed: Failed, step_id: str, line: str) -> None:
    """The step failed, and `line` is on the terminal and in the single line on stderr."""
    assert failed.code == 1
    step = failed.report.failed_step
    assert step is not None and (step.id, step.status) == (step_id, Status.FAILED)
    assert line in failed.terminal
    assert len(failed.error.splitlines()) == 1 and failed.error.startswith(f"rehearse: step {step_id} ")
    assert line in failed.error


def test_a_misspelled_package_shows_apts_error(run, rehearsed, monkeypatch):
    names = ("python3-pip", "python3-dev", "nginx", "build-essentials")
    typo = Deviation(
        "3",
        "a misspelled package, on purpose",
        {"run": ("sudo apt-get install " + " ".join(names),), "probe": packages_installed(*names)},
    )
    variant = replace(rehearsed.platform, deviations=(*rehearsed.platform.deviations, typo))
    monkeypatch.setattr(platforms, "PLATFORMS", MappingProxyType({**platforms.PLATFORMS, variant.name: variant}))
    failed = run()
    assert_explained(failed, "3", "E: Unable to locate package build-essentials")


def test_a_broken_nginx_block_shows_nginxs_emerg_line(run, tmp_path):
    app = app_copy(tmp_path, "nginx/myproject", "    listen 80;", "    lisen 80;")
    failed = run("--app", str(app))
    # nginx 1.22 stamps the line: `2026/11/28 23:11:46 [emerg] 7540#7540: unknown directive "lisen" in …`
    assert_explained(failed, "8.3", 'unknown directive "lisen" in /etc/nginx/sites-enabled/myproject:2')
    assert "[emerg]" in failed.error


def test_an_ini_pointing_at_a_missing_module_shows_uwsgis_error_from_the_service_log(run, tmp_path):
    app = app_copy(tmp_path, "myproject.ini", "module = wsgi\n", "module = wsgix\n")
    failed = run("--app", str(app))
    # uWSGI keeps running without an app ("full dynamic mode"): the unit starts, the socket is there,
    # and only the page fails; the service's own log says why.
    assert_explained(failed, "8.4", "ModuleNotFoundError: No module named 'wsgix'")
    step = failed.report.failed_step
    assert step is not None and "unable to load app 0" in step.service_log
    assert "the service's own log says:" in failed.terminal


def test_a_page_that_differs_shows_the_diff(run, tmp_path):
    app = app_copy(tmp_path, "myproject.py", "color:blue'>Hello There!", "color:red'>Goodbye!")
    failed = run("--app", str(app))
    assert_explained(failed, "5.2", "got \"<h1 style='color:red'>Goodbye!</h1>\"")
    # the diff, expected against got, under the failing step's line
    diff = "-<h1 style='color:blue'>Hello There!</h1>\n+<h1 style='color:red'>Goodbye!</h1>"
    assert diff in failed.terminal
    [claim] = [c for c in failed.report.failed_step.claims if not c.passed]
    assert diff in claim.diff
