"""Drivers: how a guest is created, reached and destroyed. One module per driver, one contract."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from provision.errors import DriverError
from provision.guests.image import ImageRecipe
from provision.prerequisites import require


@dataclass(frozen=True)
class GuestSpec:
    """What a driver needs to know of the guest it makes: its name, and its image for podman."""

    name: str
    image: ImageRecipe | None = None


class Driver(ABC):
    name: ClassVar[str]
    tools: ClassVar[tuple[str, ...]]  # the host commands it needs (rows of provision.prerequisites)

    def __init__(self, spec: GuestSpec, workdir: Path) -> None:
        require(self.name, *self.tools)
        self.spec = spec
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

    def caches(self) -> list[str]:
        """What the guest reuses from earlier guests (package archives, built wheels); default: nothing."""
        return []

    @abstractmethod
    def status(self) -> str:
        """One word: running, stopped or absent."""

    @abstractmethod
    def host_spec(self) -> str:
        """The testinfra connection string (`podman://NAME`, `ssh://…?ssh_config=…`)."""

    @abstractmethod
    def http_url(self) -> str:
        """Where the guest's port 80 is reachable from the host, on loopback only."""

    @abstractmethod
    def login_argv(self, command: list[str], *, tty: bool) -> list[str]:
        """The host command that runs `command` (argv, as the login user) in the guest, on a terminal when `tty`."""
