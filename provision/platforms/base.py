"""What a platform is: the deviations it needs from the tutorial, how a guest of it is made, and what
the acceptance checks expect of it. A mode turns a platform into a plan, in this one place."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from provision.guests.driver import GuestSpec
from provision.guests.image import ImageRecipe
from provision.tutorial.document import Document
from provision.tutorial.drift import TUTORIAL_WORDS, config_line
from provision.tutorial.steps import TUTORIAL, BrowserClaim, Claim, File, OnChange, Serve, Step


class Mode(StrEnum):
    """How the tutorial is run on a platform."""

    ADAPTED = "adapted"  # the platform's deviations applied, so the deploy completes
    LITERAL = "literal"  # the tutorial verbatim, stopping at the first step that breaks
    AUDIT = "audit"  # adapted, but each deviated step is first tried as written, so every deviation is earned


def _describe(item: object) -> str:
    """A step's field in the tutorial's words, never a Python repr."""
    match item:
        case Serve(command=text) | File(path=text) | Claim(text=text) | BrowserClaim(text=text):
            return text
        case OnChange(paths=paths, run=run):
            return f"after an edit to {', '.join(paths)}: {'; '.join(run)}"
    return str(item)


def _commands(run: tuple[str | Serve, ...]) -> list[str]:
    """A step's commands as compared: in the tutorial's words, comments and spacing aside."""
    return [config_line(TUTORIAL_WORDS.expand(r.command if isinstance(r, Serve) else r)) for r in run]


@dataclass(frozen=True)
class Deviation:
    step: str
    reason: str  # one line: why the tutorial's form cannot work on this platform
    changes: Mapping[str, Any]  # Step field -> replacement value
    # audit: the reader's lines that undo what the adapted form leaves behind and would let the
    # tutorial's form pass on a guest rehearsed before (a mode bit, not a package or a file)
    revert: tuple[str, ...] = ()

    def apply(self, step: Step) -> Step:
        return replace(step, **self.changes)

    def written_in(self, step: Step) -> bool:
        """A text (a ported tutorial) already runs this deviation's commands and writes its files."""
        shown = {"run": _commands(step.run), "files": [f.path for f in step.files]}
        wanted = {
            "run": _commands(self.changes.get("run", ())),
            "files": [f.path for f in self.changes.get("files", ())],
        }
        texts = [name for name in ("run", "files") if name in self.changes]
        return bool(texts) and all(shown[name] == wanted[name] for name in texts)

    def structure(self, step: Step) -> Step:
        """`step`, written in this platform's form by its text, with the deviation's probe, claims and
        handler: what the text runs stays the text's."""
        return replace(step, **{k: v for k, v in self.changes.items() if k not in ("run", "files")})

    def replaced(self, original: Step) -> dict[str, list[str]]:
        """What the deviation replaced, in the tutorial's words, so a report can show both sides."""
        out = {}
        for name in self.changes:
            value = getattr(original, name)
            out[name] = [_describe(i) for i in (value if isinstance(value, tuple) else (value,))]
        return out


@dataclass(frozen=True)
class PlannedStep:
    """One step as a platform runs it in a mode."""

    step: Step  # what runs
    original: Step  # the tutorial's own form
    deviations: tuple[Deviation, ...]
    try_literal_first: bool = False  # audit: the tutorial's form is tried before the deviation
    skip_in_place: bool = True  # a probe that holds skips the commands; never in literal mode,
    # whose verdict must not depend on what an earlier rehearsal left on the guest


@dataclass(frozen=True)
class LiteralBreak:
    """Where the tutorial verbatim first breaks on a platform: the step, its command, a word of the output."""

    step: str
    command: str
    says: str


@dataclass(frozen=True)
class Expectations:
    """What the acceptance suite checks that differs between platforms."""

    init: str  # the init system testinfra's `host.service` finds: "upstart" or "systemd"
    packages: tuple[str, ...]  # installed once the tutorial (with its deviations) has run
    service_file: str  # the init system's definition of the app's service
    service_log: str  # prints the service's own last log lines (what uWSGI said)
    main_pid: str  # prints the pid of the service's main process (the uWSGI master)
    restart: str  # (re)starts the service, as root
    literal_break: LiteralBreak
    python: str  # the venv's `python`, major.minor
    pins: Path | None = None  # constraints the venv's packages resolve to (the last Python 2 releases)
    # a virtual package a step names -> the one real package apt installs for it (what dpkg reports)
    provided_by: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Platform:
    name: str
    description: str
    expect: Expectations
    targets: tuple[str, ...]  # the drivers that can boot it: podman, vagrant, ssh
    deviations: tuple[Deviation, ...] = ()
    image: ImageRecipe | None = None  # how the podman driver builds its guest

    @property
    def guest(self) -> GuestSpec:
        """What a driver needs to make or reach this platform's guest."""
        return GuestSpec(self.name, self.image)

    def plan(self, mode: Mode, text: Document | None = None) -> tuple[PlannedStep, ...]:
        """The catalogue, or a tutorial's `text` mapped onto it, as this platform runs it in `mode`."""
        claims = text.claims if text is not None else {}
        out = []
        for original in text.steps if text is not None else TUTORIAL:
            mine = [d for d in self.deviations if d.step == original.id]
            written = [d for d in mine if d.written_in(original)]  # not a deviation: the text's own form
            step = original
            for dev in written:
                step = dev.structure(step)
            devs = () if mode is Mode.LITERAL else tuple(d for d in mine if d not in written)
            for dev in devs:
                step = replace(dev.apply(step), cite=original.cite)
            if claims:
                step = replace(step, claims=tuple(claims.get(c.id, c) for c in step.claims))
            out.append(
                PlannedStep(
                    step,
                    original,
                    devs,
                    try_literal_first=mode is Mode.AUDIT and bool(devs),
                    skip_in_place=mode is not Mode.LITERAL,
                )
            )
        return tuple(out)
