"""Platforms a rehearsal runs on, and the deviations each needs from the tutorial.

A deviation replaces fields of one step (its commands, files, probe or claims) and carries a
one-line reason. In `literal` mode none are applied: the steps run exactly as printed.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

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
            used = self.deviations_for(step.id) if mode == "adapted" else ()
            for dev in used:
                step = dev.apply(step)
            out.append((step, used))
        return tuple(out)


MODES = ("adapted", "literal")

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

TRUSTY = Platform(
    name="trusty",
    description="Ubuntu 14.04 with Upstart: the tutorial's own platform (ubuntu/trusty64 under Vagrant)",
    init="upstart",
)

PLATFORMS: Mapping[str, Platform] = MappingProxyType({p.name: p for p in (TRUSTY, BOOKWORM)})


def get(name: str) -> Platform:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise ValueError(f"unknown platform {name!r} (choose from {', '.join(PLATFORMS)})") from None
