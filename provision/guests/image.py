"""A podman guest's image: a Debian root filesystem debootstrapped from the host's mirror, imported.

Built once and cached as a local image under a tag that hashes the recipe, so changing the recipe
builds a new image instead of reusing a stale one.
"""

import hashlib
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from provision.errors import DriverError
from provision.guests import bounded, mirror
from provision.prerequisites import require

# debootstrap fetches ~100-200 packages from the mirror (1-3 minutes here); the import writes ~300 MB.
DEBOOTSTRAP_SECONDS = 1800
IMPORT_SECONDS = 600


@dataclass(frozen=True)
class ImageRecipe:
    """A minbase Debian `suite` with `include` packages, booting `init` as PID 1."""

    suite: str
    include: tuple[str, ...]
    init: str = "/sbin/init"

    @property
    def tag(self) -> str:
        recipe = f"{self.suite}\n{','.join(self.include)}\n{self.init}"
        return f"localhost/rehearse-{self.suite}:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"

    def exists(self) -> bool:
        return bounded.run(["podman", "image", "exists", self.tag], 60).returncode == 0

    def build(self, cache: Path, log: Path) -> float:
        """debootstrap the root filesystem and import it; returns the seconds it took."""
        require("podman", "debootstrap", "podman")
        cache.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        with tempfile.TemporaryDirectory(dir=cache, prefix="rootfs-") as rootfs, log.open("a") as out:
            include = ",".join(self.include)
            mirror_uri = mirror.debian_mirror(self.suite)
            commands = (
                (["debootstrap", "--variant=minbase", f"--include={include}", self.suite, rootfs, mirror_uri],
                 DEBOOTSTRAP_SECONDS),
                (["sh", "-c", f'tar -C "$1" -c . | podman import --change "CMD={self.init}" - "$2"', "sh", rootfs,
                  self.tag], IMPORT_SECONDS),
            )  # fmt: skip
            for cmd, seconds in commands:
                out.write(f"$ {' '.join(cmd)}\n")
                out.flush()
                done = bounded.run(cmd, seconds, capture=False, stdout=out, stderr=subprocess.STDOUT)
                if done.returncode != 0:
                    raise DriverError(f"building the guest image failed at `{cmd[0]}`: see {log}")
        return time.monotonic() - start

    def users(self) -> list[str]:
        """The containers made from this image, whichever checkout made them."""
        cmd = ["podman", "ps", "--all", "--filter", f"ancestor={self.tag}", "--format", "{{.Names}}"]
        return bounded.run(cmd, 60).stdout.split()

    def remove(self) -> None:
        """The image; refused while a container uses it (another checkout's guest), which
        `podman rmi --force` would remove with it."""
        if not self.exists():
            return
        if users := self.users():
            raise DriverError(
                f"the image {self.tag} is still used by {', '.join(users)}: `rehearse destroy` in the checkout "
                "each belongs to first; nothing was removed"
            )
        cp = bounded.run(["podman", "rmi", self.tag], 120)
        if cp.returncode != 0:
            raise DriverError(f"`podman rmi {self.tag}` failed (exit {cp.returncode}): {cp.stderr.strip()}")
