"""Debian 12 with systemd: the stand-in guest that runs where ubuntu/trusty64 cannot."""

from provision.guests.image import ImageRecipe
from provision.platforms.base import Deviation, Expectations, Platform
from provision.tutorial.steps import APP_FILES, SOCKET_CLAIM, Claim, File, OnChange, packages_installed

PACKAGES = ("python3-pip", "python3-dev", "nginx", "build-essential")

BOOKWORM = Platform(
    name="bookworm",
    description="Debian 12 with systemd: the stand-in guest that runs where ubuntu/trusty64 cannot",
    expect=Expectations(
        init="systemd",
        packages=(*PACKAGES, "virtualenv"),
        service_file="/etc/systemd/system/myproject.service",
        service_log="journalctl -u myproject -n 30 --no-pager -o cat",
        main_pid="systemctl show -p MainPID --value myproject",
        # daemon-reload first: in a container on a cgroup v1 host systemd is not told that a killed
        # service's cgroup emptied, and a bare restart waits out the 90 s stop timeout behind it.
        restart="systemctl daemon-reload && systemctl restart myproject",
    ),
    targets=("podman", "vagrant", "ssh"),
    # systemd as PID 1, dbus for systemctl, python3 for testinfra's checks and the harness's HTTP
    # probes, sudo for the reader's commands; procps (ps) and iproute2 (ss), which a cloud image
    # such as ubuntu/trusty64 has, for testinfra's process and socket checks.
    image=ImageRecipe("bookworm", ("systemd-sysv", "dbus", "python3", "sudo", "ca-certificates", "procps", "iproute2")),
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
                "on_change": OnChange(APP_FILES, ("sudo systemctl daemon-reload", "sudo systemctl restart myproject")),
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
