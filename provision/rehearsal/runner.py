"""Apply a platform's plan to a guest in order, read facts before acting, and record everything."""

import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from provision.guests.transport import Result
from provision.platforms import Mode, Platform
from provision.platforms.base import PlannedStep
from provision.rehearsal.claims import Context, check
from provision.reports.decisive import decisive_lines, network_unreachable
from provision.reports.record import (
    CommandResult,
    DamagedRecord,
    DeviationUsed,
    Outcome,
    Report,
    Status,
    StepResult,
)
from provision.tutorial.document import Document
from provision.tutorial.steps import Serve, Step

SERVE_POLL = 0.2  # seconds between looks at a starting server: a Flask dev server answers within ~1 s


class StepFailed(Exception):
    """A step's command, claim or probe failed; the message is the step's one-line verdict."""


def _record(result: StepResult, r: Result, cite: str = "") -> None:
    decisive = decisive_lines(r.output) if r.exit_code != 0 else []
    result.commands.append(CommandResult(r.command, r.exit_code, round(r.seconds, 2), r.tail(), decisive, cite))


def _cite(step: Step, what: str) -> str:
    """Where the tutorial's text shows `what` (a command or file path of `step`), when a text runs."""
    return step.cite.of(what) if step.cite is not None else ""


def _at(cite: str) -> str:
    return f" ({cite})" if cite else ""


def _run(ctx: Context, step: Step, line: str, *, live: bool = False) -> Result:
    """One of the step's lines, as the reader types it (root only for the prerequisite); `live`: a
    command of the step itself, which the progress display shows with its output so far."""
    user = None if step.as_root else ctx.params.user
    if live:
        ctx.watch(line, ctx.guest.peek)
    expanded, prelude, budget = ctx.params.expand(line), step.shell.prelude(), ctx.budget(step)
    return ctx.guest.run(expanded, user=user, prelude=prelude, timeout=budget, live=live)


def _must_succeed(result: StepResult, r: Result, cite: str = "") -> None:
    """Record a command of the step; a failing one ends the step."""
    _record(result, r, cite)
    if r.timed_out:  # killed in the guest with its whole process group
        raise StepFailed(f"`{r.command}`{_at(cite)} timed out after {r.timeout:g} s (killed in the guest)")
    if r.exit_code != 0:
        said = result.commands[-1].decisive[:1]
        cause = "; the guest's network was unreachable" if network_unreachable(r.output) else ""
        raise StepFailed(
            f"`{r.command}`{_at(cite)} exited {r.exit_code}" + "".join(f": {line}" for line in said) + cause
        )


def serve(ctx: Context, item: Serve, step: Step, result: StepResult) -> None:
    """Start the server as the reader does, look at the page while the server is alive and until it
    answers, then CTRL-C it. The port must be free first: else the page could come from another server."""
    taken = ctx.guest.run(item.listeners, timeout=30)
    _record(result, taken)
    if taken.exit_code != 0 or taken.output.strip():
        raise StepFailed(f"port {item.port} is taken before `{item.command}` started: {taken.output.strip()[:300]}")
    log = f"{ctx.guest.workspace(ctx.params.user)}/serve-{item.port}.log"  # this run's alone: no stale evidence
    # job control on, so the background job keeps SIGINT (CTRL-C) instead of ignoring it
    start = _run(ctx, step, f"set -m; nohup {item.command} >{log} 2>&1 </dev/null & echo $!")
    _record(result, start, _cite(step, item.command))
    if start.exit_code != 0:
        raise StepFailed(f"`{item.command}` did not start (exit {start.exit_code})")
    pid = start.output.strip().splitlines()[-1]
    deadline = time.monotonic() + ctx.serve_wait
    while True:
        alive = ctx.guest.run(f"kill -0 {pid}", user=ctx.params.user, timeout=30).exit_code == 0
        claim = check(ctx, item.claim, step)
        # A diff is an answer (another page): waiting longer would not change it.
        if not alive or claim.passed or claim.diff or time.monotonic() > deadline:
            break
        time.sleep(SERVE_POLL)
    stop = ctx.guest.run(
        f"kill -INT {pid}; for i in $(seq 50); do kill -0 {pid} 2>/dev/null || exit 0; sleep 0.2; done; "
        f"kill -KILL {pid}; echo 'did not stop on CTRL-C'; exit 1",
        user=ctx.params.user,
    )
    _record(result, stop)
    result.claims.append(claim)
    if not alive or not claim.passed:
        # A server that answered logs its requests: only a line that says why is worth quoting then.
        server_log = ctx.guest.run(f"tail -n 20 {log}", user=ctx.params.user).output
        said = decisive_lines(server_log, fallback=not alive)[:1]
        why = (
            f"claim {claim.id!r} failed: {claim.detail}"
            if alive
            else f"`{item.command}` exited before its page answered"
        )
        raise StepFailed(why + "".join(f"; server log: {line}" for line in said))
    if stop.exit_code != 0:
        raise StepFailed(f"`{item.command}` did not stop on CTRL-C")


def _holds(ctx: Context, step: Step) -> bool:
    """The step's fact: is its effect already in place?"""
    assert step.probe is not None
    r = _run(ctx, step, step.probe)
    if r.timed_out:
        raise StepFailed(f"its probe timed out after {r.timeout:g} s (probe: {step.probe})")
    return r.exit_code == 0


class Action(StrEnum):
    """What a step does to the guest, decided from the facts read before acting."""

    RUN = "run"  # its commands: the effect is absent, it has no probe, or the mode never skips
    HANDLER = "handler"  # in place, but files it or its service reads changed: its on_change commands
    NOTHING = "in place"


def decide(ctx: Context, step: Step, *, changed: bool, written: Collection[str], skip_in_place: bool) -> Action:
    """`changed`: the step's own files differ (or will); `written`: guest paths written earlier in the run."""
    handler = step.on_change
    if not skip_in_place or step.probe is None or (changed and handler is None) or not _holds(ctx, step):
        return Action.RUN
    stale = changed or (handler is not None and any(ctx.params.expand(p) in written for p in handler.paths))
    return Action.HANDLER if stale and handler is not None else Action.NOTHING


def apply_step(
    ctx: Context, step: Step, result: StepResult, *, skip_in_place: bool = True, written: Collection[str] = ()
) -> None:
    """Files first (written only when they differ), then the commands unless the probe already
    holds; a step without a probe leaves nothing behind (a test run, `nginx -t`), so it always runs.
    A step in place whose files, or the files its service reads (`written` earlier in this run),
    changed runs its `on_change` handler instead. Without `skip_in_place` the commands run whatever
    the guest's history; the probe then only verifies their effect."""
    changed = False
    for f in step.files:
        path = ctx.params.expand(f.path)
        if ctx.guest.sync_file(path, ctx.params.artifact(f.artifact), user=ctx.params.user, sudo=f.sudo):
            changed = True
            result.files.append(path)
        if cite := _cite(step, f.path):
            result.file_cites[path] = cite
    action = decide(ctx, step, changed=changed, written=written, skip_in_place=skip_in_place)
    in_place = action is not Action.RUN
    if action is Action.HANDLER and step.on_change is not None:
        for line in step.on_change.run:
            _must_succeed(result, _run(ctx, step, line, live=True))
        changed = True
    elif action is Action.RUN:
        for item in step.run:
            if isinstance(item, Serve):
                serve(ctx, item, step, result)
                continue
            _must_succeed(result, _run(ctx, step, item, live=True), _cite(step, item))
        changed = changed or step.probe is not None
    effect = in_place or step.probe is None or _holds(ctx, step)
    # Claims before the probe's verdict: a claim that fails says more (its diff) than a probe's exit.
    for claim in step.claims:
        c = check(ctx, claim, step)
        result.claims.append(c)
        if not c.passed:
            raise StepFailed(f"claim {c.id!r} failed: {c.detail}")
    if not effect:
        raise StepFailed(f"its commands succeeded but its effect is absent (probe: {step.probe})")
    result.status = Status.CHANGED if changed else Status.UNCHANGED


def literal_works(ctx: Context, planned: PlannedStep, result: StepResult) -> bool:
    """Audit mode: try a deviated step as the tutorial wrote it first, keeping the evidence either way."""
    # Never skipped: the adapted form's effect may already be in place, and would hide the verdict.
    claims_before = len(result.claims)
    try:
        for line in (line for d in planned.deviations for line in d.revert):
            _must_succeed(result, _run(ctx, planned.original, line))
        apply_step(ctx, planned.original, result, skip_in_place=False)
    except (StepFailed, OSError) as e:
        # The deviated form is checked next and records its own claims; the commands stay as evidence.
        del result.claims[claims_before:]
        result.literal = f"fails: {e}"  # a failing command's message carries its decisive line
        return False
    result.literal = "works"
    return True


def _service_log(ctx: Context, platform: Platform, step: Step, result: StepResult) -> None:
    """A step whose failure may be the app service's, or another server's: keep their own last log
    lines, and give the step's one-line error the first decisive line of each (uWSGI's `unable to
    load app`, nginx's `connect() to unix:… failed (13: Permission denied)`, …)."""
    if step.uses_service:
        r = ctx.guest.run(platform.expect.service_log, timeout=30)
        result.service_log = r.tail(30)
        _quote(result, "service log", decisive_lines(r.output, fallback=False)[:1])
    for name, command in step.logs:
        r = ctx.guest.run(command, timeout=30)
        if r.output.strip():
            result.logs[name] = r.tail(30)
            # A server's log holds earlier runs too: its last decisive line is this one's.
            _quote(result, name, decisive_lines(r.output)[-1:])


def _quote(result: StepResult, name: str, said: list[str]) -> None:
    if said and said[0] not in result.error:
        result.error += f"; {name}: {said[0]}"


def _previous(report_path: Path) -> str:
    """How the last run on this guest ended, when it did not finish (killed, or interrupted)."""
    try:
        last = Report.load(report_path)
    except DamagedRecord as e:  # kept in runs/ as it is; this run goes on and writes a new one
        return f"the last run's record could not be read: {e}"
    except OSError:
        return ""
    if last.status not in (Outcome.RUNNING, Outcome.INTERRUPTED):
        return ""
    step = last.failed_step  # in an unfinished run: the step it was interrupted or killed in
    where = f"during step {step.id} ({step.title})" if step else "between steps"
    how = "was interrupted" if last.status == Outcome.INTERRUPTED else "ended without a word (killed?)"
    return f"the run started {last.started} {how} {where}"


def rehearse(
    ctx: Context,
    platform: Platform,
    mode: Mode,
    *,
    target: str,
    report_path: Path,
    progress: Callable[[StepResult], None] = lambda s: None,
    caches: Sequence[str] = (),
    text: Document | None = None,
) -> Report:
    """Run every step; stop at the first failure. The report on disk is kept current, so a run that
    is killed leaves a partial report naming the step it was in; CTRL-C marks the step interrupted.
    `text`: a tutorial's text, whose commands and files run instead of the catalogue's."""
    plan = platform.plan(mode, text)
    report = Report(
        platform=platform.name,
        mode=mode,
        target=target,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        log=str(ctx.guest.log),
        http_url=ctx.http_url,
        previous=_previous(report_path),
        caches=list(caches),
        values={"user": ctx.params.user, "server_name": ctx.params.server_name, "app": str(ctx.params.app)},
        steps=[StepResult(p.step.id, p.step.title, cite=str(p.step.cite or "")) for p in plan],
        tutorial=text.name if text is not None else "",
        added=list(text.added) if text is not None else [],
        dropped=list(text.dropped) if text is not None else [],
    )
    if ctx.screenshot is not None:
        ctx.screenshot.unlink(missing_ok=True)  # a picture from an earlier run is no evidence of this one
    # The log accumulates runs; each, and each step, starts with a marker line.
    ctx.guest.note(f"=== {report.started} rehearsal of {platform.name} ({mode}) on {target}")
    if report.previous:
        ctx.guest.note(f"(after an unfinished run: {report.previous})")
    for line in ctx.guest.settle():
        ctx.guest.note(f"killed, left running by an earlier run: {line}")
    start = time.monotonic()
    try:
        _steps(ctx, platform, plan, report, report_path, progress, start)
    finally:
        ctx.guest.cleanup()
    if report.status != Outcome.FAILED:
        report.status = Outcome.PASSED
    report.finished = datetime.now(UTC).isoformat(timespec="seconds")
    report.save(report_path)
    return report


def _steps(
    ctx: Context,
    platform: Platform,
    plan: Sequence[PlannedStep],
    report: Report,
    report_path: Path,
    progress: Callable[[StepResult], None],
    start: float,
) -> None:
    """The steps in order, the report saved around each; stops at the first failure."""
    for planned, result in zip(plan, report.steps, strict=True):
        result.deviations = [DeviationUsed(d.reason, d.replaced(planned.original)) for d in planned.deviations]
        result.assumptions = list(planned.step.assumptions)
        result.status = Status.RUNNING
        report.save(report_path)
        ctx.guest.note(f"--- step {planned.step.id}: {planned.step.title}")
        progress(result)
        t0 = time.monotonic()
        written = {path for s in report.steps for path in s.files}
        try:
            if planned.try_literal_first and literal_works(ctx, planned, result):
                result.deviations = []  # not needed here after all: the tutorial's own form worked
            else:
                apply_step(ctx, planned.step, result, skip_in_place=planned.skip_in_place, written=written)
        except (StepFailed, OSError) as e:
            result.status, result.error, report.status = Status.FAILED, str(e), Outcome.FAILED
            if planned.step.uses_service or planned.step.logs:
                _service_log(ctx, platform, planned.step, result)
        except KeyboardInterrupt:
            result.status, report.status = Status.INTERRUPTED, Outcome.INTERRUPTED
            # The reader's CTRL-C stops the command; the transport's client dies, its guest side would not.
            stopped = ctx.guest.settle()
            result.error = "interrupted (CTRL-C or SIGTERM) while this step ran" + "".join(
                f"; stopped in the guest: {line}" for line in stopped[:1]
            )
            raise
        finally:
            result.seconds = round(time.monotonic() - t0, 2)
            report.seconds = round(time.monotonic() - start, 2)
            if ctx.screenshot is not None and ctx.screenshot.is_file():
                report.screenshot = str(ctx.screenshot)
            if report.status == Outcome.INTERRUPTED:
                report.finished = datetime.now(UTC).isoformat(timespec="seconds")
            report.save(report_path)
        progress(result)
        if report.status == Outcome.FAILED:
            break
