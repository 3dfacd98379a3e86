"""What the host needs for each target, and the one `apt-get install` line that provides what it lacks.

`rehearse doctor` reports from this table; a command that finds a tool missing ends with the same line;
`./rehearse` in a checkout installs what it reports before its venv exists (standard library only:
`python3 -m provision.prerequisites` prints the Debian packages the host lacks).
"""

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from provision.errors import DriverError

TARGETS = ("podman", "vagrant", "ssh")
APT_TIMEOUT = 1800  # seconds for `apt-get update` and the install together, each


class MissingPrerequisite(DriverError):
    """A host tool a command needs is not installed; the message ends with the line that installs it."""


@dataclass(frozen=True)
class Prerequisite:
    commands: tuple[str, ...]  # any one of them on PATH will do
    package: str  # the Debian package that provides it
    purpose: str
    targets: tuple[str, ...] = TARGETS

    @property
    def name(self) -> str:
        return self.commands[0]

    def present(self) -> bool:
        return any(shutil.which(c) for c in self.commands)


PREREQUISITES = (
    Prerequisite(("podman",), "podman", "makes the stand-in guest", ("podman",)),
    Prerequisite(("runc",), "runc", "runs the stand-in with systemd as PID 1", ("podman",)),
    Prerequisite(("debootstrap",), "debootstrap", "builds the stand-in's image", ("podman",)),
    Prerequisite(("vagrant",), "vagrant", "makes the Vagrant guest", ("vagrant",)),
    Prerequisite(("ssh",), "openssh-client", "reaches a Vagrant or ssh:// guest", ("vagrant", "ssh")),
    Prerequisite(("chromium", "chromium-browser"), "chromium", "the browser claim: how the page looks"),
    Prerequisite(("wrk",), "wrk", "the load tool"),
)


def for_target(target: str) -> list[Prerequisite]:
    return [p for p in PREREQUISITES if target in p.targets]


def missing(rows: Iterable[Prerequisite] = PREREQUISITES) -> list[Prerequisite]:
    return [p for p in rows if not p.present()]


def as_root(argv: list[str]) -> list[str]:
    return argv if os.geteuid() == 0 else ["sudo", *argv]


def install_argv(rows: Iterable[Prerequisite]) -> list[str]:
    packages = list(dict.fromkeys(p.package for p in rows))
    env = ["env", "DEBIAN_FRONTEND=noninteractive"]
    return as_root([*env, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages])


def fix_line(rows: Iterable[Prerequisite]) -> str:
    """The one shell line that installs `rows`' packages."""
    return shlex.join(install_argv(rows))


def require(target: str, *commands: str) -> None:
    """Unless every one of `commands` is on PATH, raise MissingPrerequisite with the line `rehearse doctor`
    prints for `target`: it installs whatever the target lacks."""
    rows = for_target(target)
    if lacking := [p for p in missing(rows) if p.name in commands]:
        names = ", ".join(f"{p.name} ({p.purpose})" for p in lacking)
        raise MissingPrerequisite(
            f"not found on PATH: {names}; the {target} target needs it. Install with: {fix_line(missing(rows))}"
        )


def install(rows: list[Prerequisite]) -> int:
    """apt-get update, then the fix line; their exit status."""
    for argv in (as_root(["apt-get", "update", "-q"]), install_argv(rows)):
        print(f"doctor: running {shlex.join(argv)}", flush=True)
        try:
            code = subprocess.run(argv, check=False, timeout=APT_TIMEOUT).returncode
        except subprocess.TimeoutExpired:
            print(f"doctor: error: `{shlex.join(argv)}` took over {APT_TIMEOUT} s", file=sys.stderr)
            return 1
        if code != 0:
            return code
    return 0


def doctor(targets: Iterable[str], *, fix: bool = False) -> int:
    """Per target, what it needs and whether the host has it; then the fix line. Exit 1 if anything
    is missing (after `fix`: if installing failed)."""
    chosen = list(targets)
    for target in chosen:
        print(f"target {target}:")
        for p in for_target(target):
            print(f"  {'ok     ' if p.present() else 'MISSING'}  {p.name:<12} {p.package:<15} {p.purpose}")
    lacking = missing([p for p in PREREQUISITES if set(p.targets) & set(chosen)])
    if not lacking:
        print("doctor: the host has everything these targets need")
        return 0
    print(f"doctor: missing {', '.join(p.name for p in lacking)}; install with:\n{fix_line(lacking)}")
    if not fix:
        return 1
    if (code := install(lacking)) != 0:
        print(f"doctor: error: installing failed (exit {code})", file=sys.stderr)
        return 1
    return doctor(chosen)


if __name__ == "__main__":
    # For `./rehearse` before its venv exists: the Debian packages the host lacks, one per line.
    for package in dict.fromkeys(p.package for p in missing()):
        print(package)
