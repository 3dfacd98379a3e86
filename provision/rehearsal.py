"""Apply the tutorial's steps to a guest in order, read facts before acting, and record everything."""

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from provision.guest import Guest, Result
from provision.platforms import Deviation, Platform
from provision.report import (
    CHANGED,
    FAILED,
    RUNNING,
    UNCHANGED,
    ClaimResult,
    CommandResult,
    DeviationUsed,
    Report,
    StepResult,
)
from provision.steps import Claim, File, Serve, Step, tutorial_step

SERVE_WAIT = 30.0  # seconds a foreground server gets to answer before its claim fails


class StepFailed(Exception):
    """A step's command, claim or probe failed; the message is the step's one-line verdict."""


def _record(result: StepResult, r: Result) -> None:
    result.commands.append(CommandResult(r.command, r.exit_code, round(r.seconds, 2), r.tail()))


def check_claim(guest: Guest, claim: Claim, step: Step) -> ClaimResult:
    r = guest.run(claim.probe, step.shell)
    expect = guest.params.expand(claim.expect) if claim.expect is not None else None
    if r.exit_code == 0 and (expect is None or r.output == expect):
        return ClaimResult(claim.id, claim.text, True)
    detail = f"exit {r.exit_code}, got {r.output.strip()[:300]!r}"
    if expect is not None:
        detail += f", expected {expect!r}"
    return ClaimResult(claim.id, claim.text, False, detail)


def serve(guest: Guest, item: Serve, step: Step, result: StepResult) -> None:
    """Start the server as the reader does, look at the page until it answers, then CTRL-C it."""
    log = f"/tmp/rehearse-serve-{item.port}.log"
    # job control on, so the background job keeps SIGINT (CTRL-C) instead of ignoring it
    start = guest.run(f"set -m; nohup {item.command} >{log} 2>&1 </dev/null & echo $!", step.shell)
    _record(result, start)
    if start.exit_code != 0:
        raise StepFailed(f"`{item.command}` did not start (exit {start.exit_code})")
    pid = start.output.strip().splitlines()[-1]
    deadline = time.monotonic() + SERVE_WAIT
    while True:
        claim = check_claim(guest, item.claim, step)
        if claim.passed or time.monotonic() > deadline:
            break
        time.sleep(1)
    stop = guest.run(
        f"kill -INT {pid}; for i in $(seq 50); do kill -0 {pid} 2>/dev/null || exit 0; sleep 0.2; done; "
        f"kill -KILL {pid}; echo 'did not stop on CTRL-C'; exit 1"
    )
    _record(result, stop)
    result.claims.append(claim)
    if not claim.passed:
        output = guest.run(f"tail -n 20 {log}").output
        raise StepFailed(f"claim {claim.id!r} failed: {claim.detail}; server log: {output.strip()[-400:]}")
    if stop.exit_code != 0:
        raise StepFailed(f"`{item.command}` did not stop on CTRL-C")


def _holds(guest: Guest, step: Step) -> bool:
    """The step's fact: is its effect already in place?"""
    assert step.probe is not None
    return guest.run(step.probe, step.shell, as_root=step.as_root).exit_code == 0


def apply_step(guest: Guest, step: Step, result: StepResult) -> None:
    """Files first (written only when they differ), then the commands unless the probe already
    holds; a step without a probe leaves nothing behind (a test run, `nginx -t`), so it always runs."""
    changed = False
    for f in step.files:
        if guest.sync_file(f.path, guest.params.artifact(f.artifact), sudo=f.sudo):
            changed = True
            result.files.append(guest.params.expand(f.path))
    in_place = step.probe is not None and not changed and _holds(guest, step)
    if not in_place:
        for item in step.run:
            if isinstance(item, Serve):
                serve(guest, item, step, result)
                continue
            r = guest.run(item, step.shell, as_root=step.as_root)
            _record(result, r)
            if r.exit_code != 0:
                raise StepFailed(f"`{r.command}` exited {r.exit_code}")
        if step.probe is not None:
            changed = True
            if not _holds(guest, step):
                raise StepFailed(f"its commands succeeded but its effect is absent (probe: {step.probe})")
    for claim in step.claims:
        c = check_claim(guest, claim, step)
        result.claims.append(c)
        if not c.passed:
            raise StepFailed(f"claim {c.id!r} failed: {c.detail}")
    result.status = CHANGED if changed else UNCHANGED


def literal_works(guest: Guest, step_id: str, result: StepResult) -> bool:
    """Audit mode: try a deviated step as the tutorial wrote it first, keeping the evidence either way."""
    # No probe: the adapted form's effect may already be in place, and would hide the verdict.
    literal = replace(tutorial_step(step_id), probe=None)
    try:
        apply_step(guest, literal, result)
    except (StepFailed, OSError) as e:
        said = result.commands[-1].output_tail.strip().splitlines()[-1:] if result.commands else []
        result.literal = f"fails: {e}" + "".join(f" ({line.strip()})" for line in said)
        return False
    result.literal = "works"
    return True


def _describe(item: object) -> str:
    match item:
        case Serve(command=text) | File(path=text) | Claim(text=text):
            return text
    return str(item)


def deviation_used(dev: Deviation, step: Step) -> DeviationUsed:
    """What the deviation replaced, in the tutorial's words, so the report shows both sides."""
    original = tutorial_step(step.id)
    replaced = {}
    for name in dev.changes:
        value = getattr(original, name)
        items = value if isinstance(value, tuple) else (value,)
        replaced[name] = [_describe(i) for i in items]
    return DeviationUsed(dev.reason, replaced)


def rehearse(
    guest: Guest,
    platform: Platform,
    mode: str,
    *,
    target: str,
    report_path: Path,
    http_url: str = "",
    progress: Callable[[StepResult], None] = lambda s: None,
) -> Report:
    """Run every step; stop at the first failure. The report on disk is kept current, so an
    interrupted run leaves a partial report naming the step it was in."""
    steps = platform.steps(mode)
    report = Report(
        platform=platform.name,
        mode=mode,
        target=target,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        log=str(guest.log),
        http_url=http_url,
        steps=[StepResult(s.id, s.title) for s, _ in steps],
    )
    # The log accumulates runs; each, and each step, starts with a marker line.
    guest.note(f"=== {report.started} rehearsal of {platform.name} ({mode}) on {target}")
    start = time.monotonic()
    for (step, devs), result in zip(steps, report.steps, strict=True):
        result.deviations = [deviation_used(d, step) for d in devs]
        result.status = RUNNING
        report.save(report_path)
        guest.note(f"--- step {step.id}: {step.title}")
        progress(result)
        t0 = time.monotonic()
        try:
            if mode == "audit" and devs and literal_works(guest, step.id, result):
                result.deviations = []  # not needed here after all: the tutorial's own form worked
            else:
                apply_step(guest, step, result)
        except (StepFailed, OSError) as e:
            result.status, result.error, report.status = FAILED, str(e), "failed"
        result.seconds = round(time.monotonic() - t0, 2)
        report.seconds = round(time.monotonic() - start, 2)
        report.save(report_path)
        progress(result)
        if report.status == "failed":
            break
    if report.status != "failed":
        report.status = "passed"
    report.finished = datetime.now(UTC).isoformat(timespec="seconds")
    report.save(report_path)
    return report
