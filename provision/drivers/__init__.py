"""Drivers: how a guest is created, reached and destroyed. One module per driver, one contract."""

import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from provision.platforms import Platform


class DriverError(RuntimeError):
    """A guest could not be created or reached; the message is the one line the user sees."""


class Driver(ABC):
    name: ClassVar[str]
    platforms: ClassVar[tuple[str, ...]]  # platforms this driver can boot
    tool: ClassVar[str]  # the host command it needs

    def __init__(self, platform: Platform, workdir: Path) -> None:
        if platform.name not in self.platforms:
            raise DriverError(
                f"the {self.name} driver cannot boot platform {platform.name!r} (it boots: {', '.join(self.platforms)})"
            )
        if shutil.which(self.tool) is None:
            raise DriverError(f"{self.tool} not found on PATH: the {self.name} driver needs it (see README, set-up)")
        self.platform = platform
        self.workdir = workdir

    @property
    def target(self) -> str:
        """Short name for reports: `podman`, `vagrant`, `ssh://user@host`."""
        return self.name

    @abstractmethod
    def up(self) -> None:
        """Create or start the guest; a no-op when it is already running."""

    @abstractmethod
    def destroy(self) -> None:
        """Remove the guest; a no-op when it is absent."""

    def reboot(self) -> None:
        """Restart the guest through its init system and return once it has booted."""
        raise DriverError(f"the {self.name} driver cannot reboot its guest")

    def purge(self) -> None:  # noqa: B027 (deliberately empty: most drivers cache nothing)
        """Also drop what is cached to create the guest quickly (a base image); default: nothing."""

    @abstractmethod
    def status(self) -> str:
        """One word: running, stopped or absent."""

    @abstractmethod
    def host_spec(self) -> str:
        """The testinfra connection string (`podman://NAME`, `ssh://…?ssh_config=…`)."""

    @abstractmethod
    def http_url(self) -> str:
        """Where the guest's port 80 is reachable from the host, on loopback only."""


def default_target() -> str:
    """VirtualBox present: the tutorial's own box under Vagrant. Otherwise the podman stand-in."""
    return "vagrant" if shutil.which("VBoxManage") else "podman"


def get_driver(target: str, platform: Platform, workdir: Path) -> Driver:
    """The driver for `target`: `podman`, `vagrant` or `ssh://user@host[:port]`."""
    # Imported here: each driver module imports this one for the base class.
    if target == "podman":
        from provision.drivers.podman import PodmanDriver

        return PodmanDriver(platform, workdir)
    if target == "vagrant":
        from provision.drivers.vagrant import VagrantDriver

        return VagrantDriver(platform, workdir)
    if target.startswith("ssh://"):
        from provision.drivers.ssh import SshDriver

        return SshDriver(platform, workdir, target)
    raise DriverError(f"unknown target {target!r} (choose podman, vagrant or ssh://user@host)")


TARGET_PLATFORM = {"podman": "bookworm", "vagrant": "trusty"}
