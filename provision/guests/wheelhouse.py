"""Trusty's Python 2.7 packages, downloaded on the host and installed offline in the guest.

Trusty's pip 1.5.4 runs on Python 2.7.6, which has no SNI, and PyPI has refused clients without
SNI since 2021. So the host downloads the pinned releases (`constraints-py27.txt`) into the
project's state dir, and the Vagrant guest installs them from its synced folder with `--no-index`.
Run `python -m provision.guests.wheelhouse` to build it (the Vagrantfile does, before `vagrant up`).
"""

import shutil
import sys
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from provision.errors import DriverError
from provision.guests import bounded
from provision.layout import workplace

CONSTRAINTS = Path(__file__).with_name("constraints-py27.txt")
# Beside the Vagrantfile (the checkout's, or the one `rehearse vagrantfile` wrote), whose directory the
# default synced folder maps to /vagrant.
HOST_DIR = workplace() / ".rehearse" / "wheelhouse-py27"
GUEST_DIR = "/vagrant/.rehearse/wheelhouse-py27"
COPY = "constraints.txt"  # the pins, copied beside the packages: the guest's `pip -c` reads them

# Trusty's interpreter: CPython 2.7.6, UCS-4 build (cp27mu), x86_64. pip's --python-version only
# filters tags and Requires-Python; markers are evaluated here against this environment.
DOWNLOAD_SECONDS = 600  # ~20 small files from PyPI
PIP_TARGET = ("--python-version", "2.7", "--implementation", "cp", "--abi", "cp27mu", "--platform", "manylinux1_x86_64")
TRUSTY_PYTHON: dict[str, str] = {k: str(v) for k, v in default_environment().items()} | {
    "python_version": "2.7",
    "python_full_version": "2.7.6",
    "implementation_name": "cpython",
    "implementation_version": "0",  # Python 2 has no sys.implementation
    "platform_python_implementation": "CPython",
    "sys_platform": "linux2",
    "os_name": "posix",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "extra": "",
}


class WheelhouseError(RuntimeError):
    """The wheelhouse could not be downloaded, or lacks something the guest will ask for."""


def pins(constraints: Path = CONSTRAINTS) -> dict[NormalizedName, Requirement]:
    """The pinned requirements, by normalized project name."""
    lines = (line.split("#", 1)[0].strip() for line in constraints.read_text().splitlines())
    reqs = [Requirement(line) for line in lines if line]
    return {canonicalize_name(r.name): r for r in reqs}


def contents(directory: Path) -> dict[NormalizedName, tuple[Version, Path]]:
    """The packages in `directory` (wheels and sdists), by project name."""
    found: dict[NormalizedName, tuple[Version, Path]] = {}
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        try:
            wheel = path.suffix == ".whl"
            name, version = parse_wheel_filename(path.name)[:2] if wheel else parse_sdist_filename(path.name)
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue  # the constraints copy
        if name in found and found[name][0] != version:
            raise WheelhouseError(f"{directory} holds two versions of {name}: pip 1.5.4 would pick the newest")
        found[name] = (version, path)
    return found


def _wheel_requires(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode().splitlines()
    return [Requirement(line.split(":", 1)[1]) for line in lines if line.startswith("Requires-Dist:")]


def missing(directory: Path = HOST_DIR, constraints: Path = CONSTRAINTS) -> list[str]:
    """What an offline install on trusty would fail to find: pins absent, or a wheel's Python 2.7
    dependency with no matching package. Empty when the wheelhouse is complete."""
    have = contents(directory)
    problems = []
    for name, req in pins(constraints).items():
        if name not in have or have[name][0] not in req.specifier:
            problems.append(f"pinned {req} is not there")
    for name, (_, path) in have.items():
        if path.suffix != ".whl":
            continue  # scandir and uWSGI, the sdists, declare no dependencies
        for dep in _wheel_requires(path):
            if dep.marker is not None and not dep.marker.evaluate(TRUSTY_PYTHON):
                continue
            dep_name = canonicalize_name(dep.name)
            if dep_name not in have or not dep.specifier.contains(have[dep_name][0], prereleases=True):
                problems.append(f"{name} needs {dep} (on Python 2.7), which is not there")
    return problems


def download(directory: Path, constraints: Path = CONSTRAINTS) -> None:
    """`pip download` every pin for trusty's Python 2.7 into an emptied `directory`.

    --no-deps: the pins are the whole closure, and pip would evaluate the dependencies' markers for
    this host's Python, not 2.7. The host's pip configuration (index, proxy, CA) applies as usual.
    """
    shutil.rmtree(directory, ignore_errors=True)  # stale versions would confuse pip 1.5.4
    directory.mkdir(parents=True)
    try:
        cp = bounded.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--prefer-binary", *PIP_TARGET,
             "--dest", str(directory), "--requirement", str(constraints)],
            DOWNLOAD_SECONDS,
        )  # fmt: skip
    except DriverError as e:
        raise WheelhouseError(f"pip download: {e}") from None
    if cp.returncode != 0:
        raise WheelhouseError(f"pip download failed (exit {cp.returncode}): {cp.stderr.strip()[-800:]}")
    shutil.copyfile(constraints, directory / COPY)


def ensure(directory: Path = HOST_DIR, constraints: Path = CONSTRAINTS) -> bool:
    """Make `directory` a complete wheelhouse for `constraints`; returns whether it downloaded."""
    copy = directory / COPY
    if copy.is_file() and copy.read_text() == constraints.read_text() and not missing(directory, constraints):
        return False
    download(directory, constraints)
    if problems := missing(directory, constraints):
        raise WheelhouseError("incomplete wheelhouse: " + "; ".join(problems))
    return True


def main() -> int:
    try:
        fetched = ensure()
    except WheelhouseError as e:
        print(f"wheelhouse: error: {e}", file=sys.stderr)
        return 1
    count = len(contents(HOST_DIR))
    print(f"wheelhouse: {count} packages in {HOST_DIR} ({'downloaded' if fetched else 'cached'}); guest: {GUEST_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
