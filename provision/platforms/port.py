"""A tutorial's text ported to a platform (`rehearse port`): the platform's deviations written into the
text's own blocks, each replaced block with a one-line note giving the deviation's reason; the prose,
and every block no deviation touches, stay as they were."""

from provision.platforms.base import Deviation, Platform
from provision.tutorial.document import Document
from provision.tutorial.drift import TUTORIAL_WORDS
from provision.tutorial.reader import Block, read
from provision.tutorial.steps import File, Serve


def _prefix(raw: str, content: str) -> str:
    """What the rendering puts before a block's line (list indentation, a prompt)."""
    return raw[: len(raw) - len(content)] if content and raw.endswith(content) else raw[: len(raw) - len(raw.lstrip())]


def _indent(raw: str) -> str:
    """The indentation of the container a block sits in: a fence's own, an indented block's less 4."""
    spaces = raw[: len(raw) - len(raw.lstrip())]
    return spaces if raw.lstrip().startswith(("```", "~~~")) else spaces[:-4]


class _Edits:
    """Line replacements and notes on a document, applied at once (1-based line numbers)."""

    def __init__(self, markdown: str, platform: Platform) -> None:
        self.lines = markdown.splitlines()
        self.blocks = read(markdown)
        self.platform = platform
        self.replace: dict[int, list[str]] = {}
        self.notes: dict[int, str] = {}  # a block's first line -> its note

    def block_at(self, line: int) -> Block:
        return next(b for b in self.blocks if b.line <= line < b.line + len(b.lines))

    def note(self, block: Block, dev: Deviation) -> None:
        self.notes[block.start] = f"> **{self.platform.name}**: {dev.reason}"

    def commands(self, at: tuple[int, ...], new: list[str], text: Document, dev: Deviation) -> None:
        """The commands at lines `at` become `new`, where the first of them was."""
        first, *rest = at
        raw = self.lines[first - 1]
        prefix = _prefix(raw, text.lines[first])
        self.replace[first] = [prefix + c for c in new]
        for line in rest:
            self.replace[line] = []
        for line in at:
            self.note(self.block_at(line), dev)

    def content(self, block: Block, new: str, dev: Deviation) -> None:
        """A file block's content becomes `new`."""
        prefix = _prefix(self.lines[block.line - 1], block.lines[0])
        self.replace[block.line] = [prefix + line if line else "" for line in new.splitlines()]
        for line in range(block.line + 1, block.line + len(block.lines)):
            self.replace[line] = []
        self.note(block, dev)

    def text(self, newline: str, final: bool) -> str:
        out: list[str] = []
        for number, raw in enumerate(self.lines, start=1):
            if number in self.notes:
                out += [_indent(raw) + self.notes[number], ""]
            out += self.replace.get(number, [raw])
        return newline.join(out) + (newline if final else "")


def _words(command: str | Serve) -> str:
    return TUTORIAL_WORDS.expand(command.command if isinstance(command, Serve) else command)


def port(markdown: str, text: Document, platform: Platform) -> tuple[str, list[str]]:
    """`markdown` (mapped onto the catalogue as `text`) with `platform`'s deviations written in; and
    the ids of the steps rewritten."""
    edits = _Edits(markdown, platform)
    ported = []
    for dev in platform.deviations:
        step = next(s for s in text.steps if s.id == dev.step)
        shown = text.shown.get(dev.step)
        if shown is None or dev.written_in(step):
            continue
        files: tuple[File, ...] = dev.changes.get("files", ())
        if files and shown.editors:
            editors = [f.editor_command for f in files]
            edits.commands(shown.editors, editors, text, dev)
            for block in shown.files:
                edits.content(block, TUTORIAL_WORDS.artifact(files[0].artifact), dev)
        if "run" in dev.changes and shown.run:
            edits.commands(shown.run, [_words(c) for c in dev.changes["run"]], text, dev)
        ported.append(dev.step)
    newline = "\r\n" if "\r\n" in markdown else "\n"
    return edits.text(newline, markdown.endswith(("\n", "\r"))), ported
