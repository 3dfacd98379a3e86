"""Print how long rehearsing takes on the podman stand-in, next to the bare floor, in one run.

    python benchmarks/timings.py [--runs 1] [--platform P]

- bare floor: a new guest from the cached image, then the adapted tutorial as one bash script (the
  same commands and files, the checkpoints' servers started and stopped, no probes, no claims);
- warm: `rehearse up --no-cache` on a new guest (image cached, nothing else);
- cached warm: `rehearse up` on a new guest that reuses apt's archives and pip's wheels;
- rerun: `rehearse apply`, every step unchanged;
- re-verify: `rehearse verify`, the acceptance checks alone.
Each with its ratio to the floor; medians when --runs > 1. The platform is the podman target's
default unless --platform; `benchmarks/platforms.py` compares the platforms and times the matrix.
The checkout's guest is destroyed and made again on the way, and is left rehearsed.
"""

import argparse
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from provision.guests.podman import PodmanDriver
from provision.layout import PROJECT
from provision.platforms import PLATFORMS, Mode, Platform, for_target
from provision.tutorial.params import Params
from provision.tutorial.steps import Serve, Step, fetch

CLI = (sys.executable, "-m", "provision.cli")


def as_reader(step: Step, params: Params, script: str) -> str:
    """One shell line running `script` as the tutorial's reader would, in the step's shell."""
    body = f"{step.shell.prelude()}\n{script}"
    if step.as_root:
        return f"bash -c {shlex.quote(body)}"
    return f"sudo -H -u {params.user} bash -l -c {shlex.quote(body)}"


def bare_script(platform: Platform, params: Params) -> str:
    """The adapted tutorial as one script: what a rehearsal runs, without anything it checks."""
    lines = ["set -e"]
    for planned in platform.plan(Mode.ADAPTED):
        step = planned.step
        for f in step.files:
            path = shlex.quote(params.expand(f.path))
            writer = f"sudo tee {path} >/dev/null" if f.sudo else f"cat > {path}"
            text = params.artifact(f.artifact).rstrip("\n")
            lines.append(as_reader(step, params, f"{writer} <<'BARE_EOF'\n{text}\nBARE_EOF"))
        for item in step.run:
            if isinstance(item, Serve):  # start, wait for the page, CTRL-C: the reader's checkpoint
                look = fetch(f"http://127.0.0.1:{item.port}/")
                script = (
                    f"set -m; {item.command} >/dev/null 2>&1 & pid=$!; "
                    f"for i in $(seq 150); do {look} >/dev/null 2>&1 && break; sleep 0.2; done; "
                    "kill -INT $pid; wait $pid || true"
                )
                lines.append(as_reader(step, params, script))
            else:
                lines.append(as_reader(step, params, params.expand(item)))
    return "\n".join(lines) + "\n"


def floor(platform: Platform, workdir: Path) -> float:
    """A new guest from the cached image, then the bare script: the rehearsal's lower bound."""
    workdir.mkdir(parents=True, exist_ok=True)
    driver = PodmanDriver(replace(platform.guest, name=f"{platform.name}-floor"), workdir, caches=False)
    driver.destroy()
    start = time.monotonic()
    try:
        driver.up()
        script = bare_script(platform, Params())
        run = subprocess.run(
            ["podman", "exec", "-i", driver.container, "bash", "-s"], input=script, text=True,
            capture_output=True, check=False, timeout=1800,
        )  # fmt: skip
        if run.returncode != 0:
            raise SystemExit(f"timings: the bare script failed (exit {run.returncode}): {run.stderr[-500:]}")
        return time.monotonic() - start
    finally:
        driver.destroy()


def timed(*args: str) -> float:
    start = time.monotonic()
    subprocess.run([*CLI, *args], cwd=PROJECT, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="runs per figure (medians)")
    ap.add_argument("--platform", choices=[p.name for p in PLATFORMS.values() if "podman" in p.targets])
    args = ap.parse_args()
    platform = for_target("podman", args.platform)
    base = ("--target", "podman", "--platform", platform.name)
    figures: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        figures.setdefault(name, []).append(seconds)

    timed("up", *base)  # the image and the caches exist before anything is timed
    for _ in range(args.runs):
        add("bare floor", floor(platform, PROJECT / ".rehearse" / "floor"))
        timed("destroy", *base)
        add("warm: new guest, no caches", timed("up", *base, "--no-cache"))
        timed("destroy", *base)
        add("cached warm: new guest, caches", timed("up", *base))
        add("rerun: every step unchanged", timed("apply", *base))
        add("re-verify: acceptance checks", timed("verify", *base))
    bare = statistics.median(figures["bare floor"])
    print(f"{'':<34} {'seconds':>8} {'x floor':>8}")
    for name, values in figures.items():
        seconds = statistics.median(values)
        print(f"{name:<34} {seconds:8.1f} {seconds / bare:8.2f}")


if __name__ == "__main__":
    main()
