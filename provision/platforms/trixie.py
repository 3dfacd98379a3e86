"""Debian 13 (stable) with systemd: Python 3.13 only, pip under PEP 668, home directories 0700."""

from provision.platforms import debian
from provision.platforms.base import Deviation, Platform
from provision.tutorial.steps import packages_installed

PACKAGES = ("python3-pip", "python3-dev", "nginx", "build-essential")

TRIXIE = Platform(
    name="trixie",
    description="Debian 13 with systemd: Python 3.13 only, pip under PEP 668",
    expect=debian.expectations((*PACKAGES, "virtualenv"), debian.NO_PYTHON_PIP, python="3.13"),
    targets=("podman", "ssh"),  # the Vagrantfile has no machine for it (yet)
    image=debian.image("trixie"),
    deviations=(
        Deviation(
            "3",
            "Debian 13 has no Python 2 packages: python-pip/python-dev become python3-pip/python3-dev, "
            "and build-essential brings the gcc that compiling uWSGI needs",
            {
                "run": ("sudo apt-get update", "sudo apt-get install " + " ".join(PACKAGES)),
                "probe": packages_installed(*PACKAGES),
            },
        ),
        Deviation(
            "4.1",
            "Debian 13's pip refuses system-wide installs (PEP 668, externally-managed-environment); "
            "Debian's own virtualenv package provides the same `virtualenv` command",
            {"run": ("sudo apt-get install virtualenv",)},
        ),
        debian.systemd_unit("Debian 13"),
        Deviation(
            "8.4",
            "Debian 13 makes new home directories 0700 (HOME_MODE in /etc/login.defs), so nginx's www-data "
            "cannot reach the socket in ~/myproject (502 Bad Gateway, connect() ... Permission denied): "
            "`chmod o+x ~` lets it through the home directory, without letting it read it",
            {"run": ("chmod o+x ~", "sudo service nginx restart")},
            revert=("chmod o-x ~",),
        ),
    ),
)
