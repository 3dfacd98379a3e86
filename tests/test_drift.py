"""The drift check over renderings of the seed tutorial made at test time, faithful and with planted
mutations (each must be reported at the step it touches, and nothing else)."""

import pytest
from renderings import MUTATIONS, RENDERINGS, seed_path, seed_text

from provision.tutorial.drift import Finding, check, check_file, format_findings, main


def kinds(findings: list[Finding]) -> list[tuple[str, str | None, str]]:
    return [(f.kind, f.step, f.what) for f in findings]


def edited(old: str, new: str) -> str:
    """The seed with `old`, which must occur exactly once, replaced."""
    text = seed_text()
    assert text.count(old) == 1, f"{old!r} must occur once in the seed"
    return text.replace(old, new)


def test_the_real_tutorial_is_faithful() -> None:
    """Covers the incremental blocks (4 ini, 3 upstart, 2 nginx), the placeholder words and the
    translator's trailing comments."""
    assert check_file(seed_path()) == []


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_every_rendering_is_faithful(rendering: str) -> None:
    assert check(RENDERINGS[rendering](seed_text())) == []


@pytest.mark.parametrize("mutation", MUTATIONS)
@pytest.mark.parametrize("rendering", RENDERINGS)
def test_every_mutation_is_reported_at_its_step(rendering: str, mutation: str) -> None:
    edit, expected = MUTATIONS[mutation]
    findings = check(RENDERINGS[rendering](edit(seed_text())))
    assert {(f.kind, f.step) for f in findings} == expected


def test_a_changed_port_is_shown_as_a_diff_at_its_line() -> None:
    text = edited("uwsgi --socket 0.0.0.0:8000", "uwsgi --socket 0.0.0.0:8001")
    [finding] = check(text)
    assert finding.line is not None and "uwsgi --socket 0.0.0.0:8001" in text.splitlines()[finding.line - 1]
    assert "+uwsgi --socket 0.0.0.0:8001 --protocol=http -w wsgi" in finding.detail.splitlines()


def test_a_file_block_with_a_changed_first_line_is_matched_by_the_editor_call() -> None:
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


def test_a_file_the_catalogue_lacks_is_extra() -> None:
    text = seed_text() + "\n```bash\nsudo nano /etc/motd\n```\n\n```\nWelcome\n```\n"
    assert kinds(check(text)) == [("extra", None, "/etc/motd"), ("extra", "8.4", "sudo nano /etc/motd")]


def test_report_prints_and_returns_the_exit_status(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(seed_path()) == 0
    assert capsys.readouterr().out.startswith("faithful:")
    edit, _ = MUTATIONS["nginx-t-dropped"]
    dropped = tmp_path / "dropped.md"
    dropped.write_text(edit(seed_text()), encoding="utf-8")
    assert main(dropped) == 1
    assert capsys.readouterr().out.splitlines() == ["missing  step 8.3  sudo nginx -t: no code block shows it"]


def test_format_findings_indents_the_diff_under_its_finding() -> None:
    lines = format_findings(check(edited("uwsgi --socket 0.0.0.0:8000", "uwsgi --socket 0.0.0.0:8001"))).splitlines()
    assert lines[0].startswith("differs  step 6.1  uwsgi --socket 0.0.0.0:8000 --protocol=http -w wsgi (line ")
    assert "    +uwsgi --socket 0.0.0.0:8001 --protocol=http -w wsgi" in lines
    assert all(line.startswith(("differs", "    ")) for line in lines)
