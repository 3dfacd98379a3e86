"""Print what the channel to the podman stand-in costs, podman:// (podman exec) against runc://.

    python benchmarks/channel.py [--runs 5] [--calls 20] [--skip-up]

For a rehearsed guest (`rehearse up` runs first, untimed, unless --skip-up), medians over --runs runs,
the two channels taking turns so the machine's load falls on both alike:

- one call: `true` through testinfra's backend, median of --calls calls per run;
- idempotent rerun: `rehearse apply` with every step unchanged;
- re-verify: the acceptance suite (tests/test_acceptance.py) with --reverify: the last passing
  rehearsal's report, no re-apply; its last test reboots the guest, so the suite without it is shown too.

The channel is chosen with REHEARSE_CHANNEL (podman: podman exec; unset: runc where usable) and
checked in driver.log after every run.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import testinfra

from provision.guests.lock import checkout_id
from provision.guests.runc import ENV_CHANNEL
from provision.layout import PROJECT
from provision.platforms import for_target

CHANNELS = {"podman://": "podman", "runc://": None}  # label: REHEARSE_CHANNEL
PLATFORM = for_target("podman").name  # the stand-in `rehearse up` rehearses by default
DRIVER_LOG = PROJECT / ".rehearse" / f"podman-{PLATFORM}" / "driver.log"


def container() -> str:
    return f"rehearse-{PLATFORM}-{checkout_id()}"


def env_for(channel: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_CHANNEL, "REHEARSE_REVERIFY")}
    return env | ({ENV_CHANNEL: channel} if channel else {})


def last_channel() -> str:
    lines = [line for line in DRIVER_LOG.read_text().splitlines() if line.startswith("channel: ")]
    return lines[-1].removeprefix("channel: ").split("://")[0] + "://"


def timed(cmd: list[str], channel: str | None, label: str) -> float:
    start = time.monotonic()
    cp = subprocess.run(cmd, cwd=PROJECT, env=env_for(channel), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - start
    if cp.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {cp.returncode}):\n{cp.stdout.decode()[-3000:]}")
    if (used := last_channel()) != label:
        sys.exit(f"{' '.join(cmd)} went through {used}, not {label}")
    return seconds


def one_call(label: str, calls: int) -> float:
    host = testinfra.get_host(f"{label}{container()}")
    host.run("true")  # the first call locates the container (runc) or warms podman's caches
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        host.run("true")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per figure and channel (>= 3)")
    ap.add_argument("--calls", type=int, default=20, help="calls per run for the one-call figure")
    ap.add_argument("--skip-up", action="store_true", help="the guest is rehearsed already")
    args = ap.parse_args()
    if args.runs < 3:
        ap.error("--runs: at least 3")
    cli = [sys.executable, "-m", "provision.cli"]
    if not args.skip_up:
        timed([*cli, "up", "--target", "podman"], None, "runc://")
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_acceptance.py", "--reverify"]
    figures: dict[str, Callable[[str, str | None], float]] = {
        "one call (ms)": lambda label, _: 1000 * one_call(label, args.calls),
        "idempotent rerun: rehearse apply (s)": lambda label, ch: timed(
            [*cli, "apply", "--target", "podman"], ch, label
        ),
        "re-verify: acceptance suite (s)": lambda label, ch: timed(pytest, ch, label),
        "re-verify without the reboot test (s)": lambda label, ch: timed([*pytest, "-k", "not reboot"], ch, label),
    }
    print(f"{'median of ' + str(args.runs) + ' runs':<40} {'podman://':>10} {'runc://':>10} {'ratio':>6}")
    for name, measure in figures.items():
        samples: dict[str, list[float]] = {label: [] for label in CHANNELS}
        for _ in range(args.runs):
            for label, channel in CHANNELS.items():
                samples[label].append(measure(label, channel))
        slow, fast = (statistics.median(samples[label]) for label in CHANNELS)
        spread = "  ".join(f"{label} " + " ".join(f"{v:.2f}" for v in samples[label]) for label in CHANNELS)
        print(f"{name:<40} {slow:10.2f} {fast:10.2f} {slow / fast:5.1f}x   [{spread}]", flush=True)


if __name__ == "__main__":
    main()
