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
from dataclasses import dataclass, field, replace
from pathlib import Path

from provision.errors import UsageError
from provision.tutorial import drift
from provision.tutorial.reader import Block, Kind, editor_target, read, read_text
from provision.tutorial.steps import SOCKET_CLAIM, TUTORIAL, Cite, Claim, File, Serve, Step

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


def _words(path: str) -> str:
    """A path as the catalogue compares it: in the tutorial's words, `~` expanded."""
    return drift.TUTORIAL_WORDS.expand(path)


@dataclass
class _Mapping:
    """The text being mapped: its blocks and commands, and the files written so far."""

    name: str
    blocks: list[Block]
    raw: dict[int, str]  # each command's line -> the command as the text writes it
    target: Path  # where the text's files go, under the catalogue's artifact names
    contents: dict[str, str] = field(default_factory=dict)  # guest path -> content, as the text shows it

    def write(self, artifact: str, path: str, block: Block) -> None:
        content = "\n".join(block.lines) + "\n"
        self.contents[path] = content
        dest = self.target / artifact
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(in_placeholders(content, python=artifact.endswith(".py")), encoding="utf-8")

    def file(self, step: Step, pair: drift.Pair, opened: str, shown: list[Block]) -> tuple[File, int] | None:
        """The file an editor call of the text opens, written from the last block that shows it; None
        when no block does. `shown` collects every block of it."""
        assert pair.line is not None
        opened = _checked_path(opened, pair.line, self.name)
        blocks = [b for b in self.blocks if b.kind is Kind.FILE and b.path and _words(b.path) == _words(opened)]
        shown += blocks
        if not blocks:
            return None
        editors = {drift.config_line(_words(f.editor_command)): f for f in step.files}
        known = editors.get(pair.want or "")
        artifact = known.artifact if known else f"text-line-{pair.line}"
        self.write(artifact, _words(opened), blocks[-1])
        return File(opened, artifact, sudo=self.raw[pair.line].split()[0] == "sudo"), blocks[-1].line

    def step(self, step: Step, pairs: list[drift.Pair]) -> tuple[Step, Shown]:
        """`step` with the commands and files the text shows for it, and where it shows them."""
        serves = {drift.config_line(s.command): s for s in step.run if isinstance(s, Serve)}
        # A server the text starts differently (`--http :8080`) is still the step's server: the
        # first command the text adds in its place starts it.
        kept = {p.want for p in pairs if p.got is not None}
        unpaired = [s for want, s in serves.items() if want not in kept]
        files: list[File] = []
        run: list[str | Serve] = []
        cites: list[tuple[str, int]] = []
        run_lines: list[int] = []
        editors: list[int] = []
        blocks: list[Block] = []
        for p in pairs:
            if p.got is None or p.line is None:
                continue  # dropped: it does not run
            text = self.raw[p.line]
            if (opened := editor_target(text)) is not None:
                editors.append(p.line)
                if (written := self.file(step, p, opened, blocks)) is not None:
                    files.append(written[0])
                    cites.append((opened, written[1]))
                continue
            serve = serves.get(p.want) if p.want is not None else unpaired.pop(0) if unpaired else None
            command = in_placeholders(text)
            cites.append((command, p.line))
            run_lines.append(p.line)
            run.append(Serve(command, serve.port) if serve else command)
        first = min(run_lines + editors, default=0)
        mapped = replace(step, files=tuple(files), run=tuple(run), cite=Cite(self.name, first, tuple(cites)))
        return mapped, Shown(tuple(run_lines), tuple(editors), tuple(blocks))


def load(path: Path, workdir: Path, app: Path) -> Document:
    """Map the tutorial at `path` onto the catalogue; its files go to `workdir`/tutorial-app (a copy
    of `app` first, so the platforms' own files are there too)."""
    blocks = read(read_text(path))
    commands = [c for b in blocks for c in b.commands]
    shown = [(line, c.line) for c in commands if (line := drift.config_line(c.text))]
    pairs = drift.align(drift.SHOWN_STEPS, shown)
    target = workdir / "tutorial-app"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(app, target)
    text = _Mapping(path.name, blocks, {c.line: c.text for c in commands}, target)

    steps: list[Step] = []
    shown_at: dict[str, Shown] = {}
    for step in TUTORIAL:
        if step.as_root:  # the prerequisite: delegated to another guide, no block shows it
            steps.append(step)
            continue
        mapped, shown_at[step.id] = text.step(step, [p for p in pairs if p.step == step.id])
        steps.append(mapped)
    added = tuple(
        f"step {p.step}: `{text.raw[p.line]}` ({text.name} line {p.line})" for p in pairs if p.want is None and p.line
    )
    return Document(
        name=text.name,
        steps=tuple(_ports_from(s, text.contents) for s in steps),
        app=target,
        claims={SOCKET_CLAIM.id: socket_claim(text.contents)},
        added=added,
        dropped=tuple(f"step {p.step}: `{p.want}`" for p in pairs if p.got is None),
        shown=shown_at,
        lines=text.raw,
    )
