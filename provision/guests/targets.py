"""Targets: which driver a `--target` names, and the default one on this host."""

import shutil
from pathlib import Path

from provision.errors import UsageError
from provision.guests.driver import Driver, GuestSpec
from provision.guests.podman import PodmanDriver
from provision.guests.ssh import SshDriver
from provision.guests.vagrant import VagrantDriver


def default_target() -> str:
    """VirtualBox present: the tutorial's own box under Vagrant. Otherwise the podman stand-in."""
    return "vagrant" if shutil.which("VBoxManage") else "podman"


def target_kind(target: str) -> str:
    """The driver a target names: `podman`, `vagrant`, or `ssh` for `ssh://user@host[:port]`."""
    if target in ("podman", "vagrant"):
        return target
    if target.startswith("ssh://"):
        return "ssh"
    raise UsageError(f"unknown target {target!r} (choose podman, vagrant or ssh://user@host)")


def get_driver(target: str, spec: GuestSpec, workdir: Path, *, caches: bool = True) -> Driver:
    """The driver for `target`, about to make or reach the guest `spec`; `caches`: a new podman guest
    reuses apt's archives and pip's wheels from earlier ones."""
    match target_kind(target):
        case "podman":
            return PodmanDriver(spec, workdir, caches=caches)
        case "vagrant":
            return VagrantDriver(spec, workdir)
        case _:
            return SshDriver(spec, workdir, target)
