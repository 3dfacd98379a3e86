"""The reader: every rendering of the seed tutorial made at test time reads as the same commands and
files, and each block's kind comes from its content and context."""

import pytest
from renderings import RENDERINGS, seed_text

from provision.tutorial.reader import Kind, read


def summary(markdown: str) -> list[tuple[str, tuple[str, ...]]]:
    """What a reader takes from the text: each command, and each file block's path and lines."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for block in read(markdown):
        if block.kind is Kind.COMMANDS:
            out += [("$", (c.text,)) for c in block.commands]
        elif block.kind is Kind.FILE:
            out.append((block.path or "?", block.lines))
    return out


@pytest.mark.parametrize("rendering", [name for name in RENDERINGS if name != "seed"])
def test_every_rendering_reads_as_the_seed(rendering: str) -> None:
    seed = seed_text()
    assert summary(RENDERINGS[rendering](seed)) == summary(seed)


def test_the_seed_reads_as_commands_and_the_files_its_editor_calls_open() -> None:
    blocks = read(seed_text())
    files = [b.path for b in blocks if b.kind is Kind.FILE]
    assert files == (
        ["~/myproject/myproject.py", "~/myproject/wsgi.py"]
        + ["~/myproject/myproject.ini"] * 4
        + ["/etc/init/myproject.conf"] * 3
        + ["/etc/nginx/sites-available/myproject"] * 2
    )
    assert all(b.kind is not Kind.OUTPUT for b in blocks)


def test_lines_are_the_documents_own() -> None:
    text = seed_text()
    lines = text.splitlines()
    for block in read(text):
        for c in block.commands:
            assert lines[c.line - 1] == c.text
        assert lines[block.line - 1] == block.lines[0]


def test_an_untagged_block_after_a_file_is_commands_not_more_of_the_file() -> None:
    # The English original's bug: after `nano`, every later untagged block was taken as the file.
    text = '```\nsudo nano /etc/init/job.conf\n```\n\n```\ndescription "x"\nexec run\n```\n\n```\nsudo start job\n```\n'
    kinds = [(b.kind, b.path) for b in read(text)]
    assert kinds == [(Kind.COMMANDS, None), (Kind.FILE, "/etc/init/job.conf"), (Kind.COMMANDS, None)]


@pytest.mark.parametrize(
    ("markdown", "kind"),
    [
        ("```\nnginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n```\n", Kind.OUTPUT),
        ("```\n(myprojectenv)user@host:~/myproject$\n```\n", Kind.OUTPUT),
        ("```bash\n[uWSGI] getting INI configuration from myproject.ini\n```\n", Kind.OUTPUT),
        ("```python\nprint('hi')\n```\n", Kind.FILE),  # a file no editor call opened
        ("```\nls -l\n```\n", Kind.COMMANDS),
    ],
    ids=["nginx-t-output", "bare-prompt", "shell-tagged-output", "unopened-file", "untagged-command"],
)
def test_output_and_files_are_told_from_commands(markdown: str, kind: Kind) -> None:
    [block] = read(markdown)
    assert block.kind is kind


def test_a_transcript_gives_its_prompted_lines_continuations_and_roots_hash() -> None:
    text = "```\n$ sudo apt-get install \\\n    nginx\nReading package lists...\n# service nginx restart\n$\n```\n"
    [block] = read(text)
    assert [(c.text, c.line) for c in block.commands] == [
        ("sudo apt-get install nginx", 2),
        ("service nginx restart", 5),
    ]


def test_comments_are_not_commands_and_entities_are_decoded_only_when_complete() -> None:
    [block] = read("```bash\n# first, the packages\ntrue &amp;&amp; echo a&b &#39;x&#39;\n```\n")
    assert [c.text for c in block.commands] == ["true && echo a&b 'x'"]


def test_tilde_fences_tags_and_an_unclosed_fence() -> None:
    markdown = "text\n~~~ Bash\nls\n```\n~~~\n\n````\n```\nunclosed\n"
    assert [(b.lang, b.lines, b.line) for b in read(markdown)] == [
        ("bash", ("ls", "```"), 3),  # a backtick line does not close a tilde fence
        ("", ("```", "unclosed"), 8),  # a shorter fence does not close a longer one
    ]
