"""Ubuntu 14.04 with Upstart: the tutorial's own platform (ubuntu/trusty64 under Vagrant)."""

from provision.guests import wheelhouse
from provision.platforms.base import Deviation, Expectations, LiteralBreak, Platform
from provision.tutorial.steps import packages_installed

PACKAGES = ("python-pip", "python-dev", "nginx", "build-essential")
# Only if trusty has left the main archive: point apt at old-releases and update again.
OLD_RELEASES = (
    "sudo sed -i -E 's#https?://([a-z.]+\\.)?(archive|security)\\.ubuntu\\.com/ubuntu#"
    "http://old-releases.ubuntu.com/ubuntu#' /etc/apt/sources.list && sudo apt-get update"
)
# pip 1.5.4 on Python 2.7.6 sends no SNI, which PyPI has required since 2021: both installs come
# from the wheelhouse the host downloaded (provision/guests/wheelhouse.py), read through /vagrant.
OFFLINE_PIP = f"--no-index --find-links {wheelhouse.GUEST_DIR}"

TRUSTY = Platform(
    name="trusty",
    description="Ubuntu 14.04 with Upstart: the tutorial's own platform (ubuntu/trusty64 under Vagrant)",
    expect=Expectations(
        init="upstart",
        packages=PACKAGES,
        service_file="/etc/init/myproject.conf",
        service_log="tail -n 30 /var/log/upstart/myproject.log",
        main_pid="initctl status myproject | grep -o '[0-9]*$'",
        restart="restart myproject || start myproject",
        # pip 1.5.4 has no SNI, which PyPI requires: no index, no download (unverified here)
        literal_break=LiteralBreak("4.1", "sudo pip install virtualenv", "virtualenv"),
        python="2.7",
        pins=wheelhouse.CONSTRAINTS,
    ),
    targets=("vagrant", "ssh"),
    deviations=(
        Deviation(
            "3",
            "build-essential brings the gcc that compiling uWSGI's source needs; "
            "if trusty has left the main archive, apt falls back to old-releases.ubuntu.com",
            {
                "run": (f"sudo apt-get update || {{ {OLD_RELEASES}; }}", "sudo apt-get install " + " ".join(PACKAGES)),
                "probe": packages_installed(*PACKAGES),
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
            "uWSGI 2.0.31 built from source) install from the host-built wheelhouse",
            {"run": (f"pip install {OFFLINE_PIP} -c {wheelhouse.GUEST_DIR}/{wheelhouse.COPY} uwsgi flask",)},
        ),
    ),
)
