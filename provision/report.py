"""The rehearsal's record: one JSON per run, and its terminal rendering."""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Step statuses. "unchanged" also covers steps that leave nothing behind (a test run, `nginx -t`).
CHANGED, UNCHANGED, FAILED, NOT_REACHED = "changed", "unchanged", "failed", "not reached"
RUNNING = "running"  # only while the step runs, and in the report of an interrupted run


@dataclass
class CommandResult:
    command: str
    exit_code: int
    seconds: float
    output_tail: str  # the last lines of stdout+stderr; the full text is in the log


@dataclass
class ClaimResult:
    id: str
    text: str
    passed: bool
    detail: str = ""


@dataclass
class DeviationUsed:
    reason: str
    replaces: dict[str, list[str]]  # field -> the tutorial's value, for the report's reader


@dataclass
class StepResult:
    id: str
    title: str
    status: str = NOT_REACHED
    seconds: float = 0.0
    commands: list[CommandResult] = field(default_factory=list)
    claims: list[ClaimResult] = field(default_factory=list)
    deviations: list[DeviationUsed] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # guest paths written by this step
    error: str = ""
    literal: str = ""  # audit mode, deviated steps: "works", or "fails: <why>" as the tutorial wrote it


@dataclass
class Report:
    platform: str
    mode: str
    target: str
    started: str
    finished: str = ""
    seconds: float = 0.0
    status: str = "running"  # running | passed | failed
    log: str = ""
    http_url: str = ""  # where the guest's port 80 is reachable from the host (loopback)
    screenshot: str = ""
    steps: list[StepResult] = field(default_factory=list)

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == FAILED), None)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "Report":
        data = json.loads(path.read_text())
        steps = [
            StepResult(
                **{
                    **s,
                    "commands": [CommandResult(**c) for c in s["commands"]],
                    "claims": [ClaimResult(**c) for c in s["claims"]],
                    "deviations": [DeviationUsed(**d) for d in s["deviations"]],
                }
            )
            for s in data.pop("steps")
        ]
        return cls(**data, steps=steps)


def table(report: Report) -> str:
    """The per-step summary printed at the end of a rehearsal."""
    rows = [("step", "title", "status", "seconds", "deviations")]
    for s in report.steps:
        rows.append((s.id, s.title, s.status, f"{s.seconds:.1f}", "; ".join(d.reason for d in s.deviations) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4] for r in rows]
    lines.insert(1, "-" * min(120, max(len(line) for line in lines)))
    claims = [c for s in report.steps for c in s.claims]
    passed = sum(c.passed for c in claims)
    lines.append(
        f"{report.platform} ({report.mode}) on {report.target}: {report.status}, "
        f"{report.seconds:.1f} s, claims {passed}/{len(claims)} held"
    )
    if deviated := [s.id for s in report.steps if s.deviations]:
        lines.append(
            f"verdict: {len(deviated)} of {len(report.steps)} steps need a deviation on {report.platform}: "
            + ", ".join(deviated)
        )
    lines += [f"  {s.id} as written {s.literal}" for s in report.steps if s.literal]
    if (failed := report.failed_step) is not None:
        lines.append(f"failed at step {failed.id} ({failed.title}): {failed.error}")
    return "\n".join(lines)
