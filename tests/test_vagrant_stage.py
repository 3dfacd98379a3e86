"""CI's vagrant-libvirt stage (benchmarks/vagrant_libvirt.py), its host-free parts: the box cache's
safety, the second apply's verdict, the suite's counts. The stage itself runs in `.ci/run`."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from provision.layout import PROJECT
from provision.reports.record import Outcome, Report, Status, StepResult


def load_stage():
    spec = importlib.util.spec_from_file_location("vagrant_libvirt", PROJECT / "benchmarks" / "vagrant_libvirt.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stage = load_stage()


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


def test_the_box_is_cached_per_recipe_in_a_private_directory(cache_home: Path) -> None:
    box = stage.box_file()
    assert box == cache_home / "rehearse" / "boxes" / f"rehearse-bookworm-libvirt-{stage.RECIPE}.box"
    assert (box.parent.stat().st_mode & 0o777) == 0o700 and box.parent.stat().st_uid == os.geteuid()


@pytest.mark.parametrize("writable_by", [0o020, 0o002])
def test_a_box_cache_others_can_write_is_refused(cache_home: Path, writable_by: int) -> None:
    boxes = stage.box_file().parent
    boxes.chmod(0o700 | writable_by)
    with pytest.raises(SystemExit, match=r"refusing the box cache: .*/boxes must be owned by uid"):
        stage.box_file()


@pytest.mark.parametrize("dangling", [False, True])
def test_a_cached_box_that_is_a_symlink_is_refused(cache_home: Path, tmp_path: Path, dangling: bool) -> None:
    box = stage.box_file()
    if not dangling:
        (tmp_path / "elsewhere.box").write_text("")
    box.symlink_to(tmp_path / "elsewhere.box")
    with pytest.raises(SystemExit, match="not a symlink"):
        stage.box_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_box_another_user_owns_is_refused(cache_home: Path) -> None:
    box = stage.box_file()
    box.write_text("")
    os.chown(box, 65534, 65534)
    with pytest.raises(SystemExit, match="it is uid 65534"):
        stage.box_file()


def report(outcome: Outcome, *statuses: Status) -> Report:
    steps = [StepResult(str(i), f"step {i}", status) for i, status in enumerate(statuses, 2)]
    return Report("bookworm", "adapted", "vagrant", "now", status=outcome, steps=steps)


@pytest.mark.parametrize(
    ("second", "changed"),
    [
        (report(Outcome.PASSED, Status.UNCHANGED, Status.UNCHANGED), []),
        (report(Outcome.PASSED, Status.UNCHANGED, Status.CHANGED), ["3"]),
        (report(Outcome.FAILED, Status.UNCHANGED, Status.FAILED), ["2", "3"]),  # a failed rerun proves nothing
    ],
)
def test_the_second_apply_must_leave_every_step_unchanged(second: Report, changed: list[str]) -> None:
    assert stage.changed_steps(second) == changed


def test_the_suite_counts_come_from_its_junit(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="40" failures="2" errors="1" '
        'skipped="3"></testsuite></testsuites>'
    )
    assert stage.suite_counts(junit) == {"passed": 34, "tests": 40, "failures": 2, "errors": 1, "skipped": 3}


def test_the_stage_refuses_to_run_as_another_user_than_root(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(stage.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(sys, "argv", ["vagrant_libvirt.py"])
    assert stage.main() == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "vagrant_libvirt: run as root: debootstrap, network namespaces and libvirtd need it"
    ]


# Polls of one boot: (seconds, domain running, domain has a DHCP lease) -> what each poll returns.
@pytest.mark.parametrize(
    ("polls", "verdicts", "leased_after"),
    [
        # not running yet (vagrant still uploads the box): no clock runs, however long
        ([(0, False, False), (900, False, False)], [True, True], None),
        # a good boot: running at 10 s, leased at 45 s; the bound no longer matters after
        ([(10, True, False), (45, True, True), (900, True, False)], [True, True, True], 35),
        # the boot CI saw: running, never leased; stopped once it has run the bound
        ([(10, True, False), (309, True, False), (310, True, False)], [True, True, False], None),
        # a domain that stopped (crashed, powered off) before its lease counts as running on
        ([(10, True, False), (100, False, False), (310, False, False)], [True, True, False], None),
    ],
)
def test_a_boot_is_stopped_when_its_domain_runs_the_bound_without_a_lease(
    polls: list[tuple[float, bool, bool]], verdicts: list[bool], leased_after: float | None
) -> None:
    watch = stage.BootWatch(bound=300)
    assert [watch.observe(*poll) for poll in polls] == verdicts
    assert watch.leased_after == leased_after


def test_a_console_tail_is_printable_and_says_when_there_is_none(tmp_path: Path) -> None:
    console = tmp_path / "console.log"
    assert stage.console_tail(console) == "(no console output)"
    lines = b"".join(b"line %d\r\n" % i for i in range(50))
    console.write_bytes(lines + b"\x1b[0;32m  OK  \x1b[0m] \x1b]0;owned\x07\n")
    tail = stage.console_tail(console, lines=3).splitlines()
    assert tail == ["    | line 48", "    | line 49", "    |   OK  ] \\x1b]0;owned\\x07"]
