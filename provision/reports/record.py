"""The rehearsal's record: one JSON per run, kept current while the run goes on."""

import json
import os
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from provision.errors import RehearseError


class DamagedRecord(RehearseError, ValueError):
    """A report.json that cannot be read as a record: cut short, not JSON, or not a rehearsal's."""


class Status(StrEnum):
    """A step's status. `unchanged` also covers steps that leave nothing behind (a test run, `nginx -t`)."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    NOT_REACHED = "not reached"
    RUNNING = "running"  # only while the step runs, and in the report of a run that was killed
    INTERRUPTED = "interrupted"  # CTRL-C (SIGINT) or SIGTERM while the step ran


class Outcome(StrEnum):
    """The whole rehearsal's status."""

    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


def write_atomically(path: Path, text: str) -> Path:
    """Write through a temporary file and a rename: a reader (or a crash) never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


@dataclass
class CommandResult:
    command: str
    exit_code: int
    seconds: float
    output_tail: str  # the last lines of stdout+stderr; the full text is in the log
    decisive: list[str] = field(default_factory=list)  # the lines of the whole output that say why it failed
    cite: str = ""  # where the tutorial's text shows the command (`--tutorial`): "FILE line N"


@dataclass
class ClaimResult:
    id: str
    text: str
    passed: bool
    detail: str = ""
    diff: str = ""  # expected versus got, as a short unified diff, when the claim compares text


@dataclass
class DeviationUsed:
    reason: str
    replaces: dict[str, list[str]]  # field -> the tutorial's value, for the report's reader


@dataclass
class StepResult:
    id: str
    title: str
    status: Status = Status.NOT_REACHED
    seconds: float = 0.0
    commands: list[CommandResult] = field(default_factory=list)
    claims: list[ClaimResult] = field(default_factory=list)
    deviations: list[DeviationUsed] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # guest paths written by this step
    assumptions: list[str] = field(default_factory=list)  # what the harness answered for the reader
    error: str = ""
    service_log: str = ""  # the app service's own last log lines, when this step's failure may be its
    logs: dict[str, str] = field(default_factory=dict)  # other servers' last log lines (nginx's error log), by name
    literal: str = ""  # audit mode, deviated steps: "works", or "fails: <why>" as the tutorial wrote it
    cite: str = ""  # where the tutorial's text (`--tutorial`) shows the step: "FILE line N"
    file_cites: dict[str, str] = field(default_factory=dict)  # guest path -> where the text shows its content

    @property
    def where(self) -> str:
        """`step 6.1`, or `step 6.1 (FILE line 163)` when a tutorial's text runs."""
        return f"step {self.id}" + (f" ({self.cite})" if self.cite else "")


class Verdict(StrEnum):
    """What a fault showed about the tutorial's deploy."""

    AS_EXPECTED = "as expected"  # the deploy did what a sound one does
    FINDING = "finding"  # it fell short: a finding about the tutorial, with its fix
    ERROR = "error"  # the harness could not run the fault (no verdict on the deploy)


@dataclass
class Finding:
    """A fault injected into the deployed service (`rehearse faults`) and what the deploy did."""

    id: str
    question: str
    expected: str  # what a sound deploy does
    observed: str = ""
    verdict: Verdict = Verdict.ERROR
    fix: str = ""  # for a finding: the one-line change to the tutorial's deploy
    seconds: float = 0.0
    evidence: list[CommandResult] = field(default_factory=list)  # the commands run, in order
    error: str = ""  # why the harness could not run it


@dataclass
class Figures:
    """One run of the load tool at `connections` open at once: wrk's own figures."""

    connections: int
    seconds: float
    requests: int
    rps: float  # requests per second
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx: int  # answers whose status is not 2xx (nginx's 502 when it cannot reach uWSGI)
    socket_errors: dict[str, int] = field(default_factory=dict)  # connect/read/write/timeout -> count, when any
    capped: bool = False  # the run hit its request bound before its time: `rps` is then a lower bound

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    @property
    def served_rps(self) -> float:
        """Requests per second that got a 2xx: past the knee nginx's quick 502s swell `rps`."""
        return round((self.requests - self.non_2xx) / self.seconds, 1)


@dataclass
class SocketRound:
    """One round of the unix-socket comparison: the same load through one kind of uWSGI socket."""

    socket: str  # "unix" (the tutorial's) or "tcp"
    address: str  # what nginx's uwsgi_pass named
    figures: Figures


@dataclass
class Load:
    """`rehearse load`: what the deployed stack serves at each concurrency, where it first fails and
    why, and whether the tutorial's claim that its unix socket is faster than TCP holds."""

    started: str
    url: str
    duration: float  # seconds per run of the load tool
    levels: list[Figures] = field(default_factory=list)
    knee: int | None = None  # the first concurrency with errors; None when every level was clean
    knee_why: str = ""  # the stack's own explanation, from its logs
    knee_evidence: list[str] = field(default_factory=list)  # nginx's and uWSGI's lines at the knee
    rounds: list[SocketRound] = field(default_factory=list)  # A/B/A/B: unix, tcp, unix, tcp
    claim: str = ""  # "holds" or "does not hold"; "" when the comparison did not run
    claim_why: str = ""  # the figures and their spread
    restored: str = ""  # how the guest was put back, for the record
    seconds: float = 0.0
    error: str = ""  # why the run stopped short, if it did


@dataclass
class Report:
    platform: str
    mode: str
    target: str
    started: str
    finished: str = ""
    seconds: float = 0.0
    status: Outcome = Outcome.RUNNING
    log: str = ""
    http_url: str = ""  # where the guest's port 80 is reachable from the host (loopback)
    screenshot: str = ""
    previous: str = ""  # how the run before this one on the same guest ended, when it did not finish
    caches: list[str] = field(default_factory=list)  # what the guest reused from earlier guests
    # the reader's values the rehearsal used (user, server_name, app): what faults, verify and login act on
    values: dict[str, str] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # `rehearse faults`, after a passed rehearsal
    tutorial: str = ""  # `--tutorial`: the text's file name, whose commands and files ran
    added: list[str] = field(default_factory=list)  # commands the text adds, each with its step and line
    dropped: list[str] = field(default_factory=list)  # catalogue commands the text does not show (not run)
    # `rehearse load`, after a passed rehearsal; "load" in the JSON (the name `load` is the class's reader)
    load_run: Load | None = None

    @property
    def failed_step(self) -> StepResult | None:
        """The step that ended the run (failed, interrupted), or the one a killed run was in."""
        ended = (Status.FAILED, Status.INTERRUPTED, Status.RUNNING)
        return next((s for s in self.steps if s.status in ended), None)

    @property
    def claims(self) -> list[ClaimResult]:
        return [c for s in self.steps for c in s.claims]

    @property
    def deviated(self) -> list[StepResult]:
        return [s for s in self.steps if s.deviations]

    def save(self, path: Path) -> None:
        data = asdict(self)
        data["load"] = data.pop("load_run")
        write_atomically(path, json.dumps(data, indent=2))

    @classmethod
    def load(cls, path: Path) -> "Report":
        """The record in `path`; raises DamagedRecord (one line, naming the file) when it cannot be read."""
        try:
            return cls._load(path)
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise DamagedRecord(
                f"{path} is damaged ({type(e).__name__}: {why[:120]}); it is not a rehearsal's record"
            ) from None

    @classmethod
    def _load(cls, path: Path) -> "Report":
        data = json.loads(path.read_text())
        steps = [
            StepResult(
                **{
                    **s,
                    "status": Status(s["status"]),
                    "commands": [CommandResult(**c) for c in s["commands"]],
                    "claims": [ClaimResult(**c) for c in s["claims"]],
                    "deviations": [DeviationUsed(**d) for d in s["deviations"]],
                }
            )
            for s in data.pop("steps")
        ]
        findings = [  # absent from reports written before `rehearse faults` existed
            Finding(**{**f, "verdict": Verdict(f["verdict"]), "evidence": [CommandResult(**c) for c in f["evidence"]]})
            for f in data.pop("findings", [])
        ]
        run = data.pop("load", None)  # absent before `rehearse load` existed
        load_run = _load_run(run) if run else None
        return cls(**{**data, "status": Outcome(data["status"])}, steps=steps, findings=findings, load_run=load_run)


def _load_run(data: dict[str, Any]) -> Load:
    levels = [Figures(**f) for f in data.pop("levels")]
    rounds = [SocketRound(**{**r, "figures": Figures(**r["figures"])}) for r in data.pop("rounds")]
    return Load(**data, levels=levels, rounds=rounds)
