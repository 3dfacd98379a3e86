"""Drift check: does a tutorial's text still show what the step catalogue runs?

The catalogue (`provision.steps.TUTORIAL`, literal, no platform deviations) is compared with the
code blocks of a Markdown tutorial, as `provision.tutorial.reader` classifies them. Commands are
aligned line by line with `Step.commands`; file blocks are compared with the `app/` artifacts,
written in the tutorial's own placeholder words; blocks that only show output are not code. A file
the text grows over several blocks is judged by its last block; earlier blocks only have to be an
ordered subset of the file.
"""

import difflib
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from provision.tutorial.params import Words
from provision.tutorial.reader import Block, Kind, read, read_text
from provision.tutorial.steps import TUTORIAL, File, Step

# The words the tutorial prints where the reader puts their own values.
TUTORIAL_WORDS = Words(user="user", server_name="server_domain_or_IP")

# A comment starts at a `#` at a line's start or after whitespace, so `a#b` survives.
_COMMENT = re.compile(r"(?:^|\s)#.*$")
# Two commands this alike are one command edited, rather than one removed and another added.
_SAME_COMMAND = 0.6


@dataclass(frozen=True)
class Finding:
    """One way the text and the catalogue disagree."""

    kind: str  # "extra" | "missing" | "differs"
    step: str | None  # the catalogue step concerned; None for text the catalogue has no place for
    what: str  # the command or the file's path
    detail: str = ""  # for "differs": a short unified diff, catalogue (-) against text (+)
    line: int | None = None  # where the text shows it, when it does


@dataclass(frozen=True)
class _Expected:
    """A catalogue file, normalized and in the tutorial's placeholder words."""

    step: str
    file: File
    python: bool
    lines: tuple[str, ...]


def config_line(text: str) -> str:
    """A shell or config line without its comment and with whitespace runs collapsed."""
    return " ".join(_COMMENT.sub("", text).split())


def normalize(lines: Iterable[str], python: bool) -> tuple[str, ...]:
    """Lines as compared: Python keeps its comments and blank lines (they are code and layout);
    config and shell lines lose comments, blank lines and whitespace differences."""
    if not python:
        return tuple(c for c in map(config_line, lines) if c)
    kept = [text.rstrip() for text in lines]
    while kept and not kept[-1]:
        kept.pop()
    while kept and not kept[0]:
        kept.pop(0)
    return tuple(kept)


def _head(lines: Iterable[str]) -> str | None:
    return next((c for c in map(config_line, lines) if c), None)


def _is_subsequence(part: Sequence[str], whole: Sequence[str]) -> bool:
    remaining = iter(whole)
    return all(line in remaining for line in part)  # `in` consumes the iterator, keeping order


def _diff(expected: Sequence[str], got: Sequence[str], source: str, line: int) -> str:
    return "\n".join(
        difflib.unified_diff(list(expected), list(got), f"catalogue: {source}", f"text: line {line}", n=1, lineterm="")
    )


def _expected_files(steps: Sequence[Step]) -> list[_Expected]:
    out = []
    for step in steps:
        for f in step.files:
            python = f.artifact.endswith(".py")
            lines = normalize(TUTORIAL_WORDS.artifact(f.artifact).splitlines(), python)
            out.append(_Expected(step.id, f, python, lines))
    return out


@dataclass(frozen=True)
class Pair:
    """A catalogue command and the text's command aligned with it: both (the same, or one edited),
    only the catalogue's (the text dropped it) or only the text's (it added one)."""

    step: str  # the catalogue step; an added command belongs to the step shown just before it
    want: str | None  # the catalogue's command, normalized, in the tutorial's words
    got: str | None  # the text's command, normalized
    line: int | None  # where the text shows it


def catalogue_commands(steps: Sequence[Step]) -> list[tuple[str, str]]:
    """(normalized command in the tutorial's words, step id) of every step, in order."""
    return [(config_line(TUTORIAL_WORDS.expand(c)), s.id) for s in steps for c in s.commands]


def align(steps: Sequence[Step], shown: Sequence[tuple[str, int]]) -> list[Pair]:
    """The text's command lines (normalized, line) aligned in order with the catalogue's."""
    expected = catalogue_commands(steps)
    matcher = difflib.SequenceMatcher(None, [c for c, _ in expected], [c for c, _ in shown], autojunk=False)
    pairs: list[Pair] = []
    for tag, e1, e2, s1, s2 in matcher.get_opcodes():
        cat, txt = expected[e1:e2], shown[s1:s2]
        if tag == "equal":
            pairs += [Pair(step, want, got, line) for (want, step), (got, line) in zip(cat, txt, strict=True)]
            continue
        paired = 0
        for (want, step), (got, line) in zip(cat, txt, strict=False):
            if difflib.SequenceMatcher(None, want, got).ratio() < _SAME_COMMAND:
                break
            pairs.append(Pair(step, want, got, line))
            paired += 1
        pairs += [Pair(step, want, None, None) for want, step in cat[paired:]]
        # What replaces a step's commands is that step's; an insertion belongs to the step before it.
        near = cat[0][1] if cat else expected[e1 - 1][1] if e1 else expected[0][1]
        pairs += [Pair(near, None, got, line) for got, line in txt[paired:]]
    return pairs


def _compare_commands(steps: Sequence[Step], shown: Sequence[tuple[str, int]]) -> list[Finding]:
    """Align the text's command lines with the catalogue's, in order."""
    findings: list[Finding] = []
    for p in align(steps, shown):
        if p.want is None:
            findings.append(Finding("extra", p.step, p.got or "", "the catalogue never runs it", p.line))
        elif p.got is None:
            findings.append(Finding("missing", p.step, p.want, "no code block shows it"))
        elif p.want != p.got:
            findings.append(
                Finding("differs", p.step, p.want, _diff([p.want], [p.got], f"step {p.step}", p.line or 0), p.line)
            )
    return findings


def _compare_file(expected: _Expected, blocks: Sequence[Block]) -> list[Finding]:
    """Judge the last block shown for a file in full, and the earlier, partial ones as subsets."""
    step, path = expected.step, expected.file.path
    if not blocks:
        return [Finding("missing", step, path, f"no code block shows app/{expected.file.artifact}")]
    findings = []
    *partial, final = blocks
    for block in partial:
        got = normalize(block.lines, expected.python)
        if not _is_subsequence(got, expected.lines):
            stray = [f"+{text}" for text in got if text not in expected.lines]
            detail = "\n".join(stray) or "its lines are in another order than the file's"
            findings.append(Finding("differs", step, path, f"partial block: {detail}", block.line))
    got = normalize(final.lines, expected.python)
    if got != expected.lines:
        diff = _diff(expected.lines, got, f"app/{expected.file.artifact}", final.line)
        findings.append(Finding("differs", step, path, diff, final.line))
    return findings


@dataclass(frozen=True)
class _Reading:
    """A tutorial's code blocks sorted the catalogue's way: commands, files' blocks, and the rest."""

    commands: list[tuple[str, int]]  # (normalized command, its line)
    files: dict[str, list[Block]]  # catalogue path -> the blocks that show it, in order
    extra: list[Finding]


def _read(markdown: str, files: Sequence[_Expected]) -> _Reading:
    """A file block is the file its editor call opened; a block no editor opened (a file in another
    language, or output) is a catalogue file's when its first line is that file's; commands are
    commands. Any other file block is extra; output is not code."""
    by_path = {TUTORIAL_WORDS.expand(e.file.path): e for e in files}
    by_head = {_head(e.lines): e for e in files}
    reading = _Reading([], {e.file.path: [] for e in files}, [])
    for block in read(markdown):
        if block.kind is Kind.COMMANDS:
            numbered = ((config_line(c.text), c.line) for c in block.commands)
            reading.commands.extend((c, n) for c, n in numbered if c)
            continue
        head = _head(block.lines)
        target = by_path.get(TUTORIAL_WORDS.expand(block.path)) if block.path else by_head.get(head)
        if target is not None:
            reading.files[target.file.path].append(block)
        elif block.kind is Kind.FILE:
            what = block.path or f"{block.lang} block"
            why = f"the catalogue has no file starting {head!r}"
            reading.extra.append(Finding("extra", None, what, why, block.line))
    return reading


# The prerequisite (the reader's sudo account) is delegated to another guide: no block shows it.
SHOWN_STEPS = tuple(s for s in TUTORIAL if not s.as_root)


def check(markdown: str, steps: Sequence[Step] = SHOWN_STEPS) -> list[Finding]:
    """Every disagreement between the code blocks of `markdown` and the literal catalogue (or
    `steps`, such as a platform's adapted plan)."""
    files = _expected_files(steps)
    reading = _read(markdown, files)
    findings = reading.extra + _compare_commands(steps, reading.commands)
    for expected in files:
        findings += _compare_file(expected, reading.files[expected.file.path])
    return findings


def file_blocks(markdown: str) -> dict[str, Block]:
    """The block that shows each catalogue file whole (its last), by the path the tutorial writes."""
    reading = _read(markdown, _expected_files(SHOWN_STEPS))
    return {path: blocks[-1] for path, blocks in reading.files.items() if blocks}


def check_file(path: str | Path) -> list[Finding]:
    """`check` on a tutorial's file; one that cannot be a tutorial is refused in one line (UsageError)."""
    return check(read_text(Path(path), "drift"))


def format_findings(findings: Sequence[Finding]) -> str:
    """One line per finding, each "differs" followed by its indented diff."""
    if not findings:
        return "faithful: every code block matches the catalogue, and the catalogue is all shown"
    out = []
    for f in findings:
        where = f" (line {f.line})" if f.line is not None else ""
        out.append(f"{f.kind:<8} step {f.step or '-':<4} {f.what}{where}")
        if f.kind == "differs":
            out += [f"    {text}" for text in f.detail.splitlines()]
        elif f.detail:
            out[-1] += f": {f.detail}"
    return "\n".join(out)


def main(path: str | Path, out: TextIO | None = None) -> int:
    """Print the drift report for the tutorial at `path`; 0 when faithful, 1 when drift is found.

    A file that cannot be a tutorial (missing, a directory, over 1 MB, not UTF-8, no code block) raises
    UsageError with the one line that says so.
    """
    findings = check_file(path)
    print(format_findings(findings), file=out or sys.stdout)
    return 1 if findings else 0
