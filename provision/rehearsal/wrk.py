"""The load generator: Debian's `wrk`, driven from the host at the guest's published loopback port.

Each run is bounded in time (wrk's `-d`, and a host-side timeout over it) and in requests (the Lua
script stops each thread after its share of `max_requests`). The script's `done()` hook prints one
parseable line with wrk's own figures, so nothing is scraped from its human-readable table.
"""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from provision.errors import UsageError
from provision.rehearsal.abuse import loopback
from provision.reports.record import Figures

TOOL = "wrk"
INSTALL = "apt-get install wrk"
SOCKET_TIMEOUT = 5  # seconds wrk waits for an answer before counting a timeout
GRACE = 15.0  # seconds past the run's duration before the host kills wrk
MAX_THREADS = 2  # the machine's cores: more threads only steal CPU from the guest
MARK = "wrk-load"

# Counts non-2xx answers itself (wrk's own `status` error counts only >= 400), stops each thread after
# its share of the request cap, and prints the figures as `key=value` pairs on one line.
SCRIPT = """\
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non2xx = 0; answered = 0; limit = tonumber(args[1]) end
function response(status, headers, body)
  answered = answered + 1
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  if answered >= limit then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("non2xx") end
  local e = summary.errors
  io.write(string.format("%s requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d non2xx=%d "
    .. "p50_us=%d p95_us=%d p99_us=%d max_us=%d\\n", "MARK",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, n,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
""".replace('"MARK"', f'"{MARK}"')

_LINE = re.compile(rf"^{MARK} ((?:\w+=\d+ ?)+)$", re.MULTILINE)
KEYS = ("requests", "duration_us", "connect", "read", "write", "timeout", "non2xx", "p50_us", "p95_us", "p99_us")


class LoadToolError(Exception):
    """wrk ran but gave no figures (it failed, or was killed past its time bound)."""


def require() -> str:
    """The load tool's path; a missing one is one line naming the install command."""
    path = shutil.which(TOOL)
    if path is None:
        raise UsageError(f"the load tool `{TOOL}` is not installed: `{INSTALL}` (./rehearse installs it)")
    return path


def parse(output: str, connections: int, *, cap: int) -> Figures:
    """wrk's figures from its output (the script's line); `cap`: the request bound the run had."""
    match = _LINE.search(output)
    if match is None:
        said = output.strip().splitlines()[-1:] or ["no output"]
        raise LoadToolError(f"wrk printed no figures: {said[0][:200]}")
    values = dict(pair.split("=") for pair in match.group(1).split())
    if missing := [k for k in KEYS if k not in values]:
        raise LoadToolError(f"wrk's figures lack {', '.join(missing)}")
    n = {k: int(v) for k, v in values.items()}
    seconds = n["duration_us"] / 1e6
    if seconds <= 0:
        raise LoadToolError("wrk reported a run of no duration")
    return Figures(
        connections=connections,
        seconds=seconds,  # whole microseconds: exact
        requests=n["requests"],
        rps=round(n["requests"] / seconds, 1),
        p50_ms=n["p50_us"] / 1000,
        p95_ms=n["p95_us"] / 1000,
        p99_ms=n["p99_us"] / 1000,
        non_2xx=n["non2xx"],
        socket_errors={k: n[k] for k in ("connect", "read", "write", "timeout") if n[k]},
        capped=n["requests"] >= cap,
    )


def share(connections: int, cap: int) -> tuple[int, int]:
    """wrk's threads for `connections`, and how many requests each may make of `cap`."""
    threads = min(MAX_THREADS, connections)
    return threads, max(1, cap // threads)


def command(tool: str, script: Path, url: str, host: str, connections: int, seconds: float, cap: int) -> list[str]:
    """wrk's argv: `connections` open at once for `seconds`, with `Host: host`, at most `cap` requests."""
    threads, each = share(connections, cap)
    return [
        tool, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", f"--timeout={SOCKET_TIMEOUT}s",
        "-H", f"Host: {host}", "-s", str(script), url, "--", str(each),
    ]  # fmt: skip


def run(url: str, host: str, connections: int, seconds: float, cap: int) -> Figures:
    """One load run against `url` (loopback only), `connections` at once, for `seconds`."""
    tool = require()
    loopback(url)  # raises ValueError for any other address
    with tempfile.TemporaryDirectory(prefix="rehearse-wrk-") as tmp:
        script = Path(tmp) / "figures.lua"
        script.write_text(SCRIPT)
        argv = command(tool, script, url, host, connections, seconds, cap)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + GRACE, check=False)
        except subprocess.TimeoutExpired:
            raise LoadToolError(f"wrk did not end within {seconds + GRACE:g} s") from None
    if done.returncode != 0:
        raise LoadToolError(f"wrk exited {done.returncode}: {(done.stderr or done.stdout).strip()[:200]}")
    threads, each = share(connections, cap)
    return parse(done.stdout, connections, cap=threads * each)
