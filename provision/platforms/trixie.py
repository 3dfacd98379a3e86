"""Debian 13 (stable) with systemd: Python 3.13 only, pip under PEP 668, home directories 0700."""

from provision.platforms import debian
from provision.platforms.base import Deviation, Platform

TRIXIE = Platform(
    name="trixie",
    description="Debian 13 with systemd: Python 3.13 only, pip under PEP 668, home directories 0700",
    expect=debian.expectations((*debian.PYTHON3_PACKAGES, "virtualenv"), debian.NO_PYTHON_PIP, python="3.13"),
    targets=("podman", "ssh"),  # the Vagrantfile has no machine for it (yet)
    image=debian.image("trixie"),
    deviations=(
        *debian.python3_only("Debian 13"),
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
