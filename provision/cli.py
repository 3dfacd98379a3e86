"""`rehearse`: bring up a guest, apply the tutorial's steps, report per step; one-line errors."""

import argparse
import signal
import sys
from dataclasses import replace
from pathlib import Path
from types import FrameType

from rich.console import Console

from provision import commands, platforms, prerequisites
from provision.commands import Session, check_artifacts, state_dir, write_reports
from provision.errors import RehearseError
from provision.guests import vagrantfile
from provision.guests.targets import default_target, get_driver, target_kind
from provision.platforms import Mode
from provision.rehearsal import load
from provision.reports.record import Report
from provision.reports.terminal import show
from provision.tutorial import document, drift
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


def duration_arg(text: str) -> float:
    """Seconds per run of the load tool: positive, at most load.MAX_DURATION."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= load.MAX_DURATION:
        raise argparse.ArgumentTypeError(f"expected seconds in (0, {load.MAX_DURATION:g}], got {text!r}")
    return value


def concurrency_arg(text: str) -> tuple[int, ...]:
    """Connections at once per level, comma-separated (`1,8,32`): each in 1..load.MAX_CONNECTIONS, in order."""
    try:
        levels = tuple(int(part) for part in text.split(","))
    except ValueError:
        levels = ()
    bounded = levels and len(levels) <= len(load.LEVELS) * 2
    if not bounded or any(not 0 < n <= load.MAX_CONNECTIONS for n in levels) or list(levels) != sorted(set(levels)):
        raise argparse.ArgumentTypeError(
            f"expected rising connection counts in 1..{load.MAX_CONNECTIONS}, comma-separated "
            f"(at most {len(load.LEVELS) * 2}), got {text!r}"
        )
    return levels


def rounds_arg(text: str) -> int:
    """Rounds of each socket in the unix/TCP comparison: 1..load.MAX_ROUNDS."""
    if not text.isdigit() or not 0 < int(text) <= load.MAX_ROUNDS:
        raise argparse.ArgumentTypeError(f"expected a whole number of rounds in 1..{load.MAX_ROUNDS}, got {text!r}")
    return int(text)


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
        "port": "write a tutorial's text with a platform's deviations in its own blocks (--check: prove it on a guest)",
        "load": "load the rehearsed site through nginx (wrk): figures per concurrency, the knee, unix socket vs TCP",
    }
    for name, help_ in guest_cmds.items():
        s = sub.add_parser(name, help=help_)
        s.add_argument("--target", default=default_target(), help="podman, vagrant or ssh://user@host")
        if name != "matrix":
            s.add_argument("--platform", help=f"{' or '.join(platforms.PLATFORMS)} (default: the target's own)")
        s.add_argument("--workdir", type=Path, default=Path(".rehearse"), help="state, logs and reports")
        if name == "destroy":
            s.add_argument("--purge", action="store_true", help="also remove the cached base image")
        if name == "load":
            s.add_argument(
                "--duration", type=duration_arg, default=load.DURATION,
                help=f"seconds per run (default {load.DURATION:g}, at most {load.MAX_DURATION:g})",
            )  # fmt: skip
            s.add_argument(
                "--concurrency", type=concurrency_arg, default=load.LEVELS, metavar="N[,N...]",
                help=f"connections at once, one run each (default {','.join(map(str, load.LEVELS))})",
            )  # fmt: skip
            s.add_argument(
                "--rounds", type=rounds_arg, default=load.ROUNDS,
                help=f"unix socket vs TCP: rounds of each, alternating, at {load.COMPARE_AT} connections "
                f"(default {load.ROUNDS}, at most {load.MAX_ROUNDS})",
            )  # fmt: skip
            s.add_argument(
                "--no-compare", dest="compare", action="store_false", help="skip the unix socket vs TCP rounds"
            )
        if name in ("faults", "load"):
            s.add_argument("--user", help="the tutorial's `user` (default: as the last rehearsal recorded it)")
            s.add_argument("--server-name", help="the server name (default: as the last rehearsal recorded it)")
        if name == "report":
            s.add_argument("run", nargs="?", metavar="RUN", help="a kept run (see --list) instead of the last one")
            s.add_argument("--list", action="store_true", help="list the kept runs: time, mode, verdict, failing step")
        if name == "verify":
            s.add_argument("pytest_args", nargs="*", metavar="PYTEST_ARG", help="passed to pytest (after --)")
        if name == "login":
            s.add_argument("--user", help="the tutorial's `user` (default: as the last rehearsal recorded it)")
            s.add_argument("-c", dest="run", metavar="COMMAND", help="run COMMAND (bash) instead of a shell")
        if name == "up":
            s.add_argument(
                "--no-cache", dest="caches", action="store_false",
                help="a new guest fetches and builds all (podman: no apt archives or pip wheels of earlier guests)",
            )  # fmt: skip
            s.add_argument(
                "--destroy", choices=commands.DESTROY, default="never",
                help="remove the guest after the rehearsal: never (default), when it passed, or always (CI)",
            )  # fmt: skip
        if name == "port":
            s.add_argument("tutorial", type=Path, metavar="FILE", help="the tutorial's text (Markdown)")
            s.add_argument("-o", dest="output", type=Path, help="where to write it (default: FILE.<platform>.md)")
            s.add_argument(
                "--check", action="store_true",
                help="then prove it: `up --tutorial OUT --mode literal` passes with no deviation, and drift of "
                "OUT against the platform's adapted plan is faithful",
            )  # fmt: skip
        if name in ("up", "apply", "plan", "port"):
            if name != "port":
                s.add_argument("--mode", type=Mode, default=Mode.ADAPTED, choices=list(Mode))
            s.add_argument("--user", default=Params.user, help="the tutorial's `user`")
            s.add_argument("--server-name", default=Params.server_name, help="the tutorial's `server_domain_or_IP`")
            s.add_argument(
                "--app", type=Path, default=Params.app, help="the tutorial's files: app/ (default), or your copy of it"
            )
        if name in ("up", "apply", "plan", "matrix"):
            s.add_argument(
                "--tutorial", type=Path, metavar="FILE",
                help="rehearse this tutorial's text (Markdown): its commands and files, on the catalogue's steps",
            )  # fmt: skip
        if name in ("up", "apply"):
            s.add_argument(
                "--timeout", type=timeout_arg, action="append", default=[], metavar="[STEP=]SECONDS",
                help="how long each command may run before it is killed: all steps, or one (repeatable); "
                f"default {INSTALL_BUDGET:g} s for steps that install, {COMMAND_BUDGET:g} s otherwise",
            )  # fmt: skip
    d = sub.add_parser("drift", help="compare a tutorial's code blocks (Markdown) with the step catalogue")
    d.add_argument("markdown", type=Path)
    doc = sub.add_parser("doctor", help="what the host lacks for each target, and the apt-get line that installs it")
    doc.add_argument(
        "--target", choices=prerequisites.TARGETS, action="append", help="only this target (repeatable; default: all)"
    )
    doc.add_argument("--install", action="store_true", help="run that apt-get line (as root, or through sudo)")
    sub.add_parser("vagrantfile", help="print the project's Vagrantfile, its provisioner calling this rehearse")
    return p


def _terminated(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (CI cancelling, `vagrant` stopping) ends a run the way CTRL-C does: recorded, not lost."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Off a terminal (CI logs, pipes) rich would fold the table at 80 columns: a log has room.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    previous = signal.signal(signal.SIGTERM, _terminated)
    out: Path | None = None
    try:
        if args.command == "drift":
            return drift.main(args.markdown)
        if args.command == "doctor":
            return prerequisites.doctor(args.target or prerequisites.TARGETS, fix=args.install)
        if args.command == "vagrantfile":
            sys.stdout.write(vagrantfile.render(*vagrantfile.installed_tools()))
            return 0
        # Validated before anything touches a guest: these values reach root's shell and nginx.
        params = None
        if args.command in ("up", "apply", "plan", "port"):
            params = Params(user=args.user, server_name=args.server_name, app=args.app.resolve())
        kind = target_kind(args.target)
        tutorial: Path | None = getattr(args, "tutorial", None)
        if args.command == "matrix":
            prerequisites.require(kind, "chromium")  # the browser claim's, before any guest is touched
            text = document.load(tutorial, args.workdir, Params.app) if tutorial else None
            return commands.matrix(args.target, kind, args.workdir, console, text)
        platform = platforms.for_target(kind, args.platform)
        out = state_dir(args.workdir, args.target, platform.name)
        text = None
        if params is not None and args.command != "port":  # port reads its text, then the one it writes
            if tutorial is not None:
                out.mkdir(parents=True, exist_ok=True)
                text = document.load(tutorial, out, params.app)
                params = replace(params, app=text.app)
            check_artifacts(platform, args.mode, params, text)
        out.mkdir(parents=True, exist_ok=True)
        driver = get_driver(args.target, platform.guest, out, caches=getattr(args, "caches", True))
        if args.command in ("up", "apply"):  # the driver checked its own tools
            prerequisites.require(kind, "chromium")
        done = commands.ON_A_GUEST[args.command](Session(args, console, platform, driver, out, params, text))
        if isinstance(done, int):
            return done
        write_reports(done, out)
        print(f"report: {out / 'report.html'} (JSON: report.json, JUnit: junit.xml, log: {done.log})")
        show(done, console)
        if (line := commands.failure_line(done)) is not None:
            print(line, file=sys.stderr)
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
