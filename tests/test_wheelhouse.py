"""The Python 2.7 wheelhouse, really downloaded from PyPI (cached in the state dir) and complete."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provision.guests import wheelhouse
from provision.guests.wheelhouse import HOST_DIR, PIP_TARGET, contents, ensure, missing, pins


@pytest.fixture(scope="module")
def wh() -> Path:
    ensure()
    return HOST_DIR


def offline_pip(*args: str) -> subprocess.CompletedProcess[str]:
    """pip with no index and none of the host's pip configuration or PIP_* variables (which may add
    find-links or mirrors): only the wheelhouse can satisfy it. Wheels only: reading an sdist's
    metadata would need build tools from an index (the sdists are checked by name above)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
    return subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-index", "--only-binary=:all:", *PIP_TARGET, *args],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_every_pin_is_there_once(wh: Path) -> None:
    have = contents(wh)
    assert {name: str(req.specifier) for name, req in pins().items()} == {
        name: f"=={version}" for name, (version, _) in have.items()
    }


def test_python27_closure_is_complete(wh: Path) -> None:
    """Every wheel's dependencies, with markers evaluated for trusty's Python 2.7.6, are there."""
    assert missing(wh) == []


def test_uwsgi_and_scandir_are_sources(wh: Path) -> None:
    have = contents(wh)
    assert have["uwsgi"][1].name.lower() == "uwsgi-2.0.30.tar.gz"
    assert have["scandir"][1].name.endswith(".tar.gz")
    # Everything the system pip 1.5.4 installs (step 4.1) must be tagged for any platform: it predates manylinux.
    assert have["virtualenv"][1].name.endswith("-py2.py3-none-any.whl")


def test_every_wheel_pin_resolves_offline(wh: Path, tmp_path: Path) -> None:
    wheels = [str(req) for name, req in pins().items() if contents(wh)[name][1].suffix == ".whl"]
    assert len(wheels) == len(pins()) - 2  # all but uWSGI and scandir
    cp = offline_pip("--no-deps", "--find-links", str(wh), "--dest", str(tmp_path), *wheels)
    assert cp.returncode == 0, cp.stderr
    assert len(list(tmp_path.iterdir())) == len(wheels)


def test_step_5_1_resolves_offline_with_the_pinned_set(wh: Path, tmp_path: Path) -> None:
    """Flask's wheels with their dependencies, as the guest's pip resolves them (pip evaluates
    markers for this host's Python here, hence the closure test above for the 2.7-only ones)."""
    cp = offline_pip("--find-links", str(wh), "-c", str(wh / wheelhouse.COPY), "--dest", str(tmp_path), "flask")
    assert cp.returncode == 0, cp.stderr
    got = sorted(p.name for p in tmp_path.iterdir())
    assert got == sorted(
        contents(wh)[n][1].name for n in ("flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click")
    )


def test_missing_reports_a_gap(wh: Path, tmp_path: Path) -> None:
    """The closure check is real: without zipp, importlib-metadata's Python 2.7 need is reported."""
    gappy = tmp_path / "wh"
    shutil.copytree(wh, gappy, ignore=shutil.ignore_patterns("zipp-*"))
    problems = missing(gappy)
    assert "pinned zipp==1.2.0 is not there" in problems
    assert any(p.startswith("importlib-metadata needs zipp>=0.5") for p in problems)


def test_second_ensure_uses_the_cache(wh: Path) -> None:
    assert ensure() is False


def test_constraints_pin_the_last_python27_releases() -> None:
    expected = {
        "virtualenv": "20.15.1", "flask": "1.1.4", "werkzeug": "1.0.1", "jinja2": "2.11.3", "markupsafe": "1.1.1",
        "itsdangerous": "1.1.0", "click": "7.1.2", "uwsgi": "2.0.30",
    }  # fmt: skip
    got = {name: str(req.specifier).removeprefix("==") for name, req in pins().items()}
    assert expected.items() <= got.items()
