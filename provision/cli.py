"""`rehearse`: bring up a guest, apply the tutorial's steps, report per step; one-line errors."""

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Error as PlaywrightError

from provision import drift, platforms
from provision.browser import find_chromium, look
from provision.drivers import TARGET_PLATFORM, Driver, DriverError, default_target, get_driver
from provision.guest import Guest
from provision.html import write_html
from provision.junit import write_junit
from provision.params import Params
from provision.rehearsal import rehearse
from provision.report import CHANGED, FAILED, RUNNING, UNCHANGED, ClaimResult, Report, StepResult, table

BROWSER_CLAIM = "a browser shows the heading 'Hello There!' in blue"


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
    }
    for name, help_ in guest_cmds.items():
        s = sub.add_parser(name, help=help_)
        s.add_argument("--target", default=default_target(), help="podman, vagrant or ssh://user@host")
        s.add_argument("--platform", help="trusty or bookworm (default: the target's own)")
        s.add_argument("--workdir", type=Path, default=Path(".rehearse"), help="state, logs and reports")
        if name == "destroy":
            s.add_argument("--purge", action="store_true", help="also remove the cached base image")
        if name in ("up", "apply"):
            s.add_argument("--mode", default="adapted", choices=platforms.MODES)
            s.add_argument("--user", default=Params.user, help="the tutorial's `user`")
            s.add_argument("--server-name", default=Params.server_name, help="the tutorial's `server_domain_or_IP`")
    d = sub.add_parser("drift", help="compare a tutorial's code blocks (Markdown) with the step catalogue")
    d.add_argument("markdown", type=Path)
    return p


def show_progress(step: StepResult) -> None:
    """One line per step; on a terminal the line appears when the step starts and is completed after."""
    tty = sys.stdout.isatty()
    if step.status == RUNNING:
        if tty:
            print(f"  ...  {step.id:<4} {step.title:<52}", end="", flush=True)
        return
    mark = {FAILED: "FAIL", CHANGED: "chg ", UNCHANGED: "ok  "}[step.status]
    print(f"{chr(13) if tty else ''}  {mark} {step.id:<4} {step.title:<52} {step.seconds:6.1f} s", flush=True)
    if step.error:
        print(f"       {step.error}", flush=True)


def run_steps(driver: Driver, args: argparse.Namespace, out: Path) -> Report:
    params = Params(user=args.user, server_name=args.server_name)
    guest = Guest(driver.host_spec(), params, out / "rehearsal.log")
    steps = driver.platform.steps(args.mode)
    print(f"rehearsing {len(steps)} steps: {driver.platform.name} ({args.mode}) on {driver.target}", flush=True)
    return rehearse(
        guest, driver.platform, args.mode, target=driver.target, report_path=out / "report.json",
        http_url=driver.http_url(), progress=show_progress,
    )  # fmt: skip


def look_in_browser(report: Report, params: Params, out: Path) -> None:
    """Open the served page in headless Chromium as the reader would; its verdict joins step 8.4."""
    if find_chromium() is None:
        print("note: no chromium on PATH, so no screenshot (install the Debian package `chromium`)")
        return
    port = urlsplit(report.http_url).port
    try:
        seen = look(f"http://{params.server_name}:{port}/", out / "screenshot.png", (params.server_name, "127.0.0.1"))
    except PlaywrightError as e:  # the page never loaded: that is the claim failing, not the tool
        passed, detail = False, str(e).splitlines()[0]
    else:
        report.screenshot = str(seen.screenshot)
        passed = (seen.status, seen.heading, seen.color) == (200, "Hello There!", "rgb(0, 0, 255)")
        detail = f"HTTP {seen.status}, heading {seen.heading!r} in {seen.color}"
    report.steps[-1].claims.append(ClaimResult("browser-blue-heading", BROWSER_CLAIM, passed, detail))
    if not passed:
        report.status = "failed"
        report.steps[-1].status, report.steps[-1].error = FAILED, f"claim 'browser-blue-heading' failed: {detail}"


def write_reports(report: Report, out: Path) -> None:
    write_html(report, out / "report.html")
    write_junit(report, out / "junit.xml")
    report.save(out / "report.json")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "drift":
            return drift.report(args.markdown)
        platform = platforms.get(args.platform or TARGET_PLATFORM.get(args.target, "trusty"))
        out = state_dir(args.workdir, args.target, platform.name)
        out.mkdir(parents=True, exist_ok=True)
        driver = get_driver(args.target, platform, out)
        if args.command == "status":
            print(driver.status())
            return 0
        if args.command == "destroy":
            driver.destroy()
            if args.purge:
                driver.purge()
            return 0
        if args.command == "report":
            report = Report.load(out / "report.json")
        else:
            if args.command == "up":
                driver.up()
            report = run_steps(driver, args, out)
            if report.status == "passed":
                look_in_browser(report, Params(user=args.user, server_name=args.server_name), out)
        write_reports(report, out)
        print(f"report: {out / 'report.html'} (JSON: report.json, JUnit: junit.xml, log: {report.log})")
        print(table(report))
        if (failed := report.failed_step) is not None:
            print(
                f"rehearse: step {failed.id} ({failed.title}) failed: {failed.error} (log: {report.log})",
                file=sys.stderr,
            )
            return 1
        return 0
    except (DriverError, ValueError, FileNotFoundError) as e:
        print(f"rehearse: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rehearse: interrupted; the partial report and log are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
