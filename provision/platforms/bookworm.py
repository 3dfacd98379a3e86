"""Debian 12 (oldstable) with systemd: Python 3.11 only, pip under PEP 668."""

from provision.platforms import debian
from provision.platforms.base import Platform

BOOKWORM = Platform(
    name="bookworm",
    description="Debian 12 with systemd: Python 3.11 only, pip under PEP 668",
    expect=debian.expectations((*debian.PYTHON3_PACKAGES, "virtualenv"), debian.NO_PYTHON_PIP, python="3.11"),
    targets=("podman", "vagrant", "ssh"),
    image=debian.image("bookworm"),
    deviations=(*debian.python3_only("Debian 12"), debian.systemd_unit("Debian 12")),
)
