"""A tutorial's text mapped onto the catalogue (`--tutorial`), and ported to a platform (`port`),
host-free: renderings and edits of the seed made at test time."""

import re
from pathlib import Path

import pytest
from renderings import MUTATIONS, RENDERINGS, seed_path, seed_text

from provision import cli
from provision.errors import UsageError
from provision.layout import APP
from provision.platforms import PLATFORMS, Mode
from provision.platforms.port import port
from provision.tutorial import drift
from provision.tutorial.document import Document, load, read_text
from provision.tutorial.params import Params
from provision.tutorial.steps import SOCKET_CLAIM, TUTORIAL, Serve, Step

BOOKWORM = PLATFORMS["bookworm"]


def mapped(tmp_path: Path, text: str, name: str = "tutorial.md") -> Document:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return load(path, tmp_path / "state", APP)


def step(doc: Document, step_id: str) -> Step:
    return next(s for s in doc.steps if s.id == step_id)


def files_of(doc: Document) -> dict[str, str]:
    """Each file the text's steps write, as the rehearsal fills it in (the reader's values)."""
    params = Params(app=doc.app)
    return {params.expand(f.path): params.artifact(f.artifact) for s in doc.steps for f in s.files}


def test_the_seed_runs_the_catalogues_commands_and_its_own_files(tmp_path: Path) -> None:
    doc = mapped(tmp_path, seed_text())
    assert [(s.id, s.run, [f.path for f in s.files]) for s in doc.steps] == [
        (s.id, s.run, [f.path for f in s.files]) for s in TUTORIAL
    ]
    assert (doc.added, doc.dropped) == ((), ())
    assert doc.claims == {SOCKET_CLAIM.id: SOCKET_CLAIM}
    # The text's files: its last block of each, in the reader's values (the translator's comments kept).
    job = files_of(doc)["/etc/init/myproject.conf"]
    assert "setuid deploy    #" in job and "chdir /home/deploy/myproject" in job
    assert [p.deviations for p in BOOKWORM.plan(Mode.ADAPTED, doc)] == [
        p.deviations for p in BOOKWORM.plan(Mode.ADAPTED)
    ]


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_every_rendering_maps_to_the_same_commands_and_files(tmp_path: Path, rendering: str) -> None:
    seed = mapped(tmp_path / "seed", seed_text())
    doc = mapped(tmp_path / rendering, RENDERINGS[rendering](seed_text()))
    assert [s.run for s in doc.steps] == [s.run for s in seed.steps]
    assert files_of(doc) == files_of(seed)


def test_steps_cite_the_texts_lines(tmp_path: Path) -> None:
    text = seed_text()
    doc = mapped(tmp_path, text, "seed.md")
    lines = text.splitlines()
    serve = step(doc, "6.1")
    assert serve.cite is not None and serve.cite.file == "seed.md"
    assert lines[serve.cite.line - 1] == "uwsgi --socket 0.0.0.0:8000 --protocol=http -w wsgi"
    ini = step(doc, "6.2")
    assert ini.cite is not None and lines[ini.cite.line - 1] == "nano ~/myproject/myproject.ini"
    cited = ini.cite.of("~/myproject/myproject.ini")  # the file: its last, whole block
    assert lines[int(cited.rsplit(" ", 1)[1]) - 1] == "[uwsgi]"


@pytest.mark.parametrize(
    ("old", "new", "step_id", "port"),
    [
        ("0.0.0.0:8000", "0.0.0.0:8001", "6.1", 8001),
        ("--socket 0.0.0.0:8000 --protocol=http", "--http :8080", "6.1", 8080),
        ("application.run(host='0.0.0.0')", "application.run(host='0.0.0.0', port=5001)", "5.2", 5001),
    ],
    ids=["uwsgi-socket", "uwsgi-http", "flask-run"],
)
def test_a_serve_port_follows_the_text(tmp_path: Path, old: str, new: str, step_id: str, port: int) -> None:
    doc = mapped(tmp_path, seed_text().replace(old, new))
    [serve] = [r for r in step(doc, step_id).run if isinstance(r, Serve)]
    assert serve.port == port and serve.claim.id == f"page-on-{port}"


def test_the_socket_claim_follows_the_texts_ini_and_job(tmp_path: Path) -> None:
    text = (
        seed_text()
        .replace("chmod-socket = 660", "chmod-socket = 600")
        .replace("socket = myproject.sock", "socket = app.sock")
    )
    claim = mapped(tmp_path, text).claims[SOCKET_CLAIM.id]
    assert claim.expect == "socket ${user} www-data 600\n"
    assert claim.probe == "stat -c '%F %U %G %a' ~/myproject/app.sock"
    [planned] = [p for p in BOOKWORM.plan(Mode.ADAPTED, mapped(tmp_path / "b", text)) if p.step.id == "7"]
    assert claim in planned.step.claims  # the deviation's unit keeps the text's socket claim


def test_added_commands_run_where_the_text_puts_them_and_dropped_ones_do_not(tmp_path: Path) -> None:
    added, _ = MUTATIONS["extra-command"]
    dropped, _ = MUTATIONS["nginx-t-dropped"]
    doc = mapped(tmp_path, dropped(added(seed_text())), "edit.md")
    assert step(doc, "8.4").run == ("sudo service nginx restart", "sudo ufw allow 'Nginx Full'")
    assert step(doc, "8.3").run == ()
    [line] = [n for n, t in enumerate(dropped(added(seed_text())).splitlines(), 1) if t.startswith("sudo ufw")]
    assert doc.added == (f"step 8.4: `sudo ufw allow 'Nginx Full'` (edit.md line {line})",)
    assert doc.dropped == ("step 8.3: `sudo nginx -t`",)


def test_the_texts_placeholder_words_become_the_readers_values(tmp_path: Path) -> None:
    text = seed_text().replace("sudo start myproject", "sudo start myproject\nls -l /home/user $HOME")
    doc = mapped(tmp_path, text)
    assert step(doc, "7").run[-1] == "ls -l ${home} $$HOME"
    assert Params(user="alice").expand(str(step(doc, "7").run[-1])) == "ls -l /home/alice $HOME"
    block = files_of(mapped(tmp_path / "b", text))["/etc/nginx/sites-available/myproject"]
    assert "server_name 127.0.0.1;" in block and "unix:/home/deploy/myproject/myproject.sock" in block


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"```\nls\n```\n\xff\xfe"), "is not UTF-8 text (byte 11)"),
        (lambda p: p.write_text("```\nls\n```\n" + "x" * 1_000_001), "over the 1000000 byte limit"),
        (lambda p: p.write_text("# A title\n\nOnly prose.\n"), "has no code block"),
        (lambda p: None, "cannot be read: No such file or directory"),
        (lambda p: p.write_text("```\nnano /etc/$(reboot)\n```\n\n```\nx\n```\n"), "only a plain path"),
    ],
    ids=["directory", "not-utf8", "too-big", "no-code", "missing", "editor-path"],
)
def test_a_bad_tutorial_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, said: str
) -> None:
    path = tmp_path / "t.md"
    make(path)
    with pytest.raises(UsageError, match=re.escape(said)):
        load(path, tmp_path / "state", APP)
    for command in ("plan", "up", "matrix", "port"):
        args = [command, str(path)] if command == "port" else [command, "--tutorial", str(path)]
        assert cli.main([*args, "--target", "podman", "--workdir", str(tmp_path / "w")]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and said in err
    if said != "only a plain path":  # drift reads the text and writes nothing: an editor path is fine there
        assert cli.main(["drift", str(path)]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and err.startswith("rehearse: error: drift ") and said in err


def test_deviations_are_shown_in_the_tutorials_words_not_a_repr() -> None:
    [seven] = [p for p in BOOKWORM.plan(Mode.ADAPTED) if p.step.id == "7"]
    replaced = seven.deviations[0].replaced(seven.original)
    assert replaced["on_change"] == [
        "after an edit to ~/myproject/myproject.py, ~/myproject/wsgi.py, ~/myproject/myproject.ini: "
        "sudo stop myproject; sudo start myproject"
    ]
    assert not any("(" in v and "=" in v for values in replaced.values() for v in values if "OnChange" in v)


def adapted(platform_name: str) -> list[Step]:
    return [p.step for p in PLATFORMS[platform_name].plan(Mode.ADAPTED) if not p.step.as_root]


@pytest.mark.parametrize("rendering", ["seed", "untagged", "list-items", "crlf-trailing-blanks"])
def test_the_ported_seed_needs_no_deviation_and_has_no_drift(tmp_path: Path, rendering: str) -> None:
    text = RENDERINGS[rendering](seed_text())
    ported, steps = port(text, mapped(tmp_path, text), BOOKWORM)
    assert steps == ["3", "4.1", "7"]
    doc = mapped(tmp_path / "ported", ported)
    for mode in Mode:
        assert [p.step.id for p in BOOKWORM.plan(mode, doc) if p.deviations] == []
    assert drift.check(ported, adapted("bookworm")) == []
    [seven] = [p.step for p in BOOKWORM.plan(Mode.LITERAL, doc) if p.step.id == "7"]
    assert seven.probe == "systemctl is-active --quiet myproject && systemctl is-enabled --quiet myproject"


def prose(markdown: str, but: str) -> list[str]:
    """The text's lines outside its fenced blocks, blank lines and lines starting with `but` aside."""
    out, inside = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside and line.strip() and not line.startswith(but):
            out.append(line)
    return out


def test_port_keeps_the_prose_and_notes_each_replaced_block(tmp_path: Path) -> None:
    text = seed_text()
    ported, _ = port(text, mapped(tmp_path, text), BOOKWORM)
    notes_on = "> **bookworm**: "
    assert prose(ported, but=notes_on) == prose(text, but=notes_on)
    notes = [line.removeprefix(notes_on) for line in ported.splitlines() if line.startswith(notes_on)]
    assert set(notes) == {d.reason for d in BOOKWORM.deviations}
    assert "sudo apt-get install python3-pip python3-dev nginx build-essential" in ported.splitlines()
    assert "sudo start myproject" not in ported


def test_porting_a_ported_text_changes_nothing(tmp_path: Path) -> None:
    text = seed_text()
    once, _ = port(text, mapped(tmp_path, text), BOOKWORM)
    twice, steps = port(once, mapped(tmp_path / "again", once), BOOKWORM)
    assert (twice, steps) == (once, [])


def test_the_seed_file_reads(tmp_path: Path) -> None:
    assert read_text(seed_path()) == seed_text()
