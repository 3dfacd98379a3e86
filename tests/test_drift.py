"""The drift check against Markdown fixtures: a faithful copy of the tutorial's code blocks, and
copies with planted differences (each fixture's heading names what was planted)."""

import os
from pathlib import Path

import pytest

from provision.layout import PROJECT
from provision.tutorial.drift import Finding, check, check_file, code_blocks, format_findings, main

FIXTURES = Path(__file__).parent / "fixtures"
FAITHFUL = FIXTURES / "faithful.md"
# The real tutorial, saved beside the checkout (CI clones into another folder, with shared/ beside it).
SEEDS = PROJECT.parent / "shared" / "seeds"
SEED_FILES = sorted(SEEDS.glob("*.txt"))


def kinds(findings: list[Finding]) -> list[tuple[str, str | None, str]]:
    return [(f.kind, f.step, f.what) for f in findings]


def edited(old: str, new: str) -> str:
    """The faithful fixture with `old`, which must occur exactly once, replaced."""
    text = FAITHFUL.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in the faithful fixture"
    return text.replace(old, new)


def test_faithful_fixture_has_no_findings() -> None:
    # Covers the incremental blocks (4 ini, 3 upstart, 2 nginx), the placeholder words and the
    # translator-style trailing comments.
    assert check_file(FAITHFUL) == []


def test_changed_ports_are_found() -> None:
    findings = check_file(FIXTURES / "changed_port.md")
    assert kinds(findings) == [
        ("differs", "6.1", "uwsgi --socket 0.0.0.0:8000 --protocol=http -w wsgi"),
        ("differs", "8.1", "/etc/nginx/sites-available/myproject"),  # the partial block
        ("differs", "8.1", "/etc/nginx/sites-available/myproject"),  # the complete block
    ]
    command, partial, final = findings
    assert "+uwsgi --socket 0.0.0.0:8001 --protocol=http -w wsgi" in command.detail.splitlines()
    assert partial.detail == "partial block: +listen 8080;"
    assert {"-listen 80;", "+listen 8080;"} <= set(final.detail.splitlines())
    assert (partial.line, final.line) == (166, 173)


def test_missing_blocks_are_found() -> None:
    assert kinds(check_file(FIXTURES / "missing_block.md")) == [
        ("missing", "8.3", "sudo nginx -t"),
        ("missing", "5.3", "~/myproject/wsgi.py"),
    ]


def test_extra_blocks_are_found() -> None:
    findings = check_file(FIXTURES / "extra_block.md")
    assert kinds(findings) == [
        ("extra", None, "python block"),
        ("extra", None, "sudo ufw allow 'Nginx Full'"),
    ]
    assert [f.line for f in findings] == [35, 205]


@pytest.mark.parametrize("seed", SEED_FILES or [None], ids=lambda seed: seed.name if seed else "no-seed")
def test_the_real_tutorial_is_faithful(seed: Path | None) -> None:
    """The one test that reads the article itself: under CI a missing seed fails, so drift cannot go unseen."""
    if seed is None:
        missing = f"no seed tutorial (*.txt) in {SEEDS}"
        if os.environ.get("CI"):  # any CI sets it (true, 1, yes...): there the seed must be present
            pytest.fail(f"{missing}: CI must provide shared/seeds/ beside the checkout", pytrace=False)
        pytest.skip(missing)
    assert check_file(seed) == []


def test_a_file_block_with_a_changed_first_line_is_matched_by_the_editor_call() -> None:
    # Its first line no longer names the file, but it follows `nano ~/myproject/wsgi.py`.
    text = edited("from myproject import application\n", "from myproject import application as app\n")
    [finding] = check(text)
    assert (finding.kind, finding.step, finding.what) == ("differs", "5.3", "~/myproject/wsgi.py")
    assert "+from myproject import application as app" in finding.detail.splitlines()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("die-on-term = true\n", "die-on-term = true   # on SIGTERM\n", []),
        ("sudo nginx -t\n", "sudo  nginx -t    # syntax\n", []),
        ("vacuum = true\n\ndie-on-term", "vacuum = true\n\n\n  die-on-term", []),
        # In Python a comment is part of the code the reader types.
        ("    application.run()\n", "    application.run()  # dev\n", [("differs", "5.3", "~/myproject/wsgi.py")]),
    ],
    ids=["ini-comment", "shell-comment-and-spaces", "ini-blank-lines-and-indent", "python-comment"],
)
def test_normalization(old: str, new: str, expected: list[tuple[str, str, str]]) -> None:
    assert kinds(check(edited(old, new))) == expected


def test_a_partial_block_with_a_line_the_file_lacks_differs() -> None:
    text = edited("[uwsgi]\nmodule = wsgi\n```", "[uwsgi]\nmodule = wsgi\nplugin = python\n```")
    [finding] = check(text)
    assert (finding.kind, finding.step, finding.detail) == ("differs", "6.2", "partial block: +plugin = python")


def test_code_blocks_reads_tilde_fences_tags_and_an_unclosed_fence() -> None:
    markdown = "text\n~~~ Bash\nls\n```\n~~~\n\n````\n```\nunclosed\n"
    blocks = code_blocks(markdown)
    assert [(b.lang, b.lines, b.line) for b in blocks] == [
        ("bash", ("ls", "```"), 2),  # a backtick line does not close a tilde fence
        ("", ("```", "unclosed"), 7),  # a shorter fence does not close a longer one
    ]


def test_report_prints_and_returns_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(FAITHFUL) == 0
    assert capsys.readouterr().out.startswith("faithful:")
    assert main(FIXTURES / "missing_block.md") == 1
    assert capsys.readouterr().out.splitlines() == [
        "missing  step 8.3  sudo nginx -t: no code block shows it",
        "missing  step 5.3  ~/myproject/wsgi.py: no code block shows app/wsgi.py",
    ]


def test_format_findings_indents_the_diff_under_its_finding() -> None:
    lines = format_findings(check_file(FIXTURES / "changed_port.md")).splitlines()
    assert lines[0] == "differs  step 6.1  uwsgi --socket 0.0.0.0:8000 --protocol=http -w wsgi (line 69)"
    assert "    +uwsgi --socket 0.0.0.0:8001 --protocol=http -w wsgi" in lines
    assert all(line.startswith(("differs", "    ")) for line in lines)
