"""What each `rehearse` command does, given its parsed arguments: one function per command.

The CLI (`provision.cli`) parses, validates, picks the platform and the driver, and dispatches here;
each function returns the exit code, or the rehearsal's `Report` for the CLI to render and judge.
"""

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from rich.console import Console

from provision import platforms
from provision.errors import DriverError, UsageError
from provision.guests.driver import Driver
from provision.guests.lock import exclusive
from provision.guests.targets import get_driver
from provision.guests.transport import DEFAULT_TIMEOUT, Guest
from provision.layout import checkout
from provision.platforms import Mode, Platform
from provision.platforms.port import port as port_text
from provision.rehearsal import wrk
from provision.rehearsal.claims import Context
from provision.rehearsal.dryrun import dry_run, show_plan
from provision.rehearsal.faults import FAULTS, run_faults
from provision.rehearsal.load import Plan as LoadPlan
from provision.rehearsal.load import run_load
from provision.rehearsal.runner import rehearse
from provision.reports import history
from provision.reports.htmlpage import write_html
from provision.reports.junit import write_junit
from provision.reports.matrix import matrix_table, write_matrix
from provision.reports.record import Figures, Finding, Outcome, Report, StepResult, Verdict, write_atomically
from provision.reports.terminal import (
    StepProgress,
    faults_table,
    load_table,
    load_verdict,
    show,
    show_fault,
    step_line,
)  # fmt: skip
from provision.tutorial import drift
from provision.tutorial.document import Document, load
from provision.tutorial.params import Params
from provision.tutorial.reader import read_text
from provision.tutorial.steps import TUTORIAL

DESTROY = ("never", "passing", "always")


def state_dir(workdir: Path, target: str, platform: str) -> Path:
    return workdir / re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{target}-{platform}")


def should_destroy(policy: str, outcome: Outcome) -> bool:
    """`--destroy`: a failed guest is kept for inspection unless the policy is `always`."""
    return policy == "always" or (policy == "passing" and outcome == Outcome.PASSED)


def failure_line(report: Report) -> str | None:
    """The one line a failed rehearsal ends with on stderr: where it stopped, what, why, and the log."""
    if (failed := report.failed_step) is None:
        return None
    return f"rehearse: {failed.where} ({failed.title}) failed: {failed.error} (log: {report.log})"


def check_artifacts(platform: Platform, mode: Mode, params: Params, text: Document | None = None) -> None:
    """Every file the plan writes must be in the app directory, before any guest is touched."""
    names = {f.artifact for p in platform.plan(mode, text) for step in (p.step, p.original) for f in step.files}
    if missing := sorted(n for n in names if not (params.app / n).is_file()):
        raise UsageError(f"app directory {str(params.app)!r} lacks the tutorial's {', '.join(missing)}")


def write_reports(report: Report, out: Path) -> None:
    """The record and its renderings in the state dir, and a copy of all in the run's own directory."""
    write_html(report, out / "report.html")
    write_junit(report, out / "junit.xml")
    report.save(out / "report.json")
    history.keep(out)


@dataclass(frozen=True)
class Session:
    """One command on one guest: its arguments, the platform, the driver and the state directory."""

    args: argparse.Namespace
    console: Console
    platform: Platform
    driver: Driver
    out: Path
    params: Params | None  # up, apply, plan: validated before anything touches the guest
    text: Document | None = None  # `--tutorial`: the text whose commands and files run

    def lock(self) -> AbstractContextManager[Path]:
        """One writer per guest (of this checkout)."""
        return exclusive(f"{self.args.target}-{self.platform.name}")

    def running(self, purpose: str) -> None:
        if (state := self.driver.status()) != "running":
            raise DriverError(f"no running guest to {purpose} ({state}): `rehearse up` first")


def run_steps(
    driver: Driver,
    platform: Platform,
    params: Params,
    mode: Mode,
    out: Path,
    *,
    progress: Callable[[StepResult], None],
    watch: Callable[[str, Callable[[], str]], None] = lambda command, peek: None,
    timeouts: Mapping[str, float] | None = None,
    text: Document | None = None,
) -> Report:
    """Rehearse `platform` in `mode` on the driver's running guest (the catalogue, or a tutorial's
    `text`); the record goes to `out`."""
    ctx = Context(
        guest=Guest(driver.host_spec(), out / "rehearsal.log"),
        params=params,
        http_url=driver.http_url(),
        screenshot=out / "screenshot.png",
        timeouts=timeouts or {},
        watch=watch,
    )
    report_path = out / "report.json"
    history.keep(out)  # the last run's record, before this one replaces it: kept even if that run was killed
    history.prune(out)
    return rehearse(
        ctx, platform, mode,
        target=driver.target, report_path=report_path, progress=progress, caches=driver.caches(), text=text,
    )  # fmt: skip


def up_or_apply(s: Session) -> Report:
    """`up` (create the guest if needed) and `apply`: every step, with live progress."""
    assert s.params is not None
    with s.lock():
        if s.args.command == "up":
            s.driver.up()
        source = f" of {s.text.name}" if s.text else ""
        s.console.print(
            f"rehearsing {len(TUTORIAL)} steps{source}: {s.platform.name} ({s.args.mode}) on {s.driver.target}",
            markup=False, highlight=False,
        )  # fmt: skip
        progress = StepProgress(s.console)
        report = run_steps(
            s.driver, s.platform, s.params, s.args.mode, s.out,
            progress=progress, watch=progress.command, timeouts=dict(s.args.timeout), text=s.text,
        )  # fmt: skip
        if s.args.command == "up" and should_destroy(s.args.destroy, report.status):
            s.driver.destroy()
            s.console.print(f"guest removed (--destroy {s.args.destroy})", highlight=False)
    return report


def plan(s: Session) -> int:
    assert s.params is not None
    with s.lock():
        s.running("plan against")
        ctx = Context(Guest(s.driver.host_spec(), s.out / "plan.log"), s.params)
        show_plan(dry_run(ctx, s.platform, s.args.mode, s.text), s.console)
    return 0


def destroy(s: Session) -> int:
    with s.lock():
        s.driver.destroy()
        if s.args.purge:
            s.driver.purge()
    return 0


def status(s: Session) -> int:
    print(s.driver.status())
    return 0


def last_report(s: Session) -> int | Report:
    """`report`: the last rehearsal's record to render again; `--list`: the kept runs; RUN: one of them,
    rendered again in its own directory."""
    if s.args.list:
        runs = history.listing(s.out)
        for r in runs:
            s.console.print(f"{r.name:<20} {r.started:<26} {r.mode:<8} {r.status:<12} {r.failed_step}", markup=False)
        if not runs:
            print(f"no kept runs in {history.runs_dir(s.out)}")
        return 0
    if s.args.run is None:
        return Report.load(s.out / "report.json")
    where = history.run_path(s.out, s.args.run)
    report = Report.load(where / "report.json")
    write_html(report, where / "report.html")
    write_junit(report, where / "junit.xml")
    print(f"report: {where / 'report.html'} (JSON: report.json, JUnit: junit.xml)")
    show(report, s.console)
    return 1 if report.failed_step is not None else 0


def rehearsed_params(s: Session) -> Params:
    """The reader's values of the deploy this guest holds, as its last rehearsal recorded them; a value given
    on the command line must agree with the record (acting on another reader's deploy is refused)."""
    path = s.out / "report.json"
    recorded = Report.load(path).values if path.is_file() else {}
    given = {k: v for k in ("user", "server_name") if (v := getattr(s.args, k, None)) is not None}
    for key, value in given.items():
        if key in recorded and recorded[key] != value:
            flag = "--" + key.replace("_", "-")
            raise UsageError(
                f"{flag} {value!r} contradicts the rehearsed deploy ({key} {recorded[key]!r}, in {path}): "
                f"leave {flag} out, or rehearse with it first"
            )
    values = {k: v for k, v in recorded.items() if k in ("user", "server_name")} | given
    return Params(**values)


def login(s: Session) -> int:
    """The reader's shell in the project directory (their home until step 4.2 made it); a COMMAND
    runs there under the transport's time bound, an interactive shell for as long as its user likes."""
    user = rehearsed_params(s).user
    s.running("log in to")
    command: str | None = s.args.run
    where = "cd ~/myproject 2>/dev/null || cd ~"
    script = f"{where}; {command}" if command is not None else f"{where}; exec bash -l"
    inner = ["sudo", "-H", "-u", user, "bash", "-l", "-c", script]
    if command is not None:
        inner = ["timeout", f"{DEFAULT_TIMEOUT:g}", *inner]
    argv = s.driver.login_argv(inner, tty=command is None and sys.stdin.isatty())
    return subprocess.run(argv, check=False).returncode


def verify(s: Session) -> int:
    """The acceptance suite against the guest as the last passing rehearsal left it (pytest's
    `--reverify`): the developer's loop after editing a check, in seconds."""
    project = checkout()
    if project is None:
        raise UsageError("the acceptance suite stays in the checkout: `verify` runs from a checkout of this project")
    suite = project / "tests" / "test_acceptance.py"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite), "--reverify"]
    argv += ["--target", s.args.target, "--platform", s.platform.name, "--workdir", str(s.args.workdir.resolve())]
    with s.lock():  # the suite reboots the guest: one writer at a time still
        return subprocess.run([*argv, *s.args.pytest_args], cwd=project, check=False).returncode


def passed_record(s: Session, purpose: str) -> Report:
    """The record of the guest's last rehearsal, which must have passed: faults and load act on its deploy."""
    path = s.out / "report.json"
    if not path.is_file():
        raise UsageError(f"no rehearsal of this guest to {purpose} ({path} is missing): run `rehearse up` first")
    report = Report.load(path)
    if report.status != Outcome.PASSED:
        raise UsageError(f"the last rehearsal of this guest did not pass ({report.status}): run `rehearse up` first")
    return report


def faults(s: Session) -> int:
    """`rehearse faults`: after a passed rehearsal, each fault's finding goes into its reports. Exit 0
    when every fault ran (findings are verdicts on the tutorial, not failures), 1 when one could not."""
    params = rehearsed_params(s)
    path = s.out / "report.json"
    report = passed_record(s, "inject faults into")
    with s.lock():
        s.running("inject faults into")
        guest = Guest(s.driver.host_spec(), s.out / "rehearsal.log")
        ctx = Context(guest=guest, params=params, http_url=s.driver.http_url())
        s.console.print(f"injecting {len(FAULTS)} faults: {s.platform.name} on {s.driver.target}")
        guest.note(f"=== faults on {s.platform.name} ({s.driver.target})")
        report.findings = []

        def progress(finding: Finding) -> None:
            report.findings.append(finding)
            report.save(path)  # kept current, as the rehearsal's own record is
            show_fault(finding, s.console)

        run_faults(ctx, s.platform, progress=progress)
    write_reports(report, s.out)
    print(f"report: {s.out / 'report.html'} (JSON: report.json, JUnit: junit.xml, log: {guest.log})")
    s.console.print(faults_table(report.findings))
    counts = {v: sum(f.verdict == v for f in report.findings) for v in Verdict}
    print("faults: " + ", ".join(f"{verdict} {n}" for verdict, n in counts.items()))
    if errored := [f for f in report.findings if f.verdict == Verdict.ERROR]:
        first = errored[0]
        print(f"rehearse: fault {first.id} could not run: {first.error} (log: {guest.log})", file=sys.stderr)
        return 1
    return 0


def under_load(s: Session) -> int:
    """`rehearse load`: after a passed rehearsal, the deployed site under load through nginx, its knee and
    the unix-socket claim, into the reports. Exit 0 when the load ran and the guest was put back, else 1."""
    params = rehearsed_params(s)
    report = passed_record(s, "load")
    wrk.require()  # before anything touches the guest
    plan = LoadPlan(tuple(s.args.concurrency), s.args.duration, compare=s.args.compare, rounds=s.args.rounds)
    with s.lock():
        s.running("load")
        guest = Guest(s.driver.host_spec(), s.out / "rehearsal.log")
        ctx = Context(guest=guest, params=params, http_url=s.driver.http_url())
        s.console.print(
            f"load through nginx at {ctx.http_url}: {', '.join(map(str, plan.levels))} connections, "
            f"{plan.duration:g} s each{f'; then unix socket vs TCP, A/B x {plan.rounds}' if plan.compare else ''}"
        )

        def progress(label: str, f: Figures) -> None:
            s.console.print(
                f"  {label:<22} {f.connections:>4} conn {f.rps:>9.1f} req/s  p50 {f.p50_ms:7.2f} ms  "
                f"p99 {f.p99_ms:8.2f} ms  errors {f.errors}",
                highlight=False,
            )

        report.load_run = run_load(ctx, s.platform, plan, progress=progress)
    write_reports(report, s.out)
    print(f"report: {s.out / 'report.html'} (JSON: report.json, JUnit: junit.xml, log: {guest.log})")
    s.console.print(load_table(report.load_run))
    for line in load_verdict(report.load_run):
        s.console.print(line, markup=False, highlight=False, soft_wrap=True)
    if report.load_run.error:
        print(f"rehearse: the load stopped short: {report.load_run.error} (log: {guest.log})", file=sys.stderr)
        return 1
    return 0


def matrix(target: str, kind: str, workdir: Path, console: Console, text: Document | None = None) -> int:
    """Every platform `kind` boots, each on its own guest and state directory, at once (threads: the
    work is in the guests), each in audit mode (the catalogue, or a tutorial's `text`); then the
    steps x platforms matrix."""
    params = Params(app=text.app) if text is not None else Params()
    chosen = [p for p in platforms.PLATFORMS.values() if kind in p.targets]
    console.print(f"rehearsing {', '.join(p.name for p in chosen)} at once (audit) on {target}")

    def one(platform: Platform) -> Report:
        out = state_dir(workdir, target, platform.name)
        out.mkdir(parents=True, exist_ok=True)
        driver = get_driver(target, platform.guest, out)
        with exclusive(f"{target}-{platform.name}"):
            driver.up()
            lines = partial(step_line, console, prefix=platform.name)
            report = run_steps(driver, platform, params, Mode.AUDIT, out, progress=lines, text=text)
        write_reports(report, out)
        return report

    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        reports = list(pool.map(one, chosen))
    console.print(matrix_table(reports))
    html, junit = write_matrix(reports, workdir)
    print(f"matrix: {html} (JUnit, every platform: {junit})")
    for r in reports:
        if (failed := r.failed_step) is not None:
            print(f"rehearse: {r.platform}: step {failed.id} ({failed.title}) failed: {failed.error}", file=sys.stderr)
    return 1 if any(r.failed_step for r in reports) else 0


def port(s: Session) -> int:
    """`rehearse port`: the text with the platform's deviations written into its blocks; `--check`
    proves it: a literal rehearsal of it passes with no deviation, and its drift against the
    platform's adapted plan is faithful."""
    assert s.params is not None
    source: Path = s.args.tutorial
    out_file: Path = s.args.output or source.with_name(f"{source.stem}.{s.platform.name}.md")
    markdown = read_text(source)
    ported, steps = port_text(markdown, load(source, s.out, s.params.app), s.platform)
    write_atomically(out_file, ported)
    print(f"ported {source} to {s.platform.name}: {out_file} (steps rewritten: {', '.join(steps) or 'none'})")
    if not s.args.check:
        return 0
    started = time.monotonic()
    # A guest of its own, new: literal mode's verdict must not depend on what an earlier run left.
    spec = replace(s.platform.guest, name=f"{s.platform.name}-port")
    check_out = state_dir(s.args.workdir, s.args.target, spec.name)
    check_out.mkdir(parents=True, exist_ok=True)
    text = load(out_file, check_out, s.params.app)
    params = replace(s.params, app=text.app)
    check_artifacts(s.platform, Mode.LITERAL, params, text)
    driver = get_driver(s.args.target, spec, check_out)
    with exclusive(f"{s.args.target}-{spec.name}"):
        driver.destroy()
        driver.up()
        s.console.print(f"rehearsing {out_file.name}: {s.platform.name} (literal) on a new guest", markup=False)
        progress = StepProgress(s.console)
        report = run_steps(
            driver, s.platform, params, Mode.LITERAL, check_out, progress=progress, watch=progress.command, text=text
        )
        if report.status == Outcome.PASSED:
            driver.destroy()  # a failed one stays for inspection
    write_reports(report, check_out)
    show(report, s.console)
    adapted = [p.step for p in s.platform.plan(Mode.ADAPTED) if not p.step.as_root]
    findings = drift.check(ported, adapted)
    print(f"drift of {out_file.name} against {s.platform.name}'s adapted plan:")
    print(drift.format_findings(findings))
    passed = report.status == Outcome.PASSED and not report.deviated and not findings
    verdict = "passed" if passed else "failed"
    print(
        f"port check: {verdict} in {time.monotonic() - started:.1f} s: literal rehearsal {report.status} "
        f"with {len(report.deviated)} deviations, drift {'faithful' if not findings else f'{len(findings)} findings'}"
    )
    if (line := failure_line(report)) is not None:
        print(line, file=sys.stderr)
    return 0 if passed else 1


# The commands on one guest; `report`, `up` and `apply` give a Report for the CLI to render and judge.
ON_A_GUEST: Mapping[str, Callable[[Session], int | Report]] = {
    "up": up_or_apply,
    "apply": up_or_apply,
    "plan": plan,
    "status": status,
    "destroy": destroy,
    "report": last_report,
    "login": login,
    "verify": verify,
    "faults": faults,
    "port": port,
    "load": under_load,
}
