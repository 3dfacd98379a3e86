"""Print each podman platform's cold and cached rehearsal, and `rehearse matrix` against the slowest alone.

    python benchmarks/platforms.py

Per platform, each on a new guest from its cached image (building an image is timed by `.ci/run`,
which starts with none):
- cold: `rehearse up --no-cache` (apt and pip fetch and build everything);
- cached: `rehearse up` reusing apt's archives and pip's wheels (filled by the cold run);
- alone: `rehearse up --mode audit` with the caches: what the matrix does for that platform.
Then `rehearse matrix` on new guests (every platform at once, audit, caches), against the slowest
platform alone: the goal is at most 1.5x on a 2-core machine. The checkout's guests are destroyed
on the way and left as the matrix rehearsed them.
"""

import argparse
import time

from timings import timed

from provision.platforms import PLATFORMS

STAND_INS = [p.name for p in PLATFORMS.values() if "podman" in p.targets]


def destroy_all() -> None:
    for name in STAND_INS:
        timed("destroy", "--target", "podman", "--platform", name)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    figures: dict[str, dict[str, float]] = {}
    for name in STAND_INS:
        base = ("--target", "podman", "--platform", name)
        row = figures[name] = {}
        for label, extra in (("cold", ("--no-cache",)), ("cached", ()), ("alone (audit)", ("--mode", "audit"))):
            timed("destroy", *base)
            row[label] = timed("up", *base, *extra)
            print(f"{name} {label}: {row[label]:.1f} s", flush=True)
    destroy_all()
    start = time.monotonic()
    timed("matrix", "--target", "podman")
    wall = time.monotonic() - start
    print(f"\n{'platform':<10} {'cold':>8} {'cached':>8} {'alone (audit)':>14}")
    for name, row in figures.items():
        print(f"{name:<10} {row['cold']:8.1f} {row['cached']:8.1f} {row['alone (audit)']:14.1f}")
    slowest = max(figures, key=lambda n: figures[n]["alone (audit)"])
    alone = figures[slowest]["alone (audit)"]
    print(f"matrix: {wall:.1f} s, {wall / alone:.2f} x the slowest alone ({slowest}, {alone:.1f} s; goal <= 1.5)")


if __name__ == "__main__":
    main()
