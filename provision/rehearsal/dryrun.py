"""`rehearse plan`: what a rehearsal would change, step by step, touching nothing (pyinfra's dry run).

The same facts the runner reads (each file's content, each probe) decide, through the runner's own
`decide`, what each step would do; files show as unified diffs. Probes only read.
"""

import difflib
import shlex
from dataclasses import dataclass, field

from rich.console import Console

from provision.platforms import Mode, Platform
from provision.rehearsal.claims import Context
from provision.rehearsal.runner import Action, decide
from provision.tutorial.document import Document
from provision.tutorial.steps import Serve, Step


@dataclass
class Preview:
    id: str
    title: str
    action: str  # run, handler, in place, write, check (runs, leaves nothing); audit: "try as written, then …"
    changes: bool  # would write a file, or run commands that leave something behind
    commands: list[str] = field(default_factory=list)  # what would run, in the reader's words
    diffs: list[str] = field(default_factory=list)  # one unified diff per file that would change


def file_diff(ctx: Context, step: Step) -> list[tuple[str, str]]:
    """(guest path, diff from what the guest holds to what the step writes) for each file that differs."""
    out = []
    for f in step.files:
        path = ctx.params.expand(f.path)
        # root reads what the reader's sudo would write; the reader reads their own files
        now = ctx.guest.run(f"cat {shlex.quote(path)}", user=None if f.sudo else ctx.params.user, timeout=30)
        new = ctx.params.artifact(f.artifact)
        old = now.output if now.exit_code == 0 else ""
        if now.exit_code == 0 and old == new:
            continue
        before = path if now.exit_code == 0 else "/dev/null"
        diff = difflib.unified_diff(old.splitlines(), new.splitlines(), before, path, lineterm="")
        out.append((path, "\n".join(diff)))
    return out


def dry_run(ctx: Context, platform: Platform, mode: Mode, text: Document | None = None) -> list[Preview]:
    """Each step of `platform` in `mode` as it would go now. Later steps are judged on the guest as it
    is: a step that would create what a later probe reads makes that later step `run` too (its probe
    does not hold yet), as in the real run."""
    previews, written = [], set[str]()
    for planned in platform.plan(mode, text):
        step = planned.step
        diffs = file_diff(ctx, step)
        action = decide(ctx, step, changed=bool(diffs), written=written, skip_in_place=planned.skip_in_place)
        written.update(path for path, _ in diffs)
        if action is Action.HANDLER and step.on_change is not None:
            commands = list(step.on_change.run)
        elif action is Action.RUN:
            commands = [r.command if isinstance(r, Serve) else r for r in step.run]
        else:
            commands = []
        # A step without a probe leaves nothing behind but its files: a test run or `nginx -t` always
        # runs ("check"); a step that only writes a file is "write" or "in place".
        check = action is Action.RUN and step.probe is None
        label = str(action)
        if check:
            label = "check" if step.run else "write" if diffs else str(Action.NOTHING)
        if planned.try_literal_first:
            label = f"try as written, then {label}"
        changes = bool(diffs) or (action is not Action.NOTHING and not check)
        cite = step.cite
        expanded = [ctx.params.expand(c) + (f"    ({cite.of(c)})" if cite else "") for c in commands]
        previews.append(Preview(step.id, step.title, label, changes, expanded, [d for _, d in diffs]))
    return previews


def show_plan(previews: list[Preview], console: Console) -> None:
    """A line per step (what it would do), its commands, and the diff of each file it would write."""
    for p in previews:
        style = "green" if p.changes else "blue"
        console.print(f"  [{style}]{p.action:<10}[/] {p.id:<4} {p.title}", highlight=False)
        for command in p.commands:
            console.print(f"             $ {command}", markup=False, highlight=False, soft_wrap=True)
        for diff in p.diffs:
            console.print(diff, markup=False, highlight=False, soft_wrap=True)
    would = [p.id for p in previews if p.changes]
    console.print(
        f"plan: {len(would)} of {len(previews)} steps would act" + (f": {', '.join(would)}" if would else ""),
        highlight=False,
    )
