"""Host prerequisites, host-free: `rehearse doctor`, the fix line, and a command that finds a tool missing.

Each test puts on PATH only the commands it names (empty executables in a temporary directory), so the
lookups are the real ones against a host that has exactly those tools."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from provision import cli
from provision.layout import PROJECT
from provision.prerequisites import PREREQUISITES, MissingPrerequisite, fix_line, for_target, missing, require

ALL_COMMANDS = [p.name for p in PREREQUISITES]


def only_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *commands: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in commands:
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def packages_in(line: str) -> list[str]:
    """The package names of a fix line: the words after its options."""
    words = shlex.split(line)
    return words[words.index("--no-install-recommends") + 1 :]


@pytest.mark.parametrize(
    ("present", "target", "lacking"),
    [
        (ALL_COMMANDS, "podman", []),
        ([c for c in ALL_COMMANDS if c != "runc"], "podman", ["runc"]),
        (["podman", "runc"], "podman", ["debootstrap", "chromium", "wrk"]),
        (["podman", "runc", "debootstrap", "chromium", "wrk"], "vagrant", ["vagrant", "openssh-client"]),
        (["ssh", "chromium-browser", "wrk"], "ssh", []),  # Ubuntu's name for the browser will do
        ([], "ssh", ["openssh-client", "chromium", "wrk"]),
    ],
    ids=["all", "no-runc", "podman-only", "vagrant-bare", "ubuntu-chromium", "nothing"],
)
def test_missing_per_target(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, present: list[str], target: str, lacking: list[str]
) -> None:
    only_on_path(monkeypatch, tmp_path, *present)
    assert [p.package for p in missing(for_target(target))] == lacking


def test_doctor_lists_what_each_target_lacks_and_the_one_line_that_installs_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    only_on_path(monkeypatch, tmp_path, "podman", "ssh", "chromium")
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("target ")] == ["target podman:", "target vagrant:", "target ssh:"]
    assert sum("MISSING  runc " in line for line in out) == 1  # podman's only
    assert sum("MISSING  wrk " in line for line in out) == 3  # every target's
    assert out[-2] == "doctor: missing runc, debootstrap, vagrant, wrk; install with:"
    assert packages_in(out[-1]) == ["runc", "debootstrap", "vagrant", "wrk"]


def test_doctor_for_one_target_passes_when_it_has_all(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    only_on_path(monkeypatch, tmp_path, "ssh", "chromium", "wrk")
    assert cli.main(["doctor", "--target", "ssh"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "doctor: the host has everything these targets need"
    assert cli.main(["doctor", "--target", "ssh", "--target", "podman"]) == 1


def test_fix_line_runs_apt_get_as_root_or_through_sudo() -> None:
    argv = shlex.split(fix_line(for_target("ssh")))
    assert argv[argv.index("apt-get") :] == [
        "apt-get", "install", "-y", "-q", "--no-install-recommends", "openssh-client", "chromium", "wrk",
    ]  # fmt: skip
    assert (argv[0] == "sudo") == (os.geteuid() != 0)


def test_require_names_what_is_missing_and_gives_the_doctor_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    only_on_path(monkeypatch, tmp_path, "podman")
    with pytest.raises(MissingPrerequisite) as caught:
        require("podman", "podman", "runc")
    message = str(caught.value)
    assert message.startswith("not found on PATH: runc (runs the stand-in with systemd as PID 1); the podman target")
    # the line doctor prints for the target: everything it lacks, not only what this command needs
    assert message.endswith(f"Install with: {fix_line(missing(for_target('podman')))}")
    require("podman", "podman")  # present: no error


def test_missing_runc_ends_a_command_with_one_line_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    only_on_path(monkeypatch, tmp_path, "podman", "debootstrap", "chromium", "wrk")
    assert cli.main(["up", "--target", "podman", "--workdir", str(tmp_path / "state")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rehearse: error: not found on PATH: runc")
    assert packages_in(err[0].split("Install with: ")[1]) == ["runc"]


def test_missing_chromium_stops_up_before_the_guest_is_touched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    only_on_path(monkeypatch, tmp_path, "podman", "runc", "debootstrap", "wrk")
    assert cli.main(["up", "--target", "podman", "--workdir", str(tmp_path / "state")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found on PATH: chromium (the browser claim" in err[0]
    assert not (tmp_path / "state" / "podman-bookworm" / "driver.log").exists()  # podman never ran


def test_module_prints_the_missing_packages_for_the_checkout_script(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What `./rehearse` reads before its venv exists: the standard library alone, one package a line."""
    bin_dir = only_on_path(monkeypatch, tmp_path, "podman", "runc", "vagrant")
    cp = subprocess.run(
        [sys.executable, "-S", "-m", "provision.prerequisites"],  # -S: no site-packages, so no dependency
        cwd=PROJECT, env={"PATH": str(bin_dir)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert cp.stdout.splitlines() == ["debootstrap", "openssh-client", "chromium", "wrk"]
