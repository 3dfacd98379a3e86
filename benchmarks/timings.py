"""Print how long a rehearsal takes on the stand-in: cold, warm, re-verify; and the guest's memory.

    python benchmarks/timings.py [--target podman] [--skip-cold]

cold: no guest, no cached image; warm: image cached, new guest; rerun: every step unchanged;
verify: the acceptance suite against the rehearsed guest.
"""

import argparse
import subprocess
import sys
import time

from provision.layout import PROJECT

ROOT = PROJECT


def driver_container() -> str:
    """The stand-in's container name for this checkout (named per checkout and platform)."""
    from provision.guests.lock import checkout_id

    return f"rehearse-bookworm-{checkout_id()}"


def timed(*cmd: str) -> float:
    start = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="podman")
    ap.add_argument("--skip-cold", action="store_true", help="keep the cached image")
    args = ap.parse_args()
    cli = (sys.executable, "-m", "provision.cli")
    target = ("--target", args.target)
    figures: dict[str, float] = {}
    if not args.skip_cold:
        timed(*cli, "destroy", "--purge", *target)
        figures["cold up (s)"] = timed(*cli, "up", *target)
    timed(*cli, "destroy", *target)
    figures["warm up (s)"] = timed(*cli, "up", *target)
    figures["rerun, all unchanged (s)"] = timed(*cli, "up", *target)
    pytest = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_acceptance.py")
    figures["acceptance suite, re-verify (s)"] = timed(*pytest, "--target", args.target)
    if args.target == "podman":
        mem = subprocess.run(
            ["podman", "stats", "--no-stream", "--format", "{{.MemUsage}}", driver_container()],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        print(f"{'guest memory (podman stats)':<36} {mem}")
    for name, value in figures.items():
        print(f"{name:<36} {value:8.1f}")


if __name__ == "__main__":
    main()
