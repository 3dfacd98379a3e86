"""Where the tool's parts are: its shipped files, the checkout it may run from, and where the user works.

The tutorial's files (`app/`) and the Vagrantfile stay at the checkout's top level; `provision/app` and
`provision/Vagrantfile` are symbolic links to them, so the wheel carries them as package data and both an
installed tool and a checkout read them through importlib.resources, one code path.
"""

from importlib import resources
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent  # a checkout: pyproject.toml, app/, tests/; else site-packages


def _shipped(name: str) -> Path:
    found = resources.files("provision") / name
    # A package installed or checked out on disk: its resources are plain files (never a zip).
    assert isinstance(found, Path), f"provision is not on a file system: {found!r}"
    return found


APP = _shipped("app").resolve()  # the tutorial's artifacts, byte for byte with placeholders
VAGRANTFILE = _shipped("Vagrantfile")  # the project's Vagrantfile, for `rehearse vagrantfile`


def checkout() -> Path | None:
    """The source checkout this code runs from (its tests, its own Vagrantfile), or None when installed."""
    return PROJECT if (PROJECT / "pyproject.toml").is_file() and (PROJECT / "tests").is_dir() else None


def workplace() -> Path:
    """Where the user works, whose guests and Vagrant state are theirs: the checkout when running from
    one (as `./rehearse` does), else the current directory (as `.molecule`, `.kitchen`)."""
    return checkout() or Path.cwd().resolve()
