"""Read a tutorial's code blocks as its reader does: which are commands, which a file's content, which
only show output, whatever the rendering.

Fenced blocks (tagged or not, backticks or tildes), indented blocks and blocks inside list items are
read as CommonMark reads them; CRLF and trailing blank lines do not count, and HTML entities a
conversion left in code are decoded. A block is classified by its content and its context, never by
its tag alone:

- a prompt transcript (`$ cmd`, `user@host:~$ cmd`, then `# cmd` as root) gives the prompted lines as
  commands, the rest is their output;
- the block right after a command that opens an editor (`nano PATH`) is that file's content, and so is
  each later block that starts as that file's first block did (a file the text grows block by block);
- a block whose every line looks like a shell line is commands; a shell-tagged block is commands
  unless no line looks like one;
- what is left shows output (an `nginx -t` result, a prompt) when untagged, or a file the text never
  opened in an editor when tagged with another language.
"""

import html
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from markdown_it import MarkdownIt

from provision.errors import UsageError

SHELL_LANGS = frozenset({"bash", "sh", "shell", "console", "zsh", "shell-session", "shellsession"})

_MARKDOWN = MarkdownIt("commonmark")
# Only complete entities (`&lt;`, `&#39;`, `&#x27;`): a shell's `&&` or `a&b` stays as it is.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# `user@host:~/dir$ cmd`, with an optional `(venv)` before it; `#` ends root's prompt.
_FULL_PROMPT = re.compile(r"^(?:\([\w.-]+\)\s*)?[\w.-]+@[\w.-]+:[^\s$#]*[$#](?:\s+(?P<cmd>.*))?$")
_DOLLAR = re.compile(r"^(?:\([\w.-]+\)\s*)?\$(?:\s+(?P<cmd>.*))?$")
_HASH = re.compile(r"^#\s+(?P<cmd>\S.*)$")  # root's prompt, inside a transcript only (else a comment)
# A shell line: optional `sudo` and VAR=value words, then a lowercase command name or a path, then
# arguments; not `name = value` (ini), `name(` (a call), `name:` (a program's output), `[section]`.
_SHELL_LINE = re.compile(
    r"^(?:sudo\s+)?(?:[A-Za-z_]\w*=\S*\s+)*(?:[a-z][\w.+-]*|\.{0,2}/\S+|~/\S*|\.)(?:\s+(?![=(:{])\S.*)?$"
)
_EDITOR = re.compile(r"^(?:sudo\s+)?(?:nano|vi|vim|emacs|editor)\s+(?:-\S+\s+)*(?P<path>[^\s-]\S*)$")


class Kind(StrEnum):
    COMMANDS = "commands"
    FILE = "file"
    OUTPUT = "output"


@dataclass(frozen=True)
class Command:
    text: str  # one shell line as the reader types it (continuations joined, the prompt removed)
    line: int  # its 1-based line in the document


@dataclass(frozen=True)
class Block:
    """A code block of the document, classified."""

    kind: Kind
    lang: str  # the fence's tag, lowercased; "" when untagged or indented
    lines: tuple[str, ...]  # its content, decoded, without trailing blank lines
    line: int  # 1-based line of its first content line
    start: int = 0  # 1-based line where its markup starts: the opening fence, or its first indented line
    path: str | None = None  # FILE: the path the editor call before it opened (None: never opened)
    commands: tuple[Command, ...] = ()  # COMMANDS: its shell lines


def _raw_blocks(markdown: str) -> list[tuple[str, tuple[str, ...], int, int]]:
    """(tag, lines, first content line, first line) of every fenced or indented block, in order."""
    out = []
    for token in _MARKDOWN.parse(markdown):
        if token.type not in ("fence", "code_block") or token.map is None:
            continue
        fenced = token.type == "fence"
        lang = token.info.split()[0].lower() if fenced and token.info.strip() else ""
        lines = [_ENTITY.sub(lambda m: html.unescape(m[0]), t.rstrip("\r")) for t in token.content.splitlines()]
        first = token.map[0] + (2 if fenced else 1)
        while lines and not lines[0].strip():  # an indented block may not start blank, a fence may
            lines.pop(0)
            first += 1
        while lines and not lines[-1].strip():
            lines.pop()
        if lines:
            out.append((lang, tuple(lines), first, token.map[0] + 1))
    return out


def _logical(lines: tuple[str, ...], first: int) -> list[Command]:
    """Lines with their `\\` continuations joined, each at the line it starts on."""
    out: list[Command] = []
    pending: list[str] = []
    start = first
    for i, text in enumerate(lines):
        if not pending:
            start = first + i
        if text.rstrip().endswith("\\"):
            pending.append(text.rstrip()[:-1].rstrip())
            continue
        out.append(Command(" ".join([*pending, text.strip()]).strip(), start))
        pending = []
    if pending:
        out.append(Command(" ".join(pending).strip(), start))
    return out


def _transcript(lines: tuple[str, ...], first: int) -> list[Command] | None:
    """The prompted commands of a transcript; None when no line carries a prompt."""
    prompted = [m for text in lines if (m := _FULL_PROMPT.match(text) or _DOLLAR.match(text))]
    if not prompted:
        return None
    out = []
    continued: Command | None = None
    for i, text in enumerate(lines):
        m = _FULL_PROMPT.match(text) or _DOLLAR.match(text) or _HASH.match(text)
        if continued is not None:  # the line after a `\` belongs to the prompted command
            continued = Command(f"{continued.text} {text.strip()}", continued.line)
        elif m is None or not m["cmd"]:
            continue  # output, or an empty prompt
        else:
            continued = Command(m["cmd"].strip(), first + i)
        if continued.text.endswith("\\"):
            continued = Command(continued.text[:-1].rstrip(), continued.line)
            continue
        out.append(continued)
        continued = None
    return out


def _is_comment(text: str) -> bool:
    return text.lstrip().startswith("#")


def looks_like_shell(lines: tuple[str, ...]) -> bool:
    """Every line (comments aside, continuations joined) reads as a shell command."""
    commands = [c.text for c in _logical(lines, 1) if c.text and not _is_comment(c.text)]
    return bool(commands) and all(_SHELL_LINE.match(c) for c in commands)


def _head(lines: tuple[str, ...]) -> str:
    return next((t.strip() for t in lines if t.strip()), "")


def editor_target(command: str) -> str | None:
    """The path a shell line opens in an editor, if it does."""
    m = _EDITOR.match(" ".join(command.split()))
    return m["path"] if m else None


def read(markdown: str) -> list[Block]:
    """Every code block of `markdown`, classified, in the document's order."""
    blocks: list[Block] = []
    editing: str | None = None  # the path the last command opened in an editor
    growing: tuple[str, str] | None = None  # (path, first line) of the file the last blocks showed
    for lang, lines, first, start in _raw_blocks(markdown):
        head = _head(lines)
        prompted = _transcript(lines, first)
        grows = growing is not None and growing[1] == head and lang not in SHELL_LANGS
        if prompted is None and (editing is not None or grows) and lang not in SHELL_LANGS:
            path = editing or (growing[0] if growing else "")
            blocks.append(Block(Kind.FILE, lang, lines, first, start, path=path))
            growing, editing = (path, head), None
            continue
        if prompted is not None:
            commands = tuple(prompted)
        elif lang in SHELL_LANGS or looks_like_shell(lines):
            logical = [c for c in _logical(lines, first) if c.text and not _is_comment(c.text)]
            commands = tuple(logical) if any(_SHELL_LINE.match(c.text) for c in logical) else ()
        else:  # neither commands nor a file opened before: another language's file, or output
            blocks.append(Block(Kind.FILE if lang else Kind.OUTPUT, lang, lines, first, start))
            continue
        blocks.append(Block(Kind.COMMANDS if commands else Kind.OUTPUT, lang, lines, first, start, commands=commands))
        if commands:
            editing, growing = editor_target(commands[-1].text), None
    return blocks


MAX_BYTES = 1_000_000


def read_text(path: Path, given_as: str = "--tutorial") -> str:
    """The document at `path`, refused in one line (naming it as it was `given_as`) when it cannot be a
    tutorial: a directory, unreadable, over MAX_BYTES, not UTF-8, or without a code block."""
    if path.is_dir():
        raise UsageError(f"{given_as} {str(path)!r} is a directory, not a tutorial's text")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise UsageError(f"{given_as} {str(path)!r} is {size} bytes: over the {MAX_BYTES} byte limit")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{given_as} {str(path)!r} is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise UsageError(f"{given_as} {str(path)!r} cannot be read: {e.strerror}") from None
    if not any(b.kind is not Kind.OUTPUT for b in read(text)):
        raise UsageError(f"{given_as} {str(path)!r} has no code block: nothing to rehearse")
    return text
