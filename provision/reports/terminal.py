"""The rehearsal on a terminal: a line per step as it runs, then the table and the verdict.

rich renders colour and a live line on a terminal, and plain text anywhere else (CI logs, pipes).
"""

import threading
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from provision.reports.decisive import decisive_lines
from provision.reports.record import Figures, Finding, Load, Report, Status, StepResult, Verdict

PEEK_EVERY = 0.5  # seconds between looks at a running command's last line

MARKS = {
    Status.FAILED: ("FAIL", "bold red"),
    Status.CHANGED: ("chg", "green"),
    Status.UNCHANGED: ("ok", "blue"),
    Status.NOT_REACHED: ("-", "dim"),
    Status.RUNNING: ("...", "yellow"),
    Status.INTERRUPTED: ("INT", "bold yellow"),
}


def done(step: StepResult) -> str:
    """A finished step as one line (rich markup): its mark, id, title and seconds."""
    mark, style = MARKS[step.status]
    cite = f"  {escape(step.cite)}" if step.cite else ""
    return f"[{style}]{mark:<4}[/] {step.id:<4} {escape(step.title):<52} {step.seconds:6.1f} s{cite}"


class StepProgress:
    """The progress callback: on a terminal a live line while a step runs, then one line per step."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Progress | None = None
        self.task: TaskID | None = None
        self.title = ""
        self.running, self.said = "", ""  # the command running now, and its last line so far
        self.peek: Callable[[], str] = str
        self.poller: threading.Thread | None = None
        self.stopped = threading.Event()

    def command(self, line: str, peek: Callable[[], str]) -> None:
        """The command the step runs now on the live line (a terminal only), then, while it runs, the
        last line it printed: `peek` reads it from the guest every PEEK_EVERY seconds."""
        if self.live is None or self.task is None:
            return
        self.running, self.peek, self.said = line, peek, ""
        self._show()
        if self.poller is None:
            self.poller = threading.Thread(target=self._poll, name="peek", daemon=True)
            self.poller.start()

    def _show(self) -> None:
        if self.live is not None and self.task is not None:
            said = f"  > {self.said[:100]}" if self.said else ""
            # escaped: a command or its output may hold rich's markup brackets (`[notice]`, `[2345]`)
            self.live.update(self.task, description=escape(f"{self.title}  $ {self.running}{said}"), refresh=True)

    def _poll(self) -> None:
        while not self.stopped.wait(PEEK_EVERY):
            try:
                self.said = self.peek()
            except Exception:
                continue
            self._show()

    def _stop_polling(self) -> None:
        if self.poller is not None:
            self.stopped.set()
            self.poller.join()
            self.poller, self.stopped = None, threading.Event()

    def __call__(self, step: StepResult) -> None:
        if step.status == Status.RUNNING:
            if self.console.is_terminal:
                self.live = Progress(
                    SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                    console=self.console, transient=True,
                )  # fmt: skip
                self.live.start()
                self.title = f"{step.id:<4} {step.title}"
                self.task = self.live.add_task(escape(self.title))
            return
        self._stop_polling()
        if self.live is not None:
            self.live.stop()
            self.live = None
        self.console.print(f"  {done(step)}", highlight=False)
        if step.error:
            # soft_wrap: a log line stays one line, whole for grep, whatever the console's width.
            self.console.print(f"       {step.error}", markup=False, highlight=False, soft_wrap=True)
            # The cause on screen: the decisive lines of what failed; the full output is in the log.
            for line in step.commands[-1].decisive[1:] if step.commands else []:
                self.console.print(f"         {line}", markup=False, highlight=False, style="red", soft_wrap=True)
            for claim in step.claims:
                if not claim.passed and claim.diff:
                    self.console.print(claim.diff, markup=False, highlight=False)
            if step.service_log:
                self.console.print("       the service's own log says:", highlight=False)
                for line in service_lines(step.service_log):
                    self.console.print(f"         {line}", markup=False, highlight=False, style="red", soft_wrap=True)
            for name, text in step.logs.items():
                self.console.print(f"       {name} says:", markup=False, highlight=False)
                for line in service_lines(text, tail=3)[-3:]:
                    self.console.print(f"         {line}", markup=False, highlight=False, style="red", soft_wrap=True)


def service_lines(log: str, tail: int = 5) -> list[str]:
    """What to show of the service's log: its decisive lines, else its last few lines."""
    return decisive_lines(log, fallback=False) or log.splitlines()[-tail:]


def step_line(console: Console, step: StepResult, *, prefix: str) -> None:
    """A plain line per finished step, `prefix` first: the progress of several rehearsals at once."""
    if step.status == Status.RUNNING:
        return
    mark, style = MARKS[step.status]
    console.print(
        f"  {prefix:<10} [{style}]{mark:<4}[/] {step.id:<4} {step.title:<52} {step.seconds:6.1f} s", highlight=False
    )
    if step.error:
        console.print(f"  {prefix:<10}      {step.error}", markup=False, highlight=False, soft_wrap=True)


def table(report: Report) -> Table:
    """One row per step: its status, time and the deviations it needed."""
    t = Table(show_edge=False, box=None, pad_edge=False, header_style="bold")
    for name in ("step", "title", "status", "seconds"):
        t.add_column(name, no_wrap=True)
    t.add_column("deviations", overflow="fold")
    for s in report.steps:
        style = MARKS[s.status][1]
        deviations = "; ".join(d.reason for d in s.deviations) or "-"
        t.add_row(s.id, s.title, f"[{style}]{s.status}[/]", f"{s.seconds:.1f}", deviations)
    return t


def verdict(report: Report) -> list[str]:
    """The closing lines: the outcome, the steps that need a deviation, and the failure, if any."""
    held = sum(c.passed for c in report.claims)
    lines = [f"note: before this run, {report.previous}"] if report.previous else []
    lines.append(
        f"{report.platform} ({report.mode}) on {report.target}: {report.status}, "
        f"{report.seconds:.1f} s, claims {held}/{len(report.claims)} held"
    )
    if deviated := report.deviated:
        lines.append(
            f"verdict: {len(deviated)} of {len(report.steps)} steps need a deviation on {report.platform}: "
            + ", ".join(s.id for s in deviated)
        )
    lines += [f"  {s.id} as written {s.literal}" for s in report.steps if s.literal]
    if report.caches:
        lines.append(f"caches: {'; '.join(report.caches)}")
    if report.tutorial:
        lines.append(f"the text ({report.tutorial}) adds {len(report.added)} commands, drops {len(report.dropped)}")
        lines += [f"  added, runs: {a}" for a in report.added] + [f"  dropped, not run: {d}" for d in report.dropped]
    if (failed := report.failed_step) is not None:
        lines.append(f"{failed.status} at {failed.where} ({failed.title}): {failed.error}")
    return lines


def show(report: Report, console: Console) -> None:
    console.print(table(report))
    for line in verdict(report):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


VERDICT_STYLES = {Verdict.AS_EXPECTED: "green", Verdict.FINDING: "yellow", Verdict.ERROR: "bold red"}


def faults_table(findings: list[Finding]) -> Table:
    """One row per fault of `rehearse faults`: its verdict, time and what was seen (or why it could not run)."""
    t = Table(show_edge=False, box=None, pad_edge=False, header_style="bold")
    for name in ("fault", "verdict", "seconds"):
        t.add_column(name, no_wrap=True)
    t.add_column("observed", overflow="fold")
    for f in findings:
        said = f.error or f.observed
        if f.fix:
            said += f"\nfix: {f.fix}"
        t.add_row(f.id, f"[{VERDICT_STYLES[f.verdict]}]{f.verdict}[/]", f"{f.seconds:.1f}", escape(said))
    return t


def show_fault(finding: Finding, console: Console) -> None:
    """The progress line of one fault, once it has run."""
    style = VERDICT_STYLES[finding.verdict]
    console.print(f"  [{style}]{finding.verdict:<11}[/] {finding.id:<16} {finding.seconds:6.1f} s", highlight=False)


def figures_cells(f: Figures) -> list[str]:
    errors = ", ".join(f"{kind} {n}" for kind, n in f.socket_errors.items()) or "0"
    rps = f"{f.rps:.1f}" + (" (capped)" if f.capped else "")
    latency = [f"{f.p50_ms:.2f}", f"{f.p95_ms:.2f}", f"{f.p99_ms:.2f}"]
    return [str(f.connections), rps, f"{f.served_rps:.1f}", *latency, str(f.requests), str(f.non_2xx), errors]


def load_table(load: Load) -> Table:
    """One row per run of `rehearse load`: each concurrency, then the unix/TCP rounds."""
    t = Table(show_edge=False, box=None, pad_edge=False, header_style="bold")
    t.add_column("run", no_wrap=True)
    for name in ("connections", "req/s", "2xx/s", "p50 ms", "p95 ms", "p99 ms", "requests", "non-2xx", "socket errors"):
        t.add_column(name, no_wrap=True, justify="left" if name == "socket errors" else "right")
    for f in load.levels:
        style = "bold red" if f.connections == load.knee else ""
        t.add_row("level", *figures_cells(f), style=style)
    for i, r in enumerate(load.rounds, 1):
        t.add_row(f"{i}: {r.socket}", *figures_cells(r.figures))
    return t


def load_verdict(load: Load) -> list[str]:
    """The closing lines of `rehearse load`: the knee and the socket finding, or why it stopped."""
    lines = []
    if load.knee is not None:
        lines.append(f"knee: {load.knee_why}")
        lines += [f"  {line}" for line in load.knee_evidence]
    elif load.levels:
        lines.append(f"knee: none: no errors up to {load.levels[-1].connections} connections")
    if load.claim:
        lines.append(f"unix-socket claim (step 6.2, faster than TCP): {load.claim}: {load.claim_why}")
    if load.restored:
        lines.append(f"guest: {load.restored}")
    if load.error:
        lines.append(f"stopped short: {load.error}")
    return lines
