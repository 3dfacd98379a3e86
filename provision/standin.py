"""The stand-in guest's image: Debian 12 debootstrapped from the host's mirror, imported into podman.

Built once and cached as a local image; rebuilt only when the image is missing.
"""

import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from provision import mirror
from provision.drivers import DriverError

SUITE = "bookworm"
# The guest needs systemd as PID 1, dbus for systemctl, python3 for testinfra's checks and the
# harness's HTTP probes, sudo for the reader's commands; procps (ps) and iproute2 (ss), which a
# cloud image such as ubuntu/trusty64 has, for testinfra's process and socket checks.
INCLUDE = "systemd-sysv,dbus,python3,sudo,ca-certificates,procps,iproute2"
# The tag names the recipe, so changing it builds a new image instead of reusing a stale one.
IMAGE = f"localhost/rehearse-{SUITE}:{hashlib.sha256(INCLUDE.encode()).hexdigest()[:12]}"


def image_exists() -> bool:
    return subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode == 0


def build(cache: Path, log: Path) -> float:
    """debootstrap a minbase root filesystem and import it; returns the seconds it took."""
    for tool in ("debootstrap", "podman"):
        if shutil.which(tool) is None:
            raise DriverError(f"{tool} not found on PATH: building the stand-in image needs it (see README, set-up)")
    cache.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(dir=cache, prefix="rootfs-") as rootfs, log.open("a") as out:
        commands = (
            ["debootstrap", "--variant=minbase", f"--include={INCLUDE}", SUITE, rootfs, mirror.debian_mirror(SUITE)],
            ["sh", "-c", f'tar -C "{rootfs}" -c . | podman import --change CMD=/sbin/init - {IMAGE}'],
        )
        for cmd in commands:
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode != 0:
                raise DriverError(f"building the stand-in image failed at `{cmd[0]}`: see {log}")
    return time.monotonic() - start
