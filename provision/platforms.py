"""Platforms a rehearsal runs on, and the deviations each needs from the tutorial.

A deviation replaces fields of one step (its commands, files, probe or claims) and carries a
one-line reason. In `literal` mode none are applied: the steps run exactly as printed.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from provision import wheelhouse
from provision.steps import SOCKET_CLAIM, TUTORIAL, Claim, File, Step, packages_installed


@dataclass(frozen=True)
class Deviation:
    step: str
    reason: str
    changes: Mapping[str, Any]  # Step field -> replacement value

    def apply(self, step: Step) -> Step:
        return replace(step, **self.changes)


@dataclass(frozen=True)
class Platform:
    name: str
    description: str
    init: str  # the init system testinfra's `host.service` should find: "upstart" or "systemd"
    deviations: tuple[Deviation, ...] = ()

    def deviations_for(self, step_id: str) -> tuple[Deviation, ...]:
        return tuple(d for d in self.deviations if d.step == step_id)

    def steps(self, mode: str) -> tuple[tuple[Step, tuple[Deviation, ...]], ...]:
        """The catalogue as this platform runs it in `mode`, each step with the deviations applied."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
        out = []
        for step in TUTORIAL:
            used = self.deviations_for(step.id) if mode != "literal" else ()
            for dev in used:
                step = dev.apply(step)
            out.append((step, used))
        return tuple(out)


# adapted: deviations applied; literal: the tutorial verbatim, stopping at the first break;
# audit: adapted, but each deviated step is first tried as written, so every deviation is earned.
MODES = ("adapted", "literal", "audit")

BOOKWORM_PACKAGES = ("python3-pip", "python3-dev", "nginx", "build-essential")

BOOKWORM = Platform(
    name="bookworm",
    description="Debian 12 with systemd: the stand-in guest that runs where ubuntu/trusty64 cannot",
    init="systemd",
    deviations=(
        Deviation(
            "3",
            "Debian 12 has no Python 2 packages: python-pip/python-dev become python3-pip/python3-dev, "
            "and build-essential brings the gcc that compiling uWSGI needs",
            {
                "run": ("sudo apt-get update", "sudo apt-get install " + " ".join(BOOKWORM_PACKAGES)),
                "probe": packages_installed(*BOOKWORM_PACKAGES),
            },
        ),
        Deviation(
            "4.1",
            "Debian 12's pip refuses system-wide installs (PEP 668, externally-managed-environment); "
            "Debian's own virtualenv package provides the same `virtualenv` command",
            {"run": ("sudo apt-get install virtualenv",)},
        ),
        Deviation(
            "7",
            "Debian 12 boots with systemd, not Upstart: the job becomes a unit with the same user, group, "
            "PATH, working directory and command (ExecStart must be absolute), started and enabled with systemctl",
            {
                "files": (File("/etc/systemd/system/myproject.service", "myproject.service", sudo=True),),
                "run": (
                    "sudo systemctl daemon-reload",
                    "sudo systemctl enable myproject",
                    "sudo systemctl restart myproject",
                ),
                "probe": "systemctl is-active --quiet myproject && systemctl is-enabled --quiet myproject",
                "claims": (
                    SOCKET_CLAIM,
                    Claim(
                        "starts-at-boot",
                        "the service starts at boot (enabled for multi-user.target)",
                        "systemctl is-enabled myproject",
                        expect="enabled\n",
                    ),
                ),
            },
        ),
    ),
)

TRUSTY_PACKAGES = ("python-pip", "python-dev", "nginx", "build-essential")
# Only if trusty has left the main archive: point apt at old-releases and update again.
OLD_RELEASES = (
    "sudo sed -i -E 's#https?://([a-z.]+\\.)?(archive|security)\\.ubuntu\\.com/ubuntu#"
    "http://old-releases.ubuntu.com/ubuntu#' /etc/apt/sources.list && sudo apt-get update"
)
# pip 1.5.4 on Python 2.7.6 sends no SNI, which PyPI has required since 2021: both installs come
# from the wheelhouse the host downloaded (provision/wheelhouse.py), read through /vagrant.
OFFLINE_PIP = f"--no-index --find-links {wheelhouse.GUEST_DIR}"

TRUSTY = Platform(
    name="trusty",
    description="Ubuntu 14.04 with Upstart: the tutorial's own platform (ubuntu/trusty64 under Vagrant)",
    init="upstart",
    deviations=(
        Deviation(
            "3",
            "build-essential brings the gcc that compiling uWSGI's source needs; "
            "if trusty has left the main archive, apt falls back to old-releases.ubuntu.com",
            {
                "run": (
                    f"sudo apt-get update || {{ {OLD_RELEASES}; }}",
                    "sudo apt-get install " + " ".join(TRUSTY_PACKAGES),
                ),
                "probe": packages_installed(*TRUSTY_PACKAGES),
            },
        ),
        Deviation(
            "4.1",
            "trusty's pip 1.5.4 (Python 2.7.6, no SNI) cannot reach PyPI: virtualenv 20.15.1, the last for "
            f"Python 2.7, installs from the host-built wheelhouse ({wheelhouse.GUEST_DIR})",
            {"run": (f"sudo pip install {OFFLINE_PIP} virtualenv",)},
        ),
        Deviation(
            "5.1",
            "the venv's pip cannot reach PyPI either (no SNI): the last Python 2.7 releases (Flask 1.1.4, "
            "uWSGI 2.0.30 built from source) install from the host-built wheelhouse",
            {"run": (f"pip install {OFFLINE_PIP} -c {wheelhouse.GUEST_DIR}/{wheelhouse.COPY} uwsgi flask",)},
        ),
    ),
)

PLATFORMS: Mapping[str, Platform] = MappingProxyType({p.name: p for p in (TRUSTY, BOOKWORM)})


def get(name: str) -> Platform:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise ValueError(f"unknown platform {name!r} (choose from {', '.join(PLATFORMS)})") from None
