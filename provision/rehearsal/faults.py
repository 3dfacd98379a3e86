"""Faults injected into a rehearsed deploy: each asks what the tutorial's service does when something
goes wrong, and its answer is a finding about the tutorial when the deploy falls short.

A fault is data (its question, what a sound deploy does, the fix) plus a `check` that injects it
and says what it saw, and an optional `restore` that leaves the guest serving again. Both act
through a `Trial`, which records every guest command as evidence. What differs between platforms
(the service's main pid, its log, its restart) comes from `platform.expect` only.
"""

import re
import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from provision.guests.transport import Result
from provision.platforms.base import Expectations, Platform
from provision.rehearsal import abuse
from provision.rehearsal.claims import Context
from provision.reports.record import CommandResult, Finding, Verdict
from provision.tutorial.params import PAGE
from provision.tutorial.steps import NGINX_CLAIM, SOCKET

COMMAND_TIMEOUT = 20.0  # a single guest command of a fault (a fetch waits 5 s at most)
COMEBACK = 30.0  # seconds the service gets to serve the page again
# The restart after a killed master may first wait out the init system's stop timeout (systemd's
# TimeoutStopSec, 90 s): in the podman stand-in on a cgroup v1 host, systemd is never told that the
# killed service's cgroup emptied, so it stays "deactivating" until that timeout.
RESTART_BUDGET = 150.0
MIN_BAD_REQUESTS = 200
ABUSE_BUDGET = 120.0  # seconds the whole barrage may take
OUTSIDER = "nobody"  # a user in neither the reader's group nor www-data
STRANGER = "unknown.invalid"  # a Host name no server block of the tutorial names
LISTENED = (5000, 8000)  # the dev server (5.2) and the uWSGI HTTP test (6.1)
# Requests nginx accepts (its large_client_header_buffers are 4 x 8 KiB) but whose uwsgi packet exceeds
# uWSGI's default buffer-size of 4 KiB: a 6 KiB query string (it travels twice, QUERY_STRING and
# REQUEST_URI), and 100 headers of 40 bytes.
BIG_QUERY, MANY_HEADERS = 6 * 1024, 100


class FaultError(Exception):
    """The harness could not run the fault (a precondition, a command that had to work): no verdict."""


class Seen(NamedTuple):
    as_expected: bool
    observed: str  # one line, with the numbers


# A guest-side script printing the status and title of an answer, error statuses included
# (urllib raises on them); python3 exists on both trusty (3.4) and bookworm.
_STATUS = (
    "import re, sys, urllib.request as u, urllib.error as e\n"
    "h = {'Host': sys.argv[2]}\n"
    "h.update(('X-Pad-%d' % i, 'x' * 40) for i in range(int(sys.argv[3]) if len(sys.argv) > 3 else 0))\n"
    "try:\n"
    "    r = u.urlopen(u.Request(sys.argv[1], headers=h), timeout=5)\n"
    "    code, body = r.status, r.read()\n"
    "except e.HTTPError as x:\n"
    "    code, body = x.code, x.read()\n"
    "m = re.search(rb'<title>(.*?)</title>', body)\n"
    "print('HTTP %d: %s' % (code, (m.group(1) if m else body[:80]).decode('utf-8', 'replace')))"
)
# Connecting to the unix socket as some user: "connected", or the error's name and message (exit 1).
_CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    socket.socket(socket.AF_UNIX).connect(sys.argv[1])\n"
    "except OSError as x:\n"
    "    print('%s: %s' % (type(x).__name__, x))\n"
    "    sys.exit(1)\n"
    "print('connected')"
)


def status_of(url: str, host: str, padding_headers: int = 0) -> str:
    pad = f" {padding_headers}" if padding_headers else ""
    return f"python3 -c {shlex.quote(_STATUS)} {shlex.quote(url)} {shlex.quote(host)}{pad}"


def wait_until(condition: str, seconds: float) -> str:
    """A guest-side loop checking `condition` twice a second until it holds, printing `after N ms`
    (exit 0) or giving up after `seconds` (exit 1): a whole wait is one command, one piece of evidence."""
    ms = "$(( ($(date +%s%N) - t0) / 1000000 ))"
    return (
        f"t0=$(date +%s%N); until {condition}; do "
        f"[ {ms} -ge {int(seconds * 1000)} ] && {{ echo 'not within {seconds:g} s'; exit 1; }}; sleep 0.5; done; "
        f'echo "after {ms} ms"'
    )


def workers_in(ini: str) -> int:
    """The number of uWSGI workers the tutorial's ini asks for (`processes = 5`)."""
    match = re.search(r"^processes\s*=\s*(\d+)", ini, re.MULTILINE)
    if match is None:
        raise FaultError("myproject.ini sets no `processes`")
    return int(match.group(1))


@dataclass
class Trial:
    """One fault's run on the guest: every command it makes is kept as evidence."""

    ctx: Context
    expect: Expectations
    evidence: list[CommandResult] = field(default_factory=list)

    def run(self, command: str, *, user: str | None = None, timeout: float = COMMAND_TIMEOUT) -> Result:
        r = self.ctx.guest.run(command, user=user, timeout=timeout)
        self.evidence.append(CommandResult(r.command, r.exit_code, round(r.seconds, 2), r.tail(10)))
        return r

    def must(self, command: str, *, user: str | None = None, timeout: float = COMMAND_TIMEOUT) -> Result:
        r = self.run(command, user=user, timeout=timeout)
        if r.exit_code != 0:
            raise FaultError(f"`{command}` exited {r.exit_code}: {r.tail(1)}")
        return r

    @property
    def page_served(self) -> str:
        """A condition: nginx serves the page on port 80 for the server name (the tutorial's claim)."""
        return f'[ "$({self.ctx.params.expand(NGINX_CLAIM.probe)} 2>/dev/null)" = {shlex.quote(PAGE)} ]'

    def waited(self, condition: str, seconds: float = COMEBACK) -> float | None:
        """Seconds until `condition` held in the guest, or None when it did not within `seconds`."""
        r = self.run(wait_until(condition, seconds), timeout=seconds + COMMAND_TIMEOUT)
        match = re.search(r"after (\d+) ms", r.output)
        return int(match.group(1)) / 1000 if r.exit_code == 0 and match else None

    def uwsgi(self) -> tuple[int, list[int]]:
        """The service's main process (the uWSGI master) and its uWSGI children (the workers)."""
        r = self.must(
            f'master=$({self.expect.main_pid}); [ "${{master:-0}}" -gt 0 ] || exit 1; echo "master $master"; '
            'ps -o pid=,comm= --ppid "$master" || true'
        )
        master = re.search(r"^master (\d+)$", r.output, re.MULTILINE)
        if master is None:
            raise FaultError(f"no master pid in the output of `{self.expect.main_pid}`")
        return int(master.group(1)), sorted(int(pid) for pid in re.findall(r"^\s*(\d+) uwsgi$", r.output, re.MULTILINE))

    def serving(self) -> bool:
        return self.run(self.page_served).exit_code == 0

    def workers_wanted(self) -> int:
        return workers_in(self.ctx.params.artifact("myproject.ini"))


@dataclass(frozen=True)
class Fault:
    id: str
    question: str
    expected: str  # what a sound deploy does
    fix: str  # the one-line change to the tutorial's deploy, shown when it falls short
    check: Callable[[Trial], Seen]  # inject the fault, say what happened
    restore: Callable[[Trial], str] | None = None  # leave the guest serving; says how, for the record


def kill_master(t: Trial) -> Seen:
    master, _ = t.uwsgi()
    if not t.serving():
        raise FaultError("the page was not served before the fault")
    t.must(f"kill -9 {master}")
    back = t.waited(t.page_served)
    t.run(t.expect.service_log)
    if back is not None:
        return Seen(True, f"master (pid {master}) killed; the page was served again after {back:.1f} s")
    answer = t.run(status_of("http://127.0.0.1/", t.ctx.params.server_name)).tail(1)  # a traceback ends with why
    return Seen(False, f"master (pid {master}) killed; no page within {COMEBACK:g} s (nginx answers {answer!r})")


def restart_service(t: Trial) -> str:
    restart = t.must(t.expect.restart, timeout=RESTART_BUDGET)
    back = t.waited(t.page_served)
    if back is None:
        raise FaultError(f"the page did not come back within {COMEBACK:g} s of `{t.expect.restart}`")
    return f"restored with `{t.expect.restart}` ({restart.seconds:.1f} s): page served again {back:.1f} s later"


def kill_worker(t: Trial) -> Seen:
    wanted = t.workers_wanted()
    master, before = t.uwsgi()
    if len(before) != wanted:
        raise FaultError(f"expected {wanted} workers before the fault, found {len(before)}: {before}")
    victim = before[0]
    t.must(f"kill -9 {victim}")
    # The victim gone (reaped), and the master's uWSGI children back to full strength.
    replaced = t.waited(f"! kill -0 {victim} 2>/dev/null && [ $(pgrep -c -P {master} -x uwsgi) -eq {wanted} ]")
    master_after, after = t.uwsgi()
    served = t.serving()
    t.run(t.expect.service_log)
    new = sorted(set(after) - set(before))
    took = f"replaced in {replaced:.1f} s" if replaced is not None else f"not replaced within {COMEBACK:g} s"
    return Seen(
        master_after == master and len(after) == wanted and victim not in after and len(new) == 1 and served,
        f"worker {victim} killed, {took}; workers {len(before)} before, {len(after)} after "
        f"(new: {', '.join(map(str, new)) or 'none'}); master {master} -> {master_after}; "
        f"page {'served' if served else 'NOT served'}",
    )


def outsider_on_socket(t: Trial) -> Seen:
    path = t.ctx.params.expand(SOCKET)
    connect = f"python3 -c {shlex.quote(_CONNECT)} {shlex.quote(path)}"
    control = t.run(connect, user="www-data")
    if control.exit_code != 0:
        raise FaultError(f"control: www-data cannot connect to {path} either: {control.tail(1)}")
    outsider = t.run(connect, user=OUTSIDER)
    said = outsider.tail(1)
    denied = outsider.exit_code != 0 and said.startswith("PermissionError")
    return Seen(denied, f"{OUTSIDER}: {said}; www-data (control): {control.tail(1)}")


def ports_after_tests(t: Trial) -> Seen:
    listening = t.must("ss -ltn").output.splitlines()[1:]
    ports = sorted({int(cols[3].rsplit(":", 1)[1]) for cols in (line.split() for line in listening) if len(cols) > 3})
    left = [p for p in ports if p in LISTENED]
    if left:
        t.run("ss -ltnp")  # which process still holds them
    said = f"still listening on {', '.join(f':{p}' for p in left)}" if left else "nothing listens on :5000 or :8000"
    return Seen(not left, f"{said} (TCP ports listening: {', '.join(map(str, ports)) or 'none'})")


def stranger_host(t: Trial) -> Seen:
    t.run("ls -l /etc/nginx/sites-enabled/")
    answer = t.must(status_of("http://127.0.0.1/", STRANGER)).output.strip()
    stock = "Welcome to nginx" in answer
    whose = "nginx's stock default site" if stock else "not the stock default site"
    return Seen(not stock, f"Host: {STRANGER} on port 80 gets {answer!r}: {whose}")


def bad_requests(t: Trial) -> Seen:
    wanted = t.workers_wanted()
    master, before = t.uwsgi()
    if len(before) != wanted:
        raise FaultError(f"expected {wanted} workers before the fault, found {len(before)}: {before}")
    try:
        tally = abuse.barrage(t.ctx.http_url, t.ctx.params.server_name, minimum=MIN_BAD_REQUESTS, budget=ABUSE_BUDGET)
    except ValueError as e:  # not a loopback address
        raise FaultError(str(e)) from None
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(tally.by_kind().items()))
    answers = ", ".join(f"{answer} x{n}" for answer, n in sorted(tally.by_answer().items()))
    t.evidence.append(
        CommandResult(
            f"(from the host) {tally.sent} bad requests to {t.ctx.http_url}", 0, tally.seconds, "\n".join(tally.lines())
        )
    )
    if tally.sent < MIN_BAD_REQUESTS:
        raise FaultError(f"only {tally.sent} bad requests within {ABUSE_BUDGET:g} s ({kinds})")
    master_after, after = t.uwsgi()
    served = t.serving()
    t.run(t.expect.service_log)
    return Seen(
        master_after == master and len(after) == wanted and served,
        f"{tally.sent} requests in {tally.seconds:.1f} s ({kinds}; answers: {answers}); afterwards 1 master "
        f"({'same' if master_after == master else f'new: {master} -> {master_after}'}) + {len(after)} workers, "
        f"page {'served' if served else 'NOT served'}",
    )


def big_requests(t: Trial) -> Seen:
    if not t.serving():
        raise FaultError("the page was not served before the fault")
    host = t.ctx.params.server_name
    query = t.must(status_of(f"http://127.0.0.1/?q={'x' * BIG_QUERY}", host)).output.strip()
    headers = t.must(status_of("http://127.0.0.1/", host, MANY_HEADERS)).output.strip()
    said = t.run(t.expect.service_log).output
    uwsgi = next((line.strip() for line in said.splitlines() if "invalid request block size" in line), "")
    ok = query.startswith("HTTP 200") and headers.startswith("HTTP 200")
    return Seen(
        ok,
        f"a {BIG_QUERY // 1024} KiB query string gets {query!r}, {MANY_HEADERS} headers get {headers!r}"
        + (f"; uWSGI says: {uwsgi}" if uwsgi else ""),
    )


FAULTS: tuple[Fault, ...] = (
    Fault(
        "kill-master",
        f"kill -9 of the uWSGI master: is the page served again within {COMEBACK:g} s?",
        "the init system restarts the service and the page comes back",
        "add `respawn` to the Upstart job (/etc/init/myproject.conf), `Restart=on-failure` to the systemd unit",
        kill_master,
        restart_service,
    ),
    Fault(
        "kill-worker",
        "kill -9 of one uWSGI worker: does the master replace it?",
        "the master starts a new worker: 5 workers again, one new pid, the page served",
        "keep `master = true` in myproject.ini: only a master respawns its workers",
        kill_worker,
    ),
    Fault(
        "socket-outsider",
        f"can a user outside www-data ({OUTSIDER}) connect to uWSGI's unix socket?",
        f"{OUTSIDER} is denied (PermissionError) while www-data connects",
        "keep `chmod-socket = 660` in myproject.ini and the service's group www-data",
        outsider_on_socket,
    ),
    Fault(
        "test-ports-free",
        "after steps 5.2 and 6.1, is anything still listening on :5000 or :8000?",
        "nothing: both test servers were stopped with CTRL-C",
        "stop `python myproject.py` (5.2) and `uwsgi --socket 0.0.0.0:8000 ...` (6.1) with CTRL-C before going on",
        ports_after_tests,
    ),
    Fault(
        "default-site",
        f"does nginx's stock default site still answer other Host names (Host: {STRANGER})?",
        "no: only the tutorial's server block is enabled",
        "remove nginx's stock default site, `sudo rm /etc/nginx/sites-enabled/default`, before restarting nginx (8.4)",
        stranger_host,
    ),
    Fault(
        "request-buffer",
        f"does a request nginx accepts ({BIG_QUERY // 1024} KiB of query, {MANY_HEADERS} headers) reach the app?",
        "yes: the page, as for any request nginx lets through",
        "add `buffer-size = 32768` to myproject.ini: uWSGI's default 4 KiB is smaller than what nginx accepts",
        big_requests,
    ),
    Fault(
        "bad-requests",
        f"do nginx and uWSGI keep serving after {MIN_BAD_REQUESTS}+ malformed, oversized and slow requests?",
        "yes: the same uWSGI master with all its workers, and the page served",
        "let the init system restart what dies (`respawn` / `Restart=on-failure`) and read the service log",
        bad_requests,
    ),
)


def run_fault(fault: Fault, ctx: Context, platform: Platform) -> Finding:
    """Inject `fault`, restore the guest (even when the check failed), and record the finding."""
    trial = Trial(ctx, platform.expect)
    finding = Finding(fault.id, fault.question, fault.expected)
    ctx.guest.note(f"--- fault {fault.id}: {fault.question}")
    start = time.monotonic()
    errors = []
    try:
        seen = fault.check(trial)
        finding.observed = seen.observed
        finding.verdict = Verdict.AS_EXPECTED if seen.as_expected else Verdict.FINDING
        finding.fix = "" if seen.as_expected else fault.fix
    except (FaultError, OSError) as e:
        errors.append(str(e))
    if fault.restore is not None:  # whatever the check did or failed to do
        try:
            restored = fault.restore(trial)
            finding.observed = f"{finding.observed}; {restored}" if finding.observed else restored
        except (FaultError, OSError) as e:  # the guest is left broken: the run cannot count
            errors.append(f"restoring: {e}")
    if errors:
        finding.verdict, finding.fix, finding.error = Verdict.ERROR, "", "; ".join(errors)
    finding.seconds = round(time.monotonic() - start, 2)
    finding.evidence = trial.evidence
    return finding


def run_faults(
    ctx: Context,
    platform: Platform,
    faults: Iterable[Fault] = FAULTS,
    progress: Callable[[Finding], None] = lambda f: None,
) -> list[Finding]:
    """Every fault in order; each leaves the guest serving (or says it could not)."""
    findings = []
    for fault in faults:
        findings.append(finding := run_fault(fault, ctx, platform))
        progress(finding)
    return findings
