"""A tutorial's own text as what a rehearsal runs (`--tutorial FILE`).

The catalogue keeps the structure (which step is which, probes, claims, handlers, the platforms'
deviations); each step's commands and file contents come from the text's blocks aligned to it
(`drift.align`). Values the catalogue checks follow the text: a foreground server's port from the
text's command, the socket's path, group and mode from the text's ini and job. The text's placeholder
words become the reader's values. Commands the text adds run where it puts them; commands it drops
do not run; both are listed. Every step, command and file cites the text's file and line.
"""

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from provision.errors import UsageError
from provision.tutorial import drift
from provision.tutorial.reader import Block, Kind, editor_target, read
from provision.tutorial.steps import SOCKET_CLAIM, TUTORIAL, Cite, Claim, File, Serve, Step

MAX_BYTES = 1_000_000
# A path the text opens in an editor, written in the guest: no shell or Template metacharacter.
_PATH = re.compile(r"[~/][\w./-]*")
_PORT = re.compile(r"--(?:socket|http|http-socket)[ =][\w.\[\]:-]*:(?P<port>\d{1,5})\b")
_RUN_PORT = re.compile(r"\.run\([^)]*\bport\s*=\s*(?P<port>\d{1,5})")
FLASK_PORT = 5000  # Flask's development server's default


@dataclass(frozen=True)
class Shown:
    """Where the text shows a step: its commands' and editor calls' lines, and its files' blocks."""

    run: tuple[int, ...]
    editors: tuple[int, ...]
    files: tuple[Block, ...]  # every block that shows one of its files, partial ones included


@dataclass(frozen=True)
class Document:
    """A tutorial's text mapped onto the catalogue."""

    name: str  # the file's name, as reports cite it
    steps: tuple[Step, ...]
    app: Path  # the text's files (under the catalogue's artifact names) over the --app directory's
    claims: Mapping[str, Claim]  # the catalogue's claims whose values the text sets, by id
    added: tuple[str, ...]  # "step 8.4: `cmd` (FILE line N)", for the report
    dropped: tuple[str, ...]  # "step 8.3: `cmd`"
    shown: Mapping[str, Shown]  # by step id
    lines: Mapping[int, str]  # each command's line -> the command as the text writes it


def read_text(path: Path) -> str:
    """The document at `path`, refused in one line when it cannot be a tutorial."""
    if path.is_dir():
        raise UsageError(f"--tutorial {str(path)!r} is a directory, not a tutorial's text")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise UsageError(f"--tutorial {str(path)!r} is {size} bytes: over the {MAX_BYTES} byte limit")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"--tutorial {str(path)!r} is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise UsageError(f"--tutorial {str(path)!r} cannot be read: {e.strerror}") from None
    if not any(b.kind is not Kind.OUTPUT for b in read(text)):
        raise UsageError(f"--tutorial {str(path)!r} has no code block: nothing to rehearse")
    return text


def in_placeholders(text: str, *, python: bool = False) -> str:
    """The text's placeholder words as the catalogue's `${user}`, `${home}`, `${server_name}`; every
    other `$` kept literal. Python is code: its words are not placeholders."""
    text = text.replace("$", "$$")
    if python:
        return text
    text = text.replace("/home/user", "${home}").replace(drift.TUTORIAL_WORDS.server_name, "${server_name}")
    return re.sub(r"(?<![\w${/-])user\b(?![-/])", "${user}", text)


def serve_port(command: str, files: Mapping[str, str], default: int) -> int:
    """The port a foreground server of the text listens on: uWSGI's from its `--socket`/`--http`,
    Flask's from the app's `run(port=…)` (else Flask's 5000); `default` when the text says nothing."""
    if m := _PORT.search(command):
        return int(m["port"])
    words = command.split()
    if len(words) >= 2 and words[0].startswith("python") and words[1].endswith(".py"):
        script = next((content for path, content in files.items() if path.endswith("/" + words[1])), "")
        return int(m["port"]) if (m := _RUN_PORT.search(script)) else FLASK_PORT
    return default


def _setting(content: str, pattern: str) -> str | None:
    """The value of the last line of `content` matching `pattern` (comments aside)."""
    found = None
    for line in content.splitlines():
        if m := re.match(pattern, drift.config_line(line)):
            found = m[1]
    return found


def socket_claim(files: Mapping[str, str]) -> Claim:
    """The socket claim as the text's ini and job set it: its path (relative to the project), its
    group (the job's `setgid` or the unit's `Group=`) and mode (`chmod-socket`)."""
    ini = next((c for p, c in files.items() if p.endswith(".ini")), "")
    job = next((c for p, c in files.items() if p.startswith("/etc/init/") or p.endswith(".service")), "")
    socket = _setting(ini, r"socket\s*=\s*(\S+)$")
    mode = _setting(ini, r"chmod-socket\s*=\s*([0-7]{3,4})$")
    group = _setting(job, r"(?:setgid\s+|Group=)([a-z_][a-z0-9_-]*)$")
    if socket is None or not _PATH.fullmatch(socket if socket.startswith(("/", "~")) else f"~/{socket}"):
        return SOCKET_CLAIM
    # Checked above to be a plain path (no shell metacharacter): `~` must stay unquoted to expand.
    path = socket if socket.startswith(("/", "~")) else f"~/myproject/{socket}"
    expect = f"socket ${{user}} {group or 'www-data'} {(mode or '660').lstrip('0') or '0'}\n"
    return replace(SOCKET_CLAIM, probe=f"stat -c '%F %U %G %a' {path}", expect=expect)


def _ports_from(step: Step, contents: Mapping[str, str]) -> Step:
    """`step` with each foreground server on the port the text's command (or app) gives it."""
    run = tuple(
        replace(r, port=serve_port(r.command, contents, r.port)) if isinstance(r, Serve) else r for r in step.run
    )
    return replace(step, run=run)


def _checked_path(path: str, line: int, name: str) -> str:
    if not _PATH.fullmatch(path) or ".." in path.split("/"):
        raise UsageError(f"{name} line {line}: the editor opens {path!r}: only a plain path (letters, digits, ./_-)")
    return path


def _last_blocks(blocks: list[Block]) -> dict[str, Block]:
    """The block that shows each file whole (the last one shown), by its path in the catalogue's words."""
    return {drift.TUTORIAL_WORDS.expand(b.path): b for b in blocks if b.kind is Kind.FILE and b.path}


def load(path: Path, workdir: Path, app: Path) -> Document:
    """Map the tutorial at `path` onto the catalogue; its files go to `workdir`/tutorial-app (a copy
    of `app` first, so the platforms' own files are there too)."""
    name = path.name
    blocks = read(read_text(path))
    commands = [c for b in blocks for c in b.commands]
    raw = {c.line: c.text for c in commands}
    shown = [(drift.config_line(c.text), c.line) for c in commands]
    shown = [(c, n) for c, n in shown if c]
    pairs = drift.align(drift.SHOWN_STEPS, shown)
    files = _last_blocks(blocks)

    target = workdir / "tutorial-app"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(app, target)
    contents: dict[str, str] = {}  # guest path (catalogue words) -> content, as the text shows it

    def write(artifact: str, file_path: str, block: Block) -> None:
        content = "\n".join(block.lines) + "\n"
        contents[file_path] = content
        dest = target / artifact
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(in_placeholders(content, python=artifact.endswith(".py")), encoding="utf-8")

    by_step: dict[str, list[drift.Pair]] = {}
    for p in pairs:
        by_step.setdefault(p.step, []).append(p)
    added = tuple(f"step {p.step}: `{raw[p.line]}` ({name} line {p.line})" for p in pairs if p.want is None and p.line)
    dropped = tuple(f"step {p.step}: `{p.want}`" for p in pairs if p.got is None)

    steps = []
    shown_at: dict[str, Shown] = {}
    for step in TUTORIAL:
        if step.as_root:  # the prerequisite: delegated to another guide, no block shows it
            steps.append(step)
            continue
        mine = by_step.get(step.id, [])
        editor_of = {drift.config_line(drift.TUTORIAL_WORDS.expand(f.editor_command)): f for f in step.files}
        serves = {drift.config_line(s.command): s for s in step.run if isinstance(s, Serve)}
        # A server the text starts differently (`--http :8080`) is still the step's server: the
        # first command the text adds in its place starts it.
        kept = {p.want for p in mine if p.got is not None}
        unpaired = [s for want, s in serves.items() if want not in kept]
        step_files: list[File] = []
        run: list[str | Serve] = []
        cites: list[tuple[str, int]] = []
        lines: list[int] = []  # of every block of the step, editor calls included
        editors: list[int] = []
        file_blocks: list[Block] = []
        for p in mine:
            if p.got is None or p.line is None:
                continue  # dropped: it does not run
            text = raw[p.line]
            lines.append(p.line)
            opened = editor_target(text)
            if opened is not None:
                opened = _checked_path(opened, p.line, name)
                editors.append(p.line)
                expanded = drift.TUTORIAL_WORDS.expand(opened)
                file_blocks += [b for b in blocks if b.path and drift.TUTORIAL_WORDS.expand(b.path) == expanded]
                known = editor_of.get(p.want or "")
                artifact = known.artifact if known else f"text-line-{p.line}"
                block = files.get(drift.TUTORIAL_WORDS.expand(opened))
                if block is None:
                    continue  # opened but never shown: nothing to write
                write(artifact, drift.TUTORIAL_WORDS.expand(opened), block)
                step_files.append(File(opened, artifact, sudo=text.split()[0] == "sudo"))
                cites.append((opened, block.line))
                continue
            serve = serves.get(p.want) if p.want is not None else unpaired.pop(0) if unpaired else None
            command = in_placeholders(text)
            cites.append((command, p.line))
            run.append(Serve(command, serve.port) if serve else command)
        run_lines = tuple(n for n in lines if n not in editors)
        shown_at[step.id] = Shown(run_lines, tuple(editors), tuple(file_blocks))
        steps.append(
            replace(
                step,
                files=tuple(step_files),
                run=tuple(run),
                cite=Cite(name, min(lines), tuple(cites)) if lines else Cite(name, 0),
            )
        )
    ported = tuple(_ports_from(s, contents) for s in steps)
    return Document(
        name,
        ported,
        target,
        {SOCKET_CLAIM.id: socket_claim(contents)},
        added,
        dropped,
        shown_at,
        raw,
    )
