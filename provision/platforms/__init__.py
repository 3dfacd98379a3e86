"""The platforms a rehearsal runs on, one module each; this registry is the one list of them."""

from collections.abc import Mapping
from types import MappingProxyType

from provision.errors import UsageError
from provision.platforms.base import Mode, Platform
from provision.platforms.bookworm import BOOKWORM
from provision.platforms.bullseye import BULLSEYE
from provision.platforms.trixie import TRIXIE
from provision.platforms.trusty import TRUSTY

__all__ = ["PLATFORMS", "Mode", "Platform", "for_target", "get"]

# A target's default platform is the first here it boots: the tutorial's own trusty for Vagrant,
# the current Debian stable (trixie) for the podman stand-in.
PLATFORMS: Mapping[str, Platform] = MappingProxyType({p.name: p for p in (TRUSTY, TRIXIE, BOOKWORM, BULLSEYE)})


def get(name: str) -> Platform:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise UsageError(f"unknown platform {name!r} (choose from {', '.join(PLATFORMS)})") from None


def for_target(kind: str, name: str | None = None) -> Platform:
    """Platform `name`, or the first one a `kind` driver boots; refused when that driver cannot boot it."""
    bootable = [p.name for p in PLATFORMS.values() if kind in p.targets]
    platform = get(name or bootable[0])
    if kind not in platform.targets:
        raise UsageError(f"the {kind} driver cannot boot platform {platform.name!r} (it boots: {', '.join(bootable)})")
    return platform
