"""`rehearse`: bring up a guest, apply the tutorial's steps, report per step; one-line errors."""

import argparse
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from types import FrameType

from rich.console import Console

from provision import platforms
from provision.errors import DriverError, RehearseError, UsageError
from provision.guests.driver import Driver
from provision.guests.lock import exclusive
from provision.guests.targets import default_target, get_driver, target_kind
from provision.guests.transport import DEFAULT_TIMEOUT, Guest
from provision.layout import PROJECT
from provision.platforms import Mode, Platform
from provision.rehearsal.claims import Context
from provision.rehearsal.dryrun import dry_run, show_plan
from provision.rehearsal.faults import FAULTS, run_faults
from provision.rehearsal.runner import rehearse
from provision.reports.htmlpage import write_html
from provision.reports.junit import write_junit
from provision.reports.matrix import matrix_table, write_matrix
from provision.reports.record import Finding, Outcome, Report, StepResult, Verdict
from provision.reports.terminal import StepProgress, faults_table, show, show_fault, step_line
from provision.tutorial import drift
from provision.tutorial.params import Params
from provision.tutorial.steps import COMMAND_BUDGET, INSTALL_BUDGET, TUTORIAL


def timeout_arg(text: str) -> tuple[str, float]:
    """`SECONDS` (every step) or `STEP=SECONDS` (one step of the tutorial's numbering)."""
    step, _, seconds = text.rpartition("=")
    ids = [s.id for s in TUTORIAL]
    try:
        value = float(seconds)
    except ValueError:
        value = 0.0
    if not 0 < value <= 86400 or (step and step not in ids):
        raise argparse.ArgumentTypeError(
            f"expected SECONDS or STEP=SECONDS (STEP one of {', '.join(ids)}), got {text!r}"
        )
    return step or "*", value


DESTROY = ("never", "passing", "always")


def should_destroy(policy: str, outcome: Outcome) -> bool:
    """`--destroy`: a failed guest is kept for inspection unless the policy is `always`."""
    return policy == "always" or (policy == "passing" and outcome == Outcome.PASSED)


def state_dir(workdir: Path, target: str, platform: str) -> Path:
    return workdir / re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{target}-{platform}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rehearse", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    guest_cmds = {
        "up": "create the guest if needed, then apply every step (the default way in)",
        "apply": "apply every step to a guest that is already running (what Vagrant's trigger calls)",
        "status": "print whether the guest is running",
        "destroy": "remove the guest",
        "report": "render the last rehearsal's HTML and JUnit reports again",
        "plan": "show what `apply` would do, step by step, with a diff per file it would write; touches nothing",
        "login": "a shell in the guest as the tutorial's user, in the project directory (or run -c COMMAND there)",
        "matrix": "rehearse every platform the target boots, at once, in audit mode; then the accuracy matrix",
        "verify": "run the acceptance checks (tests/test_acceptance.py) on the rehearsed guest, without rehearsing",
        "faults": "inject faults into the rehearsed service; report each as a finding about the tutorial's deploy",
    }
    for name, help_ in guest_cmds.items():
        s = sub.add_parser(name, help=help_)
        s.add_argument("--target", default=default_target(), help="podman, vagrant or ssh://user@host")
        if name != "matrix":
            s.add_argument("--platform", help=f"{' or '.join(platforms.PLATFORMS)} (default: the target's own)")
        s.add_argument("--workdir", type=Path, default=Path(".rehearse"), help="state, logs and reports")
        if name == "destroy":
            s.add_argument("--purge", action="store_true", help="also remove the cached base image")
        if name == "faults":
            s.add_argument("--user", default=Params.user, help="the tutorial's `user`, as rehearsed")
            s.add_argument("--server-name", default=Params.server_name, help="the server name, as rehearsed")
        if name == "verify":
            s.add_argument("pytest_args", nargs="*", metavar="PYTEST_ARG", help="passed to pytest (after --)")
        if name == "login":
            s.add_argument("--user", default=Params.user, help="the tutorial's `user`")
            s.add_argument("-c", dest="run", metavar="COMMAND", help="run COMMAND (bash) instead of a shell")
        if name == "up":
            s.add_argument(
                "--no-cache", dest="caches", action="store_false",
                help="a new guest fetches and builds all (podman: no apt archives or pip wheels of earlier guests)",
            )  # fmt: skip
            s.add_argument(
                "--destroy", choices=DESTROY, default="never",
                help="remove the guest after the rehearsal: never (default), when it passed, or always (CI)",
            )  # fmt: skip
        if name in ("up", "apply", "plan"):
            s.add_argument("--mode", type=Mode, default=Mode.ADAPTED, choices=list(Mode))
            s.add_argument("--user", default=Params.user, help="the tutorial's `user`")
            s.add_argument("--server-name", default=Params.server_name, help="the tutorial's `server_domain_or_IP`")
            s.add_argument(
                "--app", type=Path, default=Params.app, help="the tutorial's files: app/ (default), or your copy of it"
            )
        if name in ("up", "apply"):
            s.add_argument(
                "--timeout", type=timeout_arg, action="append", default=[], metavar="[STEP=]SECONDS",
                help="how long each command may run before it is killed: all steps, or one (repeatable); "
                f"default {INSTALL_BUDGET:g} s for steps that install, {COMMAND_BUDGET:g} s otherwise",
            )  # fmt: skip
    d = sub.add_parser("drift", help="compare a tutorial's code blocks (Markdown) with the step catalogue")
    d.add_argument("markdown", type=Path)
    return p


def run_steps(
    driver: Driver,
    platform: Platform,
    params: Params,
    mode: Mode,
    out: Path,
    *,
    progress: Callable[[StepResult], None],
    watch: Callable[[str], None] = lambda command: None,
    timeouts: Mapping[str, float] | None = None,
) -> Report:
    """Rehearse `platform` in `mode` on the driver's running guest; the record goes to `out`."""
    ctx = Context(
        guest=Guest(driver.host_spec(), out / "rehearsal.log"),
        params=params,
        http_url=driver.http_url(),
        screenshot=out / "screenshot.png",
        timeouts=timeouts or {},
        watch=watch,
    )
    report_path = out / "report.json"
    return rehearse(
        ctx, platform, mode, target=driver.target, report_path=report_path, progress=progress, caches=driver.caches()
    )


def check_artifacts(platform: Platform, mode: Mode, params: Params) -> None:
    """Every file the plan writes must be in the app directory, before any guest is touched."""
    names = {f.artifact for p in platform.plan(mode) for step in (p.step, p.original) for f in step.files}
    if missing := sorted(n for n in names if not (params.app / n).is_file()):
        raise UsageError(f"app directory {str(params.app)!r} lacks the tutorial's {', '.join(missing)}")


def login(driver: Driver, params: Params, command: str | None) -> int:
    """The reader's shell in the project directory (their home until step 4.2 made it); a COMMAND
    runs there under the transport's time bound, an interactive shell for as long as its user likes."""
    if driver.status() != "running":
        raise DriverError(f"no running guest to log in to ({driver.status()}): `rehearse up` first")
    where = "cd ~/myproject 2>/dev/null || cd ~"
    script = f"{where}; {command}" if command is not None else f"{where}; exec bash -l"
    inner = ["sudo", "-H", "-u", params.user, "bash", "-l", "-c", script]
    if command is not None:
        inner = ["timeout", f"{DEFAULT_TIMEOUT:g}", *inner]
    argv = driver.login_argv(inner, tty=command is None and sys.stdin.isatty())
    return subprocess.run(argv, check=False).returncode


def run_matrix(target: str, kind: str, workdir: Path, console: Console) -> int:
    """Every platform `kind` boots, each on its own guest and state directory, at once (threads: the
    work is in the guests), each in audit mode; then the steps x platforms matrix."""
    chosen = [p for p in platforms.PLATFORMS.values() if kind in p.targets]
    console.print(f"rehearsing {', '.join(p.name for p in chosen)} at once (audit) on {target}")

    def one(platform: Platform) -> Report:
        out = state_dir(workdir, target, platform.name)
        out.mkdir(parents=True, exist_ok=True)
        driver = get_driver(target, platform.guest, out)
        with exclusive(f"{target}-{platform.name}"):
            driver.up()
            lines = partial(step_line, console, prefix=platform.name)
            report = run_steps(driver, platform, Params(), Mode.AUDIT, out, progress=lines)
        write_reports(report, out)
        return report

    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        reports = list(pool.map(one, chosen))
    console.print(matrix_table(reports))
    html, junit = write_matrix(reports, workdir)
    print(f"matrix: {html} (JUnit, every platform: {junit})")
    broken = [r for r in reports if r.failed_step is not None]
    for r in broken:
        failed = r.failed_step
        assert failed is not None
        print(f"rehearse: {r.platform}: step {failed.id} ({failed.title}) failed: {failed.error}", file=sys.stderr)
    return 1 if broken else 0


def verify(target: str, platform: Platform, workdir: Path, extra: list[str]) -> int:
    """The acceptance suite against the guest as the last passing rehearsal left it (pytest's
    `--reverify`): the developer's loop after editing a check, in seconds."""
    suite = PROJECT / "tests" / "test_acceptance.py"
    if not suite.is_file():
        raise UsageError(f"no acceptance suite at {suite}: `verify` runs from a checkout of this project")
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite), "--reverify"]
    argv += ["--target", target, "--platform", platform.name, "--workdir", str(workdir.resolve()), *extra]
    return subprocess.run(argv, cwd=PROJECT, check=False).returncode


def _terminated(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (CI cancelling, `vagrant` stopping) ends a run the way CTRL-C does: recorded, not lost."""
    raise KeyboardInterrupt


def write_reports(report: Report, out: Path) -> None:
    write_html(report, out / "report.html")
    write_junit(report, out / "junit.xml")
    report.save(out / "report.json")


def inject_faults(driver: Driver, platform: Platform, args: argparse.Namespace, out: Path, console: Console) -> int:
    """`rehearse faults`: after a passed rehearsal, each fault's finding goes into its reports. Exit 0
    when every fault ran (findings are verdicts on the tutorial, not failures), 1 when one could not."""
    params = Params(user=args.user, server_name=args.server_name)
    path = out / "report.json"
    if not path.is_file():
        raise UsageError(
            f"no rehearsal of this guest to inject faults into ({path} is missing): run `rehearse up` first"
        )
    report = Report.load(path)
    if report.status != Outcome.PASSED:
        raise UsageError(f"the last rehearsal of this guest did not pass ({report.status}): run `rehearse up` first")
    if (state := driver.status()) != "running":
        raise UsageError(f"the guest is {state}: run `rehearse up` first")
    guest = Guest(driver.host_spec(), out / "rehearsal.log")
    ctx = Context(guest=guest, params=params, http_url=driver.http_url())
    console.print(f"injecting {len(FAULTS)} faults: {platform.name} on {driver.target}")
    guest.note(f"=== faults on {platform.name} ({driver.target})")
    report.findings = []

    def progress(finding: Finding) -> None:
        report.findings.append(finding)
        report.save(path)  # kept current, as the rehearsal's own record is
        show_fault(finding, console)

    run_faults(ctx, platform, progress=progress)
    write_reports(report, out)
    print(f"report: {out / 'report.html'} (JSON: report.json, JUnit: junit.xml, log: {guest.log})")
    console.print(faults_table(report.findings))
    counts = {v: sum(f.verdict == v for f in report.findings) for v in Verdict}
    print("faults: " + ", ".join(f"{verdict} {n}" for verdict, n in counts.items()))
    if errored := [f for f in report.findings if f.verdict == Verdict.ERROR]:
        first = errored[0]
        print(f"rehearse: fault {first.id} could not run: {first.error} (log: {guest.log})", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Off a terminal (CI logs, pipes) rich would fold the table at 80 columns: a log has room.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    previous = signal.signal(signal.SIGTERM, _terminated)
    out: Path | None = None
    try:
        if args.command == "drift":
            return drift.main(args.markdown)
        # Validated before anything touches a guest: these values reach root's shell and nginx.
        params = None
        if args.command in ("up", "apply", "plan"):
            params = Params(user=args.user, server_name=args.server_name, app=args.app.resolve())
        kind = target_kind(args.target)
        if args.command == "matrix":
            return run_matrix(args.target, kind, args.workdir, console)
        platform = platforms.for_target(kind, args.platform)
        if params is not None:
            check_artifacts(platform, args.mode, params)
        out = state_dir(args.workdir, args.target, platform.name)
        out.mkdir(parents=True, exist_ok=True)
        driver = get_driver(args.target, platform.guest, out, caches=getattr(args, "caches", True))
        if args.command == "faults":
            with exclusive(f"{args.target}-{platform.name}"):
                return inject_faults(driver, platform, args, out, console)
        if args.command == "status":
            print(driver.status())
            return 0
        if args.command == "login":
            return login(driver, Params(user=args.user), args.run)
        if args.command == "verify":  # the suite reboots the guest: one writer at a time still
            with exclusive(f"{args.target}-{platform.name}"):
                return verify(args.target, platform, args.workdir, args.pytest_args)
        if args.command == "report":
            report = Report.load(out / "report.json")
        else:
            with exclusive(f"{args.target}-{platform.name}"):
                if args.command == "destroy":
                    driver.destroy()
                    if args.purge:
                        driver.purge()
                    return 0
                assert params is not None
                if args.command == "plan":
                    if driver.status() != "running":
                        raise DriverError(f"no running guest to plan against ({driver.status()}): `rehearse up` first")
                    ctx = Context(Guest(driver.host_spec(), out / "plan.log"), params)
                    show_plan(dry_run(ctx, platform, args.mode), console)
                    return 0
                if args.command == "up":
                    driver.up()
                console.print(f"rehearsing {len(TUTORIAL)} steps: {platform.name} ({args.mode}) on {driver.target}")
                progress = StepProgress(console)
                report = run_steps(
                    driver, platform, params, args.mode, out,
                    progress=progress, watch=progress.command, timeouts=dict(args.timeout),
                )  # fmt: skip
                if args.command == "up" and (args.destroy, report.status) in (
                    ("always", report.status),
                    ("passing", Outcome.PASSED),
                ):
                    driver.destroy()
                    console.print(f"guest removed (--destroy {args.destroy})", highlight=False)
        write_reports(report, out)
        print(f"report: {out / 'report.html'} (JSON: report.json, JUnit: junit.xml, log: {report.log})")
        show(report, console)
        if (failed := report.failed_step) is not None:
            print(
                f"rehearse: step {failed.id} ({failed.title}) failed: {failed.error} (log: {report.log})",
                file=sys.stderr,
            )
            return 1
        return 0
    except RehearseError as e:
        print(f"rehearse: error: {e}", file=sys.stderr)
        return e.exit_code
    except FileNotFoundError as e:
        print(f"rehearse: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if out is not None and (out / "report.json").is_file():
            write_reports(Report.load(out / "report.json"), out)
        print(f"rehearse: interrupted; the partial report and log are kept in {out or args.workdir}", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
