"""What the Debian stand-ins share: a debootstrapped image booting systemd, and the tutorial's
Upstart job turned into a systemd unit (step 7). Each release's module adds its own deviations."""

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from provision.guests.image import ImageRecipe
from provision.platforms.base import Deviation, Expectations, LiteralBreak
from provision.tutorial.steps import APP_FILES, SOCKET_CLAIM, Claim, File, OnChange, packages_installed

# Where the tutorial verbatim breaks on a Debian without python-pip: E: Package 'python-pip' has no
# installation candidate (exit 100).
NO_PYTHON_PIP = LiteralBreak("3", "sudo apt-get install python-pip python-dev nginx", "python-pip")


def image(suite: str) -> ImageRecipe:
    """A minbase `suite` guest: systemd as PID 1, dbus for systemctl, python3 for testinfra's checks
    and the harness's HTTP probes, sudo for the reader's commands; procps (ps) and iproute2 (ss),
    which a cloud image such as ubuntu/trusty64 has, for testinfra's process and socket checks."""
    return ImageRecipe(suite, ("systemd-sysv", "dbus", "python3", "sudo", "ca-certificates", "procps", "iproute2"))


def expectations(
    packages: tuple[str, ...],
    literal_break: LiteralBreak,
    python: str,
    pins: Path | None = None,
    provided_by: Mapping[str, str] = MappingProxyType({}),
) -> Expectations:
    """What the acceptance suite expects of a Debian guest with systemd and `packages` installed
    (a virtual package as the real one `provided_by` names)."""
    return Expectations(
        init="systemd",
        packages=tuple(provided_by.get(p, p) for p in packages),
        provided_by=provided_by,
        literal_break=literal_break,
        python=python,
        pins=pins,
        service_file="/etc/systemd/system/myproject.service",
        service_log="journalctl -u myproject -n 30 --no-pager -o cat",
        main_pid="systemctl show -p MainPID --value myproject",
        # daemon-reload first: in a container on a cgroup v1 host systemd is not told that a killed
        # service's cgroup emptied, and a bare restart waits out the 90 s stop timeout behind it.
        restart="systemctl daemon-reload && systemctl restart myproject",
    )


def systemd_unit(release: str) -> Deviation:
    """Step 7 on a Debian release that boots systemd (every one since Debian 8)."""
    return Deviation(
        "7",
        f"{release} boots with systemd, not Upstart: the job becomes a unit with the same user, group, "
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
    )


PYTHON3_PACKAGES = ("python3-pip", "python3-dev", "nginx", "build-essential")


def python3_only(release: str) -> tuple[Deviation, Deviation]:
    """Steps 3 and 4.1 on a Debian with no Python 2 and a pip under PEP 668 (Debian 12 and later)."""
    return (
        Deviation(
            "3",
            f"{release} has no Python 2 packages: python-pip/python-dev become python3-pip/python3-dev, "
            "and build-essential brings the gcc that compiling uWSGI needs",
            {
                "run": ("sudo apt-get update", "sudo apt-get install " + " ".join(PYTHON3_PACKAGES)),
                "probe": packages_installed(*PYTHON3_PACKAGES),
            },
        ),
        Deviation(
            "4.1",
            f"{release}'s pip refuses system-wide installs (PEP 668, externally-managed-environment); "
            "Debian's own virtualenv package provides the same `virtualenv` command",
            {"run": ("sudo apt-get install virtualenv",)},
        ),
    )
