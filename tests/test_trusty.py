"""The trusty path on the host: literal mode against the article, the Upstart job against the claim
that reads it, and adapted step 3's apt fallback run with stand-ins for sudo and apt-get."""

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from provision.platforms import Mode
from provision.platforms.trusty import OLD_RELEASES, TRUSTY
from provision.tutorial.params import Params
from provision.tutorial.steps import TUTORIAL, Claim, Step

# The tutorial's shell lines in its order, typed here from the article as an independent oracle.
TUTORIAL_LINES = [
    "sudo apt-get update",
    "sudo apt-get install python-pip python-dev nginx",
    "sudo pip install virtualenv",
    "mkdir ~/myproject",
    "cd ~/myproject",
    "virtualenv myprojectenv",
    "source myprojectenv/bin/activate",
    "pip install uwsgi flask",
    "nano ~/myproject/myproject.py",
    "python myproject.py",
    "nano ~/myproject/wsgi.py",
    "uwsgi --socket 0.0.0.0:8000 --protocol=http -w wsgi",
    "deactivate",
    "nano ~/myproject/myproject.ini",
    "sudo nano /etc/init/myproject.conf",
    "sudo start myproject",
    "sudo nano /etc/nginx/sites-available/myproject",
    "sudo ln -s /etc/nginx/sites-available/myproject /etc/nginx/sites-enabled",
    "sudo nginx -t",
    "sudo service nginx restart",
]


def planned(step_id: str, mode: Mode = Mode.ADAPTED) -> Step:
    return next(p.step for p in TRUSTY.plan(mode) if p.step.id == step_id)


@pytest.mark.parametrize(
    ("edit", "holds"),
    [(None, True), (("start on runlevel [2345]", "start on filesystem"), False)],
    ids=["as-written", "boot-stanza-changed"],
)
def test_step_7_boot_claim_checks_the_job_step_7_writes(
    tmp_path: Path, edit: tuple[str, str] | None, holds: bool
) -> None:
    """The starts-at-boot probe, run by the shell, against the Upstart job as step 7 writes it (and,
    as a control, against a job whose boot stanza differs)."""
    step = planned("7")
    [job] = step.files
    [claim] = [c for c in step.claims if isinstance(c, Claim) and c.id == "starts-at-boot"]
    params = Params(user="sammy")
    text = params.artifact(job.artifact)
    if edit is not None:
        assert edit[0] in text
        text = text.replace(*edit)
    written = tmp_path / "myproject.conf"
    written.write_text(text)
    probe = params.expand(claim.probe)
    assert job.path in probe
    cp = subprocess.run(probe.replace(job.path, shlex.quote(str(written))), shell=True, check=False)
    assert (cp.returncode == 0) is holds


def test_literal_trusty_is_the_tutorial_verbatim() -> None:
    plan = TRUSTY.plan(Mode.LITERAL)
    assert all(p.deviations == () for p in plan)
    assert tuple(p.step for p in plan) == TUTORIAL
    typed = [cmd for p in plan if not p.step.as_root for cmd in p.step.commands]
    assert typed == TUTORIAL_LINES


def test_old_releases_fallback_rewrites_ubuntu_mirrors(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text(
        "deb http://archive.ubuntu.com/ubuntu trusty main\n"
        "deb http://us.archive.ubuntu.com/ubuntu trusty-updates main\n"
        "deb http://security.ubuntu.com/ubuntu trusty-security main\n"
        "deb http://ppa.launchpad.net/x/y/ubuntu trusty main\n"
    )
    sed = (
        OLD_RELEASES.split(" && ")[0].removeprefix("sudo ").replace("/etc/apt/sources.list", shlex.quote(str(sources)))
    )
    subprocess.run(sed, shell=True, check=True)
    assert sources.read_text().splitlines() == [
        "deb http://old-releases.ubuntu.com/ubuntu trusty main",
        "deb http://old-releases.ubuntu.com/ubuntu trusty-updates main",
        "deb http://old-releases.ubuntu.com/ubuntu trusty-security main",
        "deb http://ppa.launchpad.net/x/y/ubuntu trusty main",
    ]


# Stand-ins on PATH: sudo runs its command; apt-get logs its call, and `update` fails when asked to
# (APT_DOWN=all), or while sources.list still names the main archive (APT_DOWN=main: trusty has left it).
SUDO = '#!/bin/sh\nexec "$@"\n'
APT_GET = """#!/bin/sh
echo "apt-get $*" >> "$APT_LOG"
[ "$1" = update ] || exit 0
case "$APT_DOWN" in
  all) exit 100 ;;
  main) ! grep -qE '(archive|security)[.]ubuntu[.]com' "$APT_SOURCES" ;;
esac
"""


@pytest.mark.parametrize(
    ("down", "fails", "updates", "mirror"),
    [
        ("none", False, 1, "archive.ubuntu.com"),  # the main archive answers: sources.list untouched
        ("main", False, 2, "old-releases.ubuntu.com"),  # it no longer serves trusty: rewritten, updated again
        ("all", True, 2, "old-releases.ubuntu.com"),  # old-releases fails too: the step fails, not masked
    ],
)
def test_adapted_step_3_falls_back_to_old_releases_only_when_update_fails(
    tmp_path: Path, down: str, fails: bool, updates: int, mirror: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in (("sudo", SUDO), ("apt-get", APT_GET)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    sources, log = tmp_path / "sources.list", tmp_path / "apt.log"
    sources.write_text("deb http://archive.ubuntu.com/ubuntu trusty main\n")
    update = planned("3").run[0]
    assert isinstance(update, str) and "/etc/apt/sources.list" in update
    env = os.environ | {
        "PATH": f"{bin_dir}:{os.environ['PATH']}", "APT_LOG": str(log), "APT_SOURCES": str(sources), "APT_DOWN": down,
    }  # fmt: skip
    cp = subprocess.run(
        update.replace("/etc/apt/sources.list", shlex.quote(str(sources))), shell=True, env=env, check=False
    )
    assert (cp.returncode != 0) is fails
    assert log.read_text().splitlines() == ["apt-get update"] * updates
    assert sources.read_text() == f"deb http://{mirror}/ubuntu trusty main\n"
