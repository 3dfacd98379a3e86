"""Debian 12 (oldstable) with systemd: Python 3.11 only, pip under PEP 668."""

from provision.platforms import debian
from provision.platforms.base import Deviation, Platform
from provision.tutorial.steps import packages_installed

PACKAGES = ("python3-pip", "python3-dev", "nginx", "build-essential")

BOOKWORM = Platform(
    name="bookworm",
    description="Debian 12 with systemd: Python 3.11 only, pip under PEP 668",
    expect=debian.expectations((*PACKAGES, "virtualenv"), debian.NO_PYTHON_PIP, python="3.11"),
    targets=("podman", "vagrant", "ssh"),
    image=debian.image("bookworm"),
    deviations=(
        Deviation(
            "3",
            "Debian 12 has no Python 2 packages: python-pip/python-dev become python3-pip/python3-dev, "
            "and build-essential brings the gcc that compiling uWSGI needs",
            {
                "run": ("sudo apt-get update", "sudo apt-get install " + " ".join(PACKAGES)),
                "probe": packages_installed(*PACKAGES),
            },
        ),
        Deviation(
            "4.1",
            "Debian 12's pip refuses system-wide installs (PEP 668, externally-managed-environment); "
            "Debian's own virtualenv package provides the same `virtualenv` command",
            {"run": ("sudo apt-get install virtualenv",)},
        ),
        debian.systemd_unit("Debian 12"),
    ),
)
