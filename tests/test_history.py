"""No run's record is lost: each is kept under runs/<start time>/, the last 20, listed and re-rendered by
`rehearse report`; a damaged record is named in one line, never a traceback. Host-free."""

import json
import types
from dataclasses import replace
from pathlib import Path

import pytest
from test_render import FAIL_AT, build_report
from test_runner import rehearsal

from provision import cli, commands
from provision.reports import history
from provision.reports.record import DamagedRecord, Outcome, Report, Status
from provision.tutorial.params import Params

TARGET = ["--target", "podman", "--platform", "bookworm"]


def state(tmp_path: Path) -> Path:
    out = cli.state_dir(tmp_path, "podman", "bookworm")
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_at(out: Path, minute: int, **changes: object) -> Report:
    """A run's record written as `rehearse` writes it, started at 12:<minute>."""
    report = replace(build_report(), started=f"2024-05-01T12:{minute:02d}:00+00:00", log=str(out / "rehearsal.log"))
    report = replace(report, **changes)
    with (out / "rehearsal.log").open("a") as log:
        log.write(f"=== {report.started} rehearsal of bookworm (adapted) on podman\n$ true  # exit 0\n")
    cli.write_reports(report, out)
    return report


def test_each_run_is_kept_with_its_renderings_and_its_own_part_of_the_log(tmp_path):
    out = state(tmp_path)
    run_at(out, 1)
    run_at(out, 2, status=Outcome.FAILED)
    kept = sorted(d.name for d in history.runs_dir(out).iterdir())
    assert kept == ["20240501T120100Z", "20240501T120200Z"]
    first = history.runs_dir(out) / kept[0]
    assert {p.name for p in first.iterdir()} == {"report.json", "report.html", "junit.xml", "rehearsal.log"}
    assert (first / "rehearsal.log").read_text() == (
        "=== 2024-05-01T12:01:00+00:00 rehearsal of bookworm (adapted) on podman\n$ true  # exit 0\n"
    )
    assert Report.load(first / "report.json").status == Outcome.PASSED  # the second run did not overwrite it


def test_a_killed_runs_record_is_kept_when_the_next_run_starts(tmp_path):
    """SIGKILL leaves report.json at `running` and nothing else is written: the next run keeps it first."""
    out = state(tmp_path)
    killed = replace(build_report(), started="2024-05-01T12:05:00+00:00", status=Outcome.RUNNING)
    killed.steps[3].status = Status.RUNNING
    killed.save(out / "report.json")
    assert history.keep(out) == history.runs_dir(out) / "20240501T120500Z"
    assert Report.load(history.runs_dir(out) / "20240501T120500Z" / "report.json").status == Outcome.RUNNING


def test_only_the_last_twenty_runs_are_kept(tmp_path):
    out = state(tmp_path)
    for minute in range(23):
        run_at(out, minute)
    assert history.prune(out) == ["20240501T120000Z", "20240501T120100Z", "20240501T120200Z"]
    assert len(list(history.runs_dir(out).iterdir())) == 20


def test_report_list_shows_time_mode_verdict_and_failing_step(tmp_path, capsys):
    out = state(tmp_path)
    run_at(out, 1)
    failed = build_report(fail_at=FAIL_AT)
    run_at(out, 2, steps=failed.steps, status=Outcome.FAILED)
    assert cli.main(["report", "--list", *TARGET, "--workdir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [
        ["20240501T120100Z", "2024-05-01T12:01:00+00:00", "adapted", "passed"],
        ["20240501T120200Z", "2024-05-01T12:02:00+00:00", "adapted", "failed", FAIL_AT],
    ]


def test_report_run_renders_that_run_again_in_its_own_directory(tmp_path, capsys):
    out = state(tmp_path)
    run_at(out, 1, steps=build_report(fail_at=FAIL_AT).steps, status=Outcome.FAILED)
    run_at(out, 2)
    where = history.runs_dir(out) / "20240501T120100Z"
    (where / "report.html").unlink()
    assert cli.main(["report", "20240501T120100Z", *TARGET, "--workdir", str(tmp_path)]) == 1  # that run failed
    assert f"at step {FAIL_AT}" in (where / "report.html").read_text()
    assert cli.main(["report", "../../etc", *TARGET, "--workdir", str(tmp_path)]) == 2
    assert "no kept run '../../etc'" in capsys.readouterr().err


DAMAGED = {
    "cut short": '{"platform": "bookworm", "mode": "adap',
    "not JSON": "\x00\x01 garbage",
    "not a record": '{"hello": 1}',
    "not UTF-8": b"\xff\xfe\xfa",
}


@pytest.mark.parametrize("content", DAMAGED.values(), ids=DAMAGED.keys())
def test_report_names_a_damaged_record_in_one_line(tmp_path, capsys, content):
    out = state(tmp_path)
    path = out / "report.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert cli.main(["report", *TARGET, "--workdir", str(tmp_path)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"rehearse: error: {path} is damaged (")
    with pytest.raises(DamagedRecord):
        Report.load(path)
    assert history.keep(out).name.endswith("-damaged")  # kept as it is, for whoever looks into it
    assert cli.main(["report", "--list", *TARGET, "--workdir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split()[-1] == "damaged"


def test_a_rehearsal_after_a_damaged_record_says_so_and_rehearses(tmp_path):
    (tmp_path / "report.json").write_text('{"platform": "bookw')
    report, _, _ = rehearsal(tmp_path)
    assert report.status == Outcome.PASSED
    assert report.previous.startswith("the last run's record could not be read: ")
    assert "is damaged (JSONDecodeError" in report.previous
    assert json.loads((tmp_path / "report.json").read_text())["status"] == "passed"


# What a rehearsal used is recorded, and the commands that act on its deploy take it from there.


def session(out: Path, **given: str | None) -> commands.Session:
    args = types.SimpleNamespace(user=given.get("user"), server_name=given.get("server_name"))
    return commands.Session(args, None, None, None, out, None)  # type: ignore[arg-type]


def test_the_rehearsals_values_are_recorded(tmp_path):
    report, _, _ = rehearsal(tmp_path)
    assert Report.load(tmp_path / "report.json").values == {
        "user": "deploy", "server_name": "127.0.0.1", "app": str(Params().app),
    }  # fmt: skip
    assert report.values["user"] == "deploy"


def test_faults_verify_and_login_act_on_the_recorded_deploy(tmp_path):
    out = state(tmp_path)
    run_at(out, 1, values={"user": "x2", "server_name": "site.example", "app": "/somewhere/app"})
    assert commands.rehearsed_params(session(out)) == Params(user="x2", server_name="site.example")
    assert commands.rehearsed_params(session(out, user="x2")).user == "x2"  # agreeing is fine
    assert commands.rehearsed_params(session(tmp_path / "none")) == Params()  # no record: the defaults


def test_a_value_that_contradicts_the_record_is_refused(tmp_path, capsys):
    out = state(tmp_path)
    run_at(out, 1, values={"user": "x2", "server_name": "127.0.0.1", "app": "/a"})
    assert cli.main(["faults", *TARGET, "--workdir", str(tmp_path), "--user", "deploy"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("rehearse: error: --user 'deploy' contradicts the rehearsed deploy (user 'x2', in ")
    assert cli.main(["login", *TARGET, "--workdir", str(tmp_path), "--user", "deploy", "-c", "true"]) == 2
    assert "contradicts the rehearsed deploy" in capsys.readouterr().err
