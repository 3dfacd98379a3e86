"""Debian 11 (LTS until 2026) with systemd: the last Debian with the tutorial's Python 2.7."""

from types import MappingProxyType

from provision.guests import wheelhouse
from provision.platforms import debian
from provision.platforms.base import Deviation, Platform
from provision.tutorial.steps import packages_installed

PACKAGES = ("python-pip-whl", "python-setuptools", "python-dev", "nginx", "build-essential")
# python-dev is the tutorial's own word: apt installs its one provider.
PROVIDED_BY = MappingProxyType({"python-dev": "python-dev-is-python2"})
WHEELS = "/usr/share/python-wheels"  # where Debian's *-whl packages put their wheels
# pip runs from its own wheel (a zip on sys.path) to install itself.
BOOTSTRAP_PIP = (
    f'whl=$(echo {WHEELS}/pip-*.whl) && sudo python2 "$whl/pip" install --no-index --find-links {WHEELS} pip'
)

BULLSEYE = Platform(
    name="bullseye",
    description="Debian 11 with systemd: the last Debian with the tutorial's Python 2.7",
    # The tutorial's Python 2.7, with what pip resolves for it: the last releases that support it.
    expect=debian.expectations(
        PACKAGES, debian.NO_PYTHON_PIP, python="2.7", pins=wheelhouse.CONSTRAINTS, provided_by=PROVIDED_BY
    ),
    targets=("podman", "ssh"),  # the Vagrantfile has no machine for it (yet)
    image=debian.image("bullseye"),
    deviations=(
        Deviation(
            "3",
            "Debian 11 has Python 2.7 (python-dev installs as written) but no python-pip: pip 20.3.4, the last "
            "for Python 2, installs itself from Debian's own wheel (python-pip-whl), with python-setuptools, "
            "which python-pip depends on (pip builds scandir's and uWSGI's sources with it); "
            "build-essential brings the gcc that compiling uWSGI needs",
            {
                "run": ("sudo apt-get update", "sudo apt-get install " + " ".join(PACKAGES), BOOTSTRAP_PIP),
                "probe": packages_installed(*(PROVIDED_BY.get(p, p) for p in PACKAGES)) + " && command -v pip",
            },
        ),
        debian.systemd_unit("Debian 11"),
    ),
)
