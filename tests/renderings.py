"""Renderings and planted mutations of the seed tutorial, made at test time (the seed's text is never
committed): the ways the same tutorial reaches a reader (untagged fences, indented blocks, prompt
transcripts, CRLF, HTML entities, list items, a mix) and the edits an author might make."""

import html
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from provision.layout import PROJECT

# The real tutorial, saved beside the checkout (CI clones into another folder, with shared/ beside it).
SEEDS = PROJECT.parent / "shared" / "seeds"
SEED_FILES = sorted(SEEDS.glob("*.txt"))

_FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.M | re.S)
_SHELL = ("bash", "sh", "console")
# What a few commands print, for transcripts and output-only blocks (the reader sees them, runs nothing).
_OUTPUT = {
    "sudo nginx -t": [
        "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok",
        "nginx: configuration file /etc/nginx/nginx.conf test is successful",
    ],
    "python myproject.py": [" * Running on http://0.0.0.0:5000/ (Press CTRL+C to quit)"],
    "source myprojectenv/bin/activate": ["(myprojectenv)user@host:~/myproject$"],
}

Block = Callable[[int, str, str], str]  # (index, lang, body) -> the block as the rendering writes it


def seed_path() -> Path:
    """The seed tutorial; under CI a missing seed fails (drift must not go unseen), elsewhere it skips."""
    if not SEED_FILES:
        missing = f"no seed tutorial (*.txt) in {SEEDS}"
        if os.environ.get("CI"):  # any CI sets it (true, 1, yes...): there the seed must be present
            pytest.fail(f"{missing}: CI must provide shared/seeds/ beside the checkout", pytrace=False)
        pytest.skip(missing)
    return SEED_FILES[0]


def seed_text() -> str:
    return seed_path().read_text(encoding="utf-8")


def blocks(text: str, render: Block) -> str:
    """`text` with each fenced block replaced by `render(index, lang, body)`."""
    count = iter(range(1000))
    return _FENCE.sub(lambda m: render(next(count), m["lang"], m["body"]), text)


def tagged(i: int, lang: str, body: str) -> str:
    return f"```{lang}\n{body}```"


def untagged(i: int, lang: str, body: str) -> str:
    return f"```\n{body}```"


def indented(i: int, lang: str, body: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in body.splitlines())


def prompted(i: int, lang: str, body: str) -> str:
    """Shell blocks as transcripts: each command after a prompt, then what it prints."""
    if lang not in _SHELL:
        return tagged(i, lang, body)
    out = []
    for line in body.splitlines():
        prompt = "$ " if i % 2 else "user@host:~$ "
        out += [prompt + line, *_OUTPUT.get(line, [])]
    return "```console\n" + "\n".join(out) + "\n```"


def with_output(i: int, lang: str, body: str) -> str:
    """Untagged blocks, and after a command that prints, a block that only shows its output."""
    shown = [line for command in body.splitlines() for line in _OUTPUT.get(command, [])]
    after = "\n\nThe output:\n\n```\n" + "\n".join(shown) + "\n```" if shown and lang in _SHELL else ""
    return untagged(i, lang, body) + after


def crlf_blank(i: int, lang: str, body: str) -> str:
    return f"```{lang}\n{body}\n\n\n```"


def entities(i: int, lang: str, body: str) -> str:
    """What an HTML conversion leaves: `<`, `>`, `&`, quotes as entities, in untagged fences."""
    return untagged(i, lang, html.escape(body, quote=True))


def listed(i: int, lang: str, body: str) -> str:
    """Each block inside a numbered list item; every other one indented rather than fenced."""
    inner = indented(i, lang, body) if i % 2 else tagged(i, lang, body)
    item = "\n".join(f"   {line}" if line else "" for line in inner.splitlines())
    return f"1. Type:\n\n{item}\n"


_MIX: tuple[Block, ...] = (untagged, indented, prompted, entities, listed, tagged, with_output)


def mixed(i: int, lang: str, body: str) -> str:
    return _MIX[i % len(_MIX)](i, lang, body)


def _crlf(text: str) -> str:
    return blocks(text, crlf_blank).replace("\n", "\r\n")


RENDERINGS: dict[str, Callable[[str], str]] = {
    "seed": lambda text: text,
    "untagged": lambda text: blocks(text, untagged),
    "indented": lambda text: blocks(text, indented),
    "prompted": lambda text: blocks(text, prompted),
    "output-blocks": lambda text: blocks(text, with_output),
    "crlf-trailing-blanks": _crlf,
    "entities": lambda text: blocks(text, entities),
    "list-items": lambda text: blocks(text, listed),
    "mixed": lambda text: blocks(text, mixed),
}


def _replace(old: str, new: str, count: int = 1) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert text.count(old) == count, f"{old!r} must occur {count} times in the seed"
        return text.replace(old, new)

    return edit


def _drop_block(body_start: str) -> Callable[[str], str]:
    """Remove the fenced block whose body starts with `body_start` (and the text's mention stays)."""

    def edit(text: str) -> str:
        dropped = _FENCE.sub(lambda m: "" if m["body"].startswith(body_start) else m[0], text)
        assert dropped != text, f"no block starts with {body_start!r}"
        return dropped

    return edit


def _drop_blocks(*starts: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        for start in starts:
            text = _drop_block(start)(text)
        return text

    return edit


# name -> (edit of the seed, the (kind, step) pairs drift must report, nothing else)
MUTATIONS: dict[str, tuple[Callable[[str], str], set[tuple[str, str]]]] = {
    "uwsgi-port": (_replace("0.0.0.0:8000", "0.0.0.0:8001"), {("differs", "6.1")}),
    "packages": (_replace("python-pip python-dev nginx", "python3-pip python3-dev nginx"), {("differs", "3")}),
    "socket-mode": (_replace("chmod-socket = 660", "chmod-socket = 600", count=2), {("differs", "6.2")}),
    "page-text": (_replace("Hello There!", "Hello World!"), {("differs", "5.2")}),
    "nginx-t-dropped": (_drop_block("sudo nginx -t"), {("missing", "8.3")}),
    "wsgi-dropped": (_drop_blocks("nano ~/myproject/wsgi.py", "from myproject import"), {("missing", "5.3")}),
    "extra-command": (
        _replace("sudo service nginx restart\n", "sudo service nginx restart\nsudo ufw allow 'Nginx Full'\n"),
        {("extra", "8.4")},
    ),
    "job-user": (_replace("setgid www-data\n", "setgid nginx\n", count=2), {("differs", "7")}),
}
