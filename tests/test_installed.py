"""The tool as its wheel installs it, outside the checkout: what it ships, where its state goes.

The wheel is built for real (`pip wheel`) and unpacked into a directory put first on PYTHONPATH (its
dependencies are this environment's); each command runs from an empty directory. `.ci/installed.sh` does
the whole path (wheel and sdist, a fresh venv, `rehearse up` on a fresh guest); these tests are its quick part.
"""

import filecmp
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from renderings import seed_path

from provision.layout import PROJECT


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from this checkout and unpacked as pip would install it."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(dist), str(PROJECT)],
        check=True, timeout=600, capture_output=True,
    )  # fmt: skip
    (wheel,) = dist.glob("*.whl")
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    return site


def installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python ARGS` with the unpacked wheel first on the path, from `cwd`."""
    env = os.environ | {"PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_wheel_carries_the_tutorials_files_and_the_vagrantfile_byte_for_byte(site: Path) -> None:
    shipped = site / "provision" / "app"
    assert not shipped.is_symlink()  # the files themselves, not the checkout's link
    names = sorted(p.relative_to(PROJECT / "app").as_posix() for p in (PROJECT / "app").rglob("*") if p.is_file())
    assert sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob("*") if p.is_file()) == names
    assert all(filecmp.cmp(PROJECT / "app" / n, shipped / n, shallow=False) for n in names)
    assert filecmp.cmp(PROJECT / "Vagrantfile", site / "provision" / "Vagrantfile", shallow=False)
    assert (site / "provision" / "guests" / "constraints-py27.txt").is_file()
    assert sorted(p.name for p in (site / "provision" / "reports" / "templates").iterdir()) == [
        "matrix.html.j2", "report.html.j2",
    ]  # fmt: skip


def test_installed_tool_finds_its_files_through_the_package(site: Path, tmp_path: Path) -> None:
    code = "from provision.layout import APP, checkout; print(APP); print(checkout())"
    cp = installed(site, tmp_path, "-c", code)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.splitlines() == [str(site / "provision" / "app"), "None"]


def test_installed_drift_reads_the_shipped_files_from_an_empty_directory(site: Path, tmp_path: Path) -> None:
    cp = installed(site, tmp_path, "-m", "provision.cli", "drift", str(seed_path()))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "every code block matches the catalogue" in cp.stdout
    assert list(tmp_path.iterdir()) == []  # drift keeps no state


def test_guest_identity_is_per_working_directory_when_installed(site: Path, tmp_path: Path) -> None:
    code = "from provision.guests.lock import checkout_id; print(checkout_id())"
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    ids = [installed(site, d, "-c", code).stdout.strip() for d in (one, two, one)]
    assert len(ids[0]) == 8 and ids[0] != ids[1] and ids[0] == ids[2]


def test_installed_state_goes_to_the_working_directory(site: Path, tmp_path: Path) -> None:
    cp = installed(site, tmp_path, "-m", "provision.cli", "report", "--target", "ssh://deploy@example.test")
    assert cp.returncode == 2
    assert (tmp_path / ".rehearse" / "ssh_deploy_example.test-trusty").is_dir()
    assert "report.json" in cp.stderr  # nothing to render yet: one line naming the missing record


def test_installed_vagrant_target_asks_for_a_vagrantfile(site: Path, tmp_path: Path) -> None:
    cp = installed(site, tmp_path, "-m", "provision.cli", "status", "--target", "vagrant")
    assert cp.returncode == 2
    assert cp.stderr.splitlines() == [
        f"rehearse: error: no Vagrantfile in {tmp_path.resolve()}: "
        "write the project's with `rehearse vagrantfile > Vagrantfile`"
    ]


def test_installed_verify_says_the_suite_stays_in_the_checkout(site: Path, tmp_path: Path) -> None:
    cp = installed(site, tmp_path, "-m", "provision.cli", "verify", "--target", "ssh://deploy@example.test")
    assert cp.returncode == 2
    assert cp.stderr.splitlines() == [
        "rehearse: error: the acceptance suite stays in the checkout: `verify` runs from a checkout of this project"
    ]
