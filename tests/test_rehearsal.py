"""The `rehearse` command on a real stand-in guest: idempotence, literal mode, reports, errors."""

import json
import os
import re
import shlex
import time
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from provision import cli, commands, platforms
from provision.guests.lock import exclusive
from provision.guests.ssh import SshDriver
from provision.guests.transport import Guest
from provision.platforms import Mode
from provision.platforms.base import Deviation
from provision.rehearsal.browser import find_chromium, open_page
from provision.rehearsal.claims import Context
from provision.rehearsal.runner import rehearse
from provision.reports.record import Outcome, Report, Status


def apply(rehearsed, workdir: Path, *extra: str) -> tuple[int, Report]:
    target = rehearsed.driver.target
    code = cli.main(
        ["apply", "--target", target, "--platform", rehearsed.platform.name, "--workdir", str(workdir), *extra]
    )
    return code, Report.load(cli.state_dir(workdir, target, rehearsed.platform.name) / "report.json")


@pytest.mark.guest
def test_second_run_changes_nothing(rehearsed, tmp_path):
    code, report = apply(rehearsed, tmp_path)
    assert code == 0
    assert {s.id: s.status for s in report.steps} == {s.id: Status.UNCHANGED for s in report.steps}


@pytest.mark.guest
def test_literal_mode_stops_at_first_broken_step(rehearsed, tmp_path, capsys):
    code, report = apply(rehearsed, tmp_path, "--mode", "literal")
    err = capsys.readouterr().err.strip()
    assert code == 1
    failed = report.failed_step
    expected = rehearsed.platform.expect.literal_break
    assert failed is not None and failed.id == expected.step
    assert failed.deviations == []
    last = failed.commands[-1]
    assert last.command == expected.command and last.exit_code != 0
    assert expected.says in last.output_tail
    assert [s.status for s in report.steps[report.steps.index(failed) + 1 :]] == [Status.NOT_REACHED] * (
        len(report.steps) - report.steps.index(failed) - 1
    )
    # One line naming the step; the full log and the partial report stay on disk.
    assert len(err.splitlines()) == 1 and f"step {failed.id}" in err
    assert expected.command in Path(report.log).read_text()
    out = Path(report.log).parent
    assert json.loads((out / "report.json").read_text())["status"] == "failed"
    assert (out / "junit.xml").is_file() and (out / "report.html").is_file()


@pytest.mark.guest
def test_audit_mode_earns_every_deviation(rehearsed, tmp_path):
    """Each deviated step is first tried as the tutorial wrote it: each must fail here, for a reason."""
    code, report = apply(rehearsed, tmp_path, "--mode", "audit")
    assert code == 0 and report.status == "passed"
    literal = {s.id: s.literal for s in report.steps if s.literal}
    assert set(literal) == {d.step for d in rehearsed.platform.deviations}
    assert all(verdict.startswith("fails: ") for verdict in literal.values()), literal
    assert [s.id for s in report.steps if s.deviations] == sorted(literal, key=[s.id for s in report.steps].index)
    html = (Path(report.log).parent / "report.html").read_text()
    assert html.count("as the tutorial wrote it, this step fails") == len(literal)


@pytest.mark.guest
@pytest.mark.skipif(find_chromium() is None, reason="no chromium on PATH (Debian package `chromium`)")
def test_html_report_of_the_rehearsal_in_a_browser(rehearsed):
    html = (rehearsed.out / "report.html").resolve()
    with open_page(html.as_uri()) as (page, _):
        rows = page.locator("tr.step")
        ids = [rows.nth(i).get_attribute("id") for i in range(rows.count())]
        statuses = [rows.nth(i).get_attribute("data-status") for i in range(rows.count())]
        img = page.locator("img").first
        width = img.evaluate("i => i.complete ? i.naturalWidth : 0")
        src = img.get_attribute("src") or ""
    assert ids == [f"step-{s.id}" for s in rehearsed.report.steps]
    assert statuses == [s.status for s in rehearsed.report.steps]
    assert src.startswith("data:image/png;base64,") and width > 0


def test_unknown_platform_is_one_line_error(tmp_path, capsys):
    assert cli.main(["up", "--target", "podman", "--platform", "xenial", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["rehearse: error: unknown platform 'xenial' (choose from trusty, trixie, bookworm, bullseye)"]


def test_unknown_target_is_one_line_error(tmp_path, capsys):
    assert cli.main(["status", "--target", "lxd", "--platform", "bookworm", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown target 'lxd'" in err[0]


def test_missing_podman_is_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with nothing on it
    assert cli.main(["up", "--target", "podman", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("rehearse: error: not found on PATH: podman (makes the stand-in guest), runc (")
    assert "Install with: " in err[0] and err[0].endswith(
        "--no-install-recommends podman runc debootstrap chromium wrk"
    )
    assert os.listdir(tmp_path) == ["podman-trixie"]  # the default platform's state dir is made, nothing is lost


def test_podman_cannot_boot_trusty(tmp_path, capsys):
    assert cli.main(["up", "--target", "podman", "--platform", "trusty", "--workdir", str(tmp_path)]) == 2
    assert "cannot boot platform 'trusty'" in capsys.readouterr().err


@pytest.mark.guest
def test_a_hanging_step_is_killed_at_its_budget_and_the_evidence_kept(rehearsed, tmp_path):
    """A platform variant whose step 4.2 hangs: the command is killed in the guest with its process
    group, the step fails saying so, and the log and the partial report stay."""
    hang = Deviation("4.2", "hangs on purpose", {"run": ("sleep 300 & sleep 301",), "probe": None, "timeout": 3})
    variant = replace(rehearsed.platform, deviations=(*rehearsed.platform.deviations, hang))
    ctx = Context(Guest(rehearsed.driver.host_spec(), tmp_path / "rehearsal.log"), rehearsed.params)
    started = time.monotonic()
    report = rehearse(ctx, variant, Mode.ADAPTED, target=rehearsed.driver.target, report_path=tmp_path / "r.json")
    assert time.monotonic() - started < 60
    failed = report.failed_step
    assert failed is not None and failed.id == "4.2"
    assert failed.error == "`sleep 300 & sleep 301` timed out after 3 s (killed in the guest)"
    assert Report.load(tmp_path / "r.json").failed_step == failed
    assert "sleep 300 & sleep 301" in (tmp_path / "rehearsal.log").read_text()
    # Nothing of the step left running: its own two sleeps, by their whole command lines (a guest
    # has sleeps of its own: each ssh forward of port 80 holds one).
    left = ctx.guest.run("pgrep -a -x -f 'sleep 30[01]'", timeout=10)
    assert left.exit_code == 1, left.output


HOSTILE = [
    ("--user", "x;touch /tmp/pwned;#"),
    ("--user", "root"),
    ("--user", "a\nb"),
    ("--user", "../etc"),
    ("--server-name", "x'; touch /tmp/pwned2; echo '"),
    ("--server-name", "a b"),
    ("--server-name", "x" * 300),
]
# What a hostile value would have reached: accounts, sudoers, nginx's sites, the reader's project.
CANARY = "cat /etc/passwd /etc/sudoers.d/* /etc/nginx/sites-available/* 2>&1 | sha256sum; ls -la /tmp /home"


@pytest.mark.guest
def test_hostile_values_are_refused_before_the_guest_is_touched(rehearsed, tmp_path, capsys):
    guest = Guest(rehearsed.driver.host_spec(), tmp_path / "canary.log")
    before = guest.run(CANARY).output
    target, platform = rehearsed.driver.target, rehearsed.platform.name
    for option, value in HOSTILE:
        code = cli.main(
            ["apply", "--target", target, "--platform", platform, "--workdir", str(tmp_path), option, value]
        )
        err = capsys.readouterr().err
        assert code == 2, (option, value)
        assert len(err.strip().splitlines()) == 1 and option.removeprefix("--").replace("-", "_") in err
    assert not (tmp_path / f"{target}-{platform}" / "report.json").exists()  # no step ran
    assert guest.run(CANARY).output == before


def test_a_busy_guest_is_refused_at_once(tmp_path, capsys):
    """Two writers never act on one guest: the second `up` ends at once, naming the lock."""
    with exclusive("podman-bookworm") as lock:
        started = time.monotonic()
        assert cli.main(["up", "--target", "podman", "--platform", "bookworm", "--workdir", str(tmp_path)]) == 2
        assert time.monotonic() - started < 5
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("rehearse: error: podman-bookworm is busy: rehearse pid ") and str(lock) in line


@pytest.mark.guest
def test_literal_verdict_is_the_same_on_a_fresh_guest(rehearsed, fresh_guest, tmp_path):
    """Literal mode never skips a step by its probe: a guest made a minute ago and the rehearsed one
    break at the same step, on the same command, for the same reason."""
    _, on_rehearsed = apply(rehearsed, tmp_path / "rehearsed", "--mode", "literal")
    ctx = Context(Guest(fresh_guest.host_spec(), tmp_path / "fresh.log"), rehearsed.params)
    on_fresh = rehearse(ctx, rehearsed.platform, Mode.LITERAL, target="podman", report_path=tmp_path / "f.json")

    def verdict(report: Report) -> tuple[str, str, list[str]]:
        failed = report.failed_step
        assert failed is not None
        return failed.id, failed.commands[-1].command, failed.commands[-1].decisive

    assert verdict(on_fresh) == verdict(on_rehearsed)
    assert verdict(on_fresh)[0] == rehearsed.platform.expect.literal_break.step


@pytest.mark.parametrize(
    ("policy", "outcome", "destroyed"),
    [
        ("never", Outcome.PASSED, False),
        ("never", Outcome.FAILED, False),
        ("passing", Outcome.PASSED, True),
        ("passing", Outcome.FAILED, False),  # a failed guest stays for inspection
        ("always", Outcome.FAILED, True),
    ],
)
def test_destroy_policy(policy, outcome, destroyed):
    assert commands.should_destroy(policy, outcome) is destroyed


@pytest.mark.guest
def test_up_destroy_keeps_a_failed_guest_unless_always(rehearsed, tmp_path, monkeypatch, capsys):
    """On a scratch platform (its own guest): a literal Debian fails at step 3, fast."""
    if rehearsed.driver.name != "podman":
        # Vagrant's machines are the Vagrantfile's, one per platform: a scratch platform has none.
        # `rehearse destroy` on the Vagrant guest is proven by CI's vagrant stage.
        pytest.skip("a scratch guest (and --no-cache, the caches) is made with the podman driver only")
    scratch = replace(rehearsed.platform, name=f"{rehearsed.platform.name}-scratch")
    monkeypatch.setattr(platforms, "PLATFORMS", MappingProxyType({**platforms.PLATFORMS, scratch.name: scratch}))
    base = ["--target", "podman", "--platform", scratch.name, "--workdir", str(tmp_path)]
    out = cli.state_dir(tmp_path, "podman", scratch.name)
    try:
        assert cli.main(["up", *base, "--mode", "literal", "--destroy", "passing", "--no-cache"]) == 1
        assert Report.load(out / "report.json").caches == []  # a cold guest, and the report says so
        assert cli.main(["status", *base]) == 0 and capsys.readouterr().out.splitlines()[-1] == "running"
        assert cli.main(["up", *base, "--mode", "literal", "--destroy", "always"]) == 1
        assert "guest removed (--destroy always)" in capsys.readouterr().out
        assert cli.main(["status", *base]) == 0 and capsys.readouterr().out.splitlines()[-1] == "absent"
        # the evidence outlives the guest
        failed = Report.load(out / "report.json").failed_step
        assert failed.id == scratch.expect.literal_break.step and (out / "report.html").is_file()
        # a new guest with the caches (the default) says which it used
        assert cli.main(["up", *base, "--mode", "literal", "--destroy", "always"]) == 1
        assert [c.split(" (")[0] for c in Report.load(out / "report.json").caches] == ["apt archives", "pip wheels"]
    finally:
        cli.main(["destroy", *base])


@pytest.mark.guest
def test_login_runs_as_the_reader_in_the_project_directory(rehearsed, tmp_path, capfd):
    base = ["login", "--target", rehearsed.driver.target, "--platform", rehearsed.platform.name]
    assert cli.main([*base, "--workdir", str(tmp_path), "-c", "pwd; id -un; exit 3"]) == 3
    assert capfd.readouterr().out.splitlines() == [rehearsed.params.project, rehearsed.params.user]


def test_login_over_ssh_quotes_the_command_for_the_remote_shell(tmp_path):
    driver = SshDriver(platforms.get("bookworm").guest, tmp_path, "ssh://alice@example.test:2222")
    command = ["sudo", "-u", "deploy", "bash", "-c", "cd ~/myproject; echo 'a b' $HOME"]
    argv = driver.login_argv(command, tty=False)
    assert argv[:4] == ["ssh", "-p", "2222", "alice@example.test"] and shlex.split(argv[-1]) == command
    assert driver.login_argv(command, tty=True)[1] == "-t"


@pytest.mark.guest
def test_caches_are_kept_on_the_host_for_the_next_guest(rehearsed, tmp_path, capsys):
    if rehearsed.driver.name != "podman":
        pytest.skip("the caches are the podman driver's")
    if not rehearsed.report.caches:
        pytest.fail("the session guest was made without caches: `rehearse destroy`, then run again")
    cache = rehearsed.out.parent / "cache" / rehearsed.platform.name
    # uWSGI's wheel is named as its build tools spell it: uWSGI-… (bookworm), uwsgi-… (trixie)
    wheels = [w for w in cache.glob("pip/wheels/**/*.whl") if w.name.lower().startswith("uwsgi-")]
    assert list(cache.glob("apt-archives/nginx*.deb")) and wheels
    # the caches are the guest's for life: asking it to be cold is refused, not ignored
    args = ["up", "--target", "podman", "--platform", rehearsed.platform.name, "--workdir", str(rehearsed.out.parent)]
    assert cli.main([*args, "--no-cache"]) == 2
    assert "was created with caches: `rehearse destroy` first" in capsys.readouterr().err


@pytest.mark.guest
def test_verify_runs_the_acceptance_checks_without_rehearsing(rehearsed, tmp_path, capfd):
    base = ["verify", "--target", rehearsed.driver.target, "--platform", rehearsed.platform.name]
    log = Path(rehearsed.report.log)
    size = log.stat().st_size
    assert cli.main([*base, "--workdir", str(rehearsed.out.parent), "--", "-k", "not reboot"]) == 0
    # the seed's checks skip where ../shared/seeds is absent; the summary then counts them
    assert re.search(r"^\d+ passed(, \d+ skipped)?, 1 deselected in ", capfd.readouterr().out, re.MULTILINE)
    assert log.stat().st_size == size  # nothing was rehearsed: the rehearsal log did not grow
    # no passing rehearsal in this workdir: refused by the suite, with why
    assert cli.main([*base, "--workdir", str(tmp_path)]) != 0
    assert "--reverify: no rehearsal to check" in capfd.readouterr().out
