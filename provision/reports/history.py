"""Every run's record kept: `<state dir>/runs/<start time>/` holds its report.json, report.html, junit.xml,
screenshot and its own part of the rehearsal log; the latest run's stay in the state dir as well.

A run's record is copied there when it is written, and again when the next run starts, so a run that was
killed outright (its record left at `running`) is kept too. The last KEEP runs are kept; older ones are
pruned when a run starts. A damaged report.json (cut short, not JSON) is kept as it is, under the time
the file was last written.
"""

import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from provision.errors import RehearseError
from provision.reports.record import DamagedRecord, Report

KEEP = 20
FILES = ("report.json", "report.html", "junit.xml", "screenshot.png")
LOG = "rehearsal.log"


@dataclass(frozen=True)
class Run:
    """One kept run, as `rehearse report --list` shows it."""

    name: str
    started: str
    mode: str
    status: str
    failed_step: str  # "" when none; "damaged" when its record cannot be read


def runs_dir(out: Path) -> Path:
    return out / "runs"


def _name(started: str) -> str:
    """A directory name from an ISO start time: 2026-12-01T03:45:00+00:00 -> 20261201T034500Z."""
    return re.sub(r"[^0-9T]", "", started.split("+")[0]) + "Z"


def _log_part(log: Path, started: str) -> str:
    """This run's own lines of the accumulating log: from its `=== <start>` marker to the next run's."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    begin = text.find(f"=== {started} ")
    if begin < 0:
        return ""
    end = text.find("\n=== ", begin + 4)
    return text[begin:] if end < 0 else text[begin : end + 1]


def keep(out: Path) -> Path | None:
    """Copy the state dir's current record into its run's directory; that directory, or None without one."""
    current = out / "report.json"
    if not current.is_file():
        return None
    try:
        report = Report.load(current)
    except DamagedRecord:
        written = datetime.fromtimestamp(current.stat().st_mtime, UTC).isoformat(timespec="seconds")
        dest = runs_dir(out) / f"{_name(written)}-damaged"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(current, dest / "report.json")
        return dest
    dest = runs_dir(out) / _name(report.started)
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if (out / name).is_file():
            shutil.copyfile(out / name, dest / name)
    if part := _log_part(Path(report.log) if report.log else out / LOG, report.started):
        (dest / LOG).write_text(part)
    return dest


def prune(out: Path, keep_last: int = KEEP) -> list[str]:
    """Remove all but the last `keep_last` runs; their names."""
    runs = sorted(d for d in runs_dir(out).glob("*") if d.is_dir()) if runs_dir(out).is_dir() else []
    gone = runs[:-keep_last] if len(runs) > keep_last else []
    for d in gone:
        shutil.rmtree(d)
    return [d.name for d in gone]


def listing(out: Path) -> list[Run]:
    """The kept runs, oldest first."""
    runs = []
    for d in sorted(runs_dir(out).glob("*")) if runs_dir(out).is_dir() else []:
        try:
            r = Report.load(d / "report.json")
        except (DamagedRecord, OSError):
            runs.append(Run(d.name, "?", "?", "?", "damaged"))
            continue
        failed = r.failed_step
        runs.append(Run(d.name, r.started, r.mode, r.status, failed.id if failed else ""))
    return runs


def run_path(out: Path, name: str) -> Path:
    """The directory of the kept run `name`; a name that is not one of them is refused."""
    known = {r.name for r in listing(out)}
    if name not in known:
        shown = ", ".join(sorted(known)[-3:]) or "none yet"
        raise RehearseError(f"no kept run {name!r} in {runs_dir(out)} (latest: {shown}); see `rehearse report --list`")
    return runs_dir(out) / name
