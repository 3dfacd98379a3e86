"""The Python 2.7 wheelhouse, really downloaded from PyPI (cached in the state dir) and complete."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from provision.guests.wheelhouse import GUEST_DIR, HOST_DIR, PIP_TARGET, contents, ensure, missing, pins
from provision.platforms import Mode
from provision.platforms.trusty import TRUSTY


@pytest.fixture(scope="module")
def wh() -> Path:
    ensure()
    return HOST_DIR


def pip_download(*args: str, netns: bool = False) -> subprocess.CompletedProcess[str]:
    """`pip download` for trusty's Python with none of the host's pip configuration or PIP_* variables
    (which may add find-links or mirrors). Wheels only: reading an sdist's metadata would need build
    tools from an index (the sdists are checked by name below). `netns`: in a network namespace with
    no interface up, so only what the arguments point at can satisfy it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
    # --retries 0: were an index asked, its unreachable address should not cost pip minutes of retries.
    unshare = ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"]) if netns else []
    retries = ["--retries", "0"] if netns else []
    return subprocess.run(
        [*unshare, sys.executable, "-m", "pip", "download", *retries, "--only-binary=:all:", *PIP_TARGET, *args],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def offline_pip(*args: str) -> subprocess.CompletedProcess[str]:
    """pip with no index: only the wheelhouse can satisfy it."""
    return pip_download("--no-index", *args)


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
    assert have["uwsgi"][1].name.endswith(".tar.gz")
    assert have["scandir"][1].name.endswith(".tar.gz")
    # Everything the system pip 1.5.4 installs (step 4.1) must be tagged for any platform: it predates manylinux.
    assert have["virtualenv"][1].name.endswith("-py2.py3-none-any.whl")


def test_every_wheel_pin_resolves_offline(wh: Path, tmp_path: Path) -> None:
    wheels = [str(req) for name, req in pins().items() if contents(wh)[name][1].suffix == ".whl"]
    assert len(wheels) == len(pins()) - 2  # all but uWSGI and scandir
    cp = offline_pip("--no-deps", "--find-links", str(wh), "--dest", str(tmp_path), *wheels)
    assert cp.returncode == 0, cp.stderr
    assert len(list(tmp_path.iterdir())) == len(wheels)


@pytest.mark.parametrize("step_id", ["4.1", "5.1"])
def test_adapted_pip_step_resolves_offline_from_the_wheelhouse(wh: Path, tmp_path: Path, step_id: str) -> None:
    """The adapted step's own `pip install` options, its guest path pointed at the host's wheelhouse,
    in a namespace with no network: they alone must find every wheel it asks for with its dependencies
    (this host's pip and markers; the closure test above covers Python 2.7's)."""
    [command] = next(p.step.run for p in TRUSTY.plan(Mode.ADAPTED) if p.step.id == step_id)
    assert isinstance(command, str) and GUEST_DIR in command
    words = shlex.split(command.replace(GUEST_DIR, str(wh)))
    words = words[1:] if words[0] == "sudo" else words
    assert words[:2] == ["pip", "install"]
    args = words[2:]
    have = contents(wh)
    sdists = {name for name, (_, path) in have.items() if path.suffix != ".whl"}
    asked = [a for a in args if canonicalize_name(a) in have and canonicalize_name(a) not in sdists]
    assert asked
    cp = pip_download(*(a for a in args if canonicalize_name(a) not in sdists), "--dest", str(tmp_path), netns=True)
    assert cp.returncode == 0, cp.stderr
    got = {p.name for p in tmp_path.iterdir()}
    assert {have[canonicalize_name(a)][1].name for a in asked} <= got <= {path.name for _, path in have.values()}


def test_missing_reports_a_gap(wh: Path, tmp_path: Path) -> None:
    """The closure check is real: without zipp, importlib-metadata's Python 2.7 need is reported."""
    gappy = tmp_path / "wh"
    shutil.copytree(wh, gappy, ignore=shutil.ignore_patterns("zipp-*"))
    problems = missing(gappy)
    assert "pinned zipp==1.2.0 is not there" in problems
    assert any(p.startswith("importlib-metadata needs zipp>=0.5") for p in problems)


def test_second_ensure_uses_the_cache(wh: Path) -> None:
    assert ensure() is False


def test_deviation_reasons_name_the_pinned_versions() -> None:
    """Reports quote trusty's deviation reasons: a pinned project they name must carry its pinned version."""
    named = [
        m.groups() for d in TRUSTY.deviations for m in re.finditer(r"([A-Za-z][\w.-]*) (\d+(?:\.\d+)+)\b", d.reason)
    ]
    quoted = {canonicalize_name(name): version for name, version in named if canonicalize_name(name) in pins()}
    assert quoted, "the reasons name no pinned version"
    assert {name: str(pins()[name].specifier) for name in quoted} == {name: f"=={v}" for name, v in quoted.items()}
