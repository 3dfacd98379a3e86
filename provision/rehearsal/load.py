"""The deployed stack under load: what it serves at each concurrency, where it first fails and why (in
the stack's own logs), and whether the tutorial's claim (step 6.2) that a unix socket between nginx
and uWSGI is faster than a network port holds.

The load comes from the host (`wrk`, on the guest's loopback port) through nginx, as a reader's
visitors would. For the comparison the service's ini and nginx's server block are switched to TCP on
127.0.0.1 and back, A/B/A/B; the guest gets both files back byte for byte, and the service as before.
"""

import math
import re
import shlex
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from provision.platforms.base import Platform
from provision.rehearsal import wrk
from provision.rehearsal.claims import Context
from provision.rehearsal.faults import FaultError, Trial
from provision.reports.record import Figures, Load, SocketRound
from provision.tutorial.steps import APP_FILES, SOCKET

LEVELS = (1, 8, 32, 128, 512)  # connections open at once, one run each
MAX_CONNECTIONS = 1024  # per level: wrk's file descriptors, and nginx's worker_connections, stay sane
DURATION = 5.0  # seconds per run
MAX_DURATION = 60.0
REQUEST_CAP = 200_000  # requests per run at most: wrk's threads stop after their share
COMPARE_AT = 8  # connections of the unix/TCP rounds: the stack's clean range, where the socket is what differs
ROUNDS = 3  # of each socket, alternating: unix, tcp, unix, tcp, ...
MAX_ROUNDS = 10
PAUSE = 1.0  # seconds between runs, so one run's closing connections do not weigh on the next
BACKLOG_DEFAULT = 100  # uWSGI's `listen` when the ini sets none
NGINX_ERROR_LOG = "/var/log/nginx/error.log"
SERVER_BLOCK = "/etc/nginx/sites-available/myproject"
INI = APP_FILES[2]
SAVED = ".rehearse-load"  # suffix of the tutorial's files while the comparison has them switched
RELOAD_NGINX = "nginx -t -q && service nginx reload"
SWITCH_TIMEOUT = 180.0  # a service restart may wait for its workers to finish their requests

# A guest-side edit: exactly one match of a pattern in a file becomes the replacement, in place (owner
# and mode stay); anything else leaves the file alone and exits 1.
_EDIT = (
    "import re, sys\n"
    "path, pattern, new = sys.argv[1:]\n"
    "text = open(path).read()\n"
    "out, n = re.subn(pattern, new, text, flags=re.MULTILINE)\n"
    "if n != 1:\n"
    "    sys.exit('%s: %d matches of %s, expected 1' % (path, n, pattern))\n"
    "open(path, 'w').write(out)"
)
_FREE_PORT = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
# nginx's error lines without what differs between them (time, pid, connection, client, request), counted.
_SUMMARY = (
    r"sed -E 's/^[0-9\/]+ [0-9:]+ //; s/[0-9]+#[0-9]+: (\*[0-9]+ )?//; s/, client: .*//' | sort | uniq -c | sort -rn"
)
# What a line of evidence at the knee means about the stack; the first that matches explains it.
EXPLAINED = (
    (
        "(11: Resource temporarily unavailable)",
        "nginx could not connect to uWSGI's socket: its listen backlog ({backlog}) was full while the {workers} "
        "workers were busy, so nginx answered 502 at once",
    ),
    ("worker_connections are not enough", "nginx ran out of worker_connections for the clients and upstreams"),
    ("upstream timed out", "uWSGI's workers did not answer within nginx's uwsgi_read_timeout"),
    ("listen queue", "uWSGI's listen queue was full ({backlog}) while its {workers} workers were busy"),
)


class LoadError(Exception):
    """The load could not be run or the guest not put back: no figures to trust."""


@dataclass(frozen=True)
class Plan:
    levels: tuple[int, ...] = LEVELS
    duration: float = DURATION
    compare: bool = True  # the unix/TCP rounds
    rounds: int = ROUNDS  # of each socket


def knee(levels: Sequence[Figures]) -> Figures | None:
    """The first level at which the stack answered anything but 2xx, or a socket failed."""
    return next((f for f in levels if f.errors), None)


def backlog_of(ini: str) -> int:
    """The listen backlog uWSGI gives its socket: the ini's `listen`, else uWSGI's default."""
    match = re.search(r"^listen\s*=\s*(\d+)", ini, re.MULTILINE)
    return int(match.group(1)) if match else BACKLOG_DEFAULT


def explain(at: Figures, evidence: Sequence[str], backlog: int, workers: int) -> str:
    """Why the stack failed at `at`, from its own evidence (nginx's counted error lines, uWSGI's), which
    the reports show beside it."""
    errors = [f"{at.non_2xx} non-2xx"] + [f"{n} socket {kind} errors" for kind, n in at.socket_errors.items()]
    said = f"first errors at {at.connections} connections ({', '.join(errors)} of {at.requests} requests)"
    for needle, meaning in EXPLAINED:
        if line := next((e for e in evidence if needle in e), ""):
            return f"{said}: {meaning.format(backlog=backlog, workers=workers)} ({line.split(': ', 1)[0]}'s log below)"
    if evidence:
        return f"{said}; the stack's logs say: {evidence[0]}"
    return f"{said}; nginx's error log and uWSGI's log say nothing about them"


def spread(values: Sequence[float]) -> str:
    return f"{statistics.fmean(values):.0f} req/s ({min(values):.0f}-{max(values):.0f})"


def judge(rounds: Sequence[SocketRound]) -> tuple[str, str]:
    """The tutorial's claim that the unix socket is faster: `holds` only when every unix round served more
    requests per second than every TCP round; otherwise `does not hold`, saying whether TCP was faster or the
    difference stayed within the rounds' spread. A clean sweep is also how likely it is by chance said."""
    unix = [r.figures.served_rps for r in rounds if r.socket == "unix"]  # 2xx only: a quick 502 is no speed
    tcp = [r.figures.served_rps for r in rounds if r.socket == "tcp"]
    if not unix or not tcp:
        raise ValueError("the comparison needs rounds of both sockets")
    gain = (statistics.fmean(unix) / statistics.fmean(tcp) - 1) * 100
    p50 = {s: statistics.median(r.figures.p50_ms for r in rounds if r.socket == s) for s in ("unix", "tcp")}
    figures = (
        f"unix socket {spread(unix)}, TCP {spread(tcp)} over {len(unix)}+{len(tcp)} rounds; "
        f"unix {gain:+.1f}%, p50 {p50['unix']:.2f} ms vs {p50['tcp']:.2f} ms"
    )
    # How often one side would beat the other in every round by the rounds' order alone (no difference at all).
    chance = f"by chance alone 1 in {math.comb(len(unix) + len(tcp), len(unix))}"
    if min(unix) > max(tcp):
        return "holds", f"{figures}: the unix socket was faster in every round ({chance})"
    if min(tcp) > max(unix):
        return "does not hold", f"{figures}: TCP was faster in every round ({chance})"
    return "does not hold", f"{figures}: the difference is within the rounds' spread"


@dataclass
class Stack:
    """The deployed stack as the load sees it: its logs, and the switch of its socket to TCP and back."""

    trial: Trial
    platform: Platform

    @property
    def files(self) -> tuple[str, str]:
        return self.trial.ctx.params.expand(INI), SERVER_BLOCK

    def error_log_size(self) -> int:
        out = self.trial.run(f"stat -c %s {NGINX_ERROR_LOG} 2>/dev/null || echo 0").output.strip()
        return int(out) if out.isdigit() else 0

    def evidence_since(self, offset: int) -> list[str]:
        """nginx's error lines since `offset`, counted by message, and what uWSGI said of its queue."""
        nginx = self.trial.run(f"tail -c +{offset + 1} {NGINX_ERROR_LOG} | {_SUMMARY} | head -5").output
        counted = (line.split(None, 1) for line in nginx.splitlines() if line.strip())
        lines = [f"nginx: {n} x {message}" for n, message in counted]
        uwsgi = self.trial.run(f"{self.platform.expect.service_log} | grep -i 'listen queue' | tail -2").output
        return lines + [f"uWSGI: {line.strip()}" for line in uwsgi.splitlines() if line.strip()]

    def facts(self) -> tuple[int, int]:
        """uWSGI's listen backlog and its number of workers, as the deployed ini sets them."""
        ini = self.trial.must(f"cat {shlex.quote(self.files[0])}").output
        return backlog_of(ini), self.trial.workers_wanted()

    def _restart(self) -> None:
        self.trial.must(self.platform.expect.restart, timeout=SWITCH_TIMEOUT)
        self.trial.must(RELOAD_NGINX)
        if self.trial.waited(self.trial.page_served) is None:
            raise FaultError("the page was not served again after the switch")

    def to_tcp(self) -> str:
        """The ini's socket and nginx's uwsgi_pass on a free TCP port of the guest's loopback; the
        tutorial's files are saved beside them first. Returns the address."""
        port = self.trial.must(f"python3 -c {shlex.quote(_FREE_PORT)}").output.strip()
        if not port.isdigit():
            raise FaultError(f"no free port in the guest: {port!r}")
        address = f"127.0.0.1:{int(port)}"
        ini, block = self.files
        edits = (
            (ini, r"^socket\s*=.*$", f"socket = {address}"),
            (block, r"uwsgi_pass\s+unix:[^;]+;", f"uwsgi_pass {address};"),
        )
        for path in (ini, block):
            self.trial.must(f"cp -p {shlex.quote(path)} {shlex.quote(path + SAVED)}")
        for path, pattern, new in edits:
            self.trial.must(f"python3 -c {shlex.quote(_EDIT)} {' '.join(map(shlex.quote, (path, pattern, new)))}")
        self._restart()
        return address

    def restore(self) -> str:
        """The tutorial's files back, byte for byte, if a switch (this run's or a killed one's) left them
        aside; then the service and nginx read them again. Says what it did."""
        moved = []
        for path in self.files:
            saved, original = shlex.quote(path + SAVED), shlex.quote(path)
            r = self.trial.must(f"if [ -e {saved} ]; then mv -f {saved} {original} && echo moved; fi")
            if r.output.strip() == "moved":
                moved.append(path)
        if not moved:
            return "nothing to restore"
        self._restart()
        return f"restored {', '.join(moved)}; service restarted, nginx reloaded, page served"


def measure(stack: Stack, connections: int, seconds: float) -> Figures:
    ctx = stack.trial.ctx
    time.sleep(PAUSE)
    try:
        return wrk.run(ctx.http_url, ctx.params.server_name, connections, seconds, REQUEST_CAP)
    except (wrk.LoadToolError, ValueError) as e:
        raise LoadError(str(e)) from None


def run_load(
    ctx: Context,
    platform: Platform,
    plan: Plan,
    *,
    progress: Callable[[str, Figures], None] = lambda label, f: None,
) -> Load:
    """Every level of `plan`, then the unix/TCP rounds; the guest is put back whatever happened."""
    start = time.monotonic()
    record = Load(datetime.now(UTC).isoformat(timespec="seconds"), ctx.http_url, plan.duration)
    stack = Stack(Trial(ctx, platform.expect), platform)
    ctx.guest.note(f"=== load: {', '.join(map(str, plan.levels))} connections, {plan.duration:g} s each")
    try:
        stack.restore()  # a killed run's switch first
        backlog, workers = stack.facts()
        for connections in plan.levels:
            offset = stack.error_log_size()
            figures = measure(stack, connections, plan.duration)
            record.levels.append(figures)
            progress("nginx -> unix socket", figures)
            if knee(record.levels) is figures:  # the first level with errors: its evidence before the next run
                record.knee = connections
                record.knee_evidence = stack.evidence_since(offset)
                record.knee_why = explain(figures, record.knee_evidence, backlog, workers)
        if plan.compare:
            for _ in range(plan.rounds):
                unix = measure(stack, COMPARE_AT, plan.duration)
                record.rounds.append(SocketRound("unix", f"unix:{ctx.params.expand(SOCKET)}", unix))
                progress("unix socket (A)", unix)
                try:
                    address = stack.to_tcp()
                    tcp = measure(stack, COMPARE_AT, plan.duration)
                finally:
                    record.restored = stack.restore()
                record.rounds.append(SocketRound("tcp", address, tcp))
                progress("TCP (B)", tcp)
            record.claim, record.claim_why = judge(record.rounds)
    except (LoadError, FaultError, OSError) as e:
        record.error = str(e)
        try:
            record.restored = stack.restore()
        except (FaultError, OSError) as again:
            record.error += f"; restoring: {again}"
    record.seconds = round(time.monotonic() - start, 1)
    return record
