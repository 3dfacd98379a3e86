"""`rehearse vagrantfile`: the project's Vagrantfile for a directory outside the checkout.

The copy is the shipped Vagrantfile with its `REHEARSE` and `PYTHON` lines naming the running tool's own
executables, so `vagrant up` there provisions through the installed `rehearse`, whatever is on PATH.
"""

import shutil
import sys
from pathlib import Path

from provision.errors import DriverError
from provision.layout import VAGRANTFILE


def ruby_string(text: str) -> str:
    """`text` as a single-quoted Ruby literal: no interpolation; only backslash and quote are escaped."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def installed_tools() -> tuple[Path, Path]:
    """The running tool's `rehearse` and Python: the venv's (pipx's included), else `rehearse` on PATH."""
    python = Path(sys.executable)  # not resolved: a venv's python is a link out of the venv
    beside = python.parent / "rehearse"
    found = beside if beside.is_file() else shutil.which("rehearse")
    if found is None:
        raise DriverError(f"no `rehearse` beside {python} nor on PATH: install the tool (pipx install …) first")
    return Path(found).absolute(), python.absolute()


def render(rehearse: Path, python: Path) -> str:
    """The Vagrantfile with its provisioner and trigger calling `rehearse` and `python`."""
    lines = VAGRANTFILE.read_text().splitlines(keepends=True)
    for name, path in (("REHEARSE", rehearse), ("PYTHON", python)):
        if not path.is_absolute() or "\n" in str(path):
            raise DriverError(f"{name}: expected an absolute path on one line, got {str(path)!r}")
        at = [i for i, line in enumerate(lines) if line.startswith(f"{name} = ")]
        if len(at) != 1:
            raise DriverError(f"the shipped Vagrantfile {VAGRANTFILE} has {len(at)} `{name} = ` lines, not one")
        lines[at[0]] = f"{name} = {ruby_string(str(path))}\n"
    return "".join(lines)
