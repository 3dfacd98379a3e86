"""Static checks of the trusty path: the Upstart job, literal mode, and adapted mode's deviations."""

import re
import shlex
import subprocess
from pathlib import Path

from provision.guests import wheelhouse
from provision.guests.wheelhouse import GUEST_DIR
from provision.platforms import Mode
from provision.platforms.trusty import OLD_RELEASES, TRUSTY
from provision.tutorial.params import Params
from provision.tutorial.steps import TUTORIAL

PROJECT = Path(__file__).resolve().parent.parent

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


def test_upstart_job_has_the_stanzas_the_checks_rely_on() -> None:
    params = Params(user="sammy")
    lines = [line.strip() for line in params.artifact("myproject.conf").splitlines()]
    for stanza in (
        "start on runlevel [2345]",
        "stop on runlevel [!2345]",
        "setuid sammy",
        "setgid www-data",
        "env PATH=/home/sammy/myproject/myprojectenv/bin",
        "chdir /home/sammy/myproject",
        "exec uwsgi --ini myproject.ini",
    ):
        assert lines.count(stanza) == 1, stanza
    assert not any("${" in line for line in lines)


def test_literal_trusty_is_the_tutorial_verbatim() -> None:
    plan = TRUSTY.plan(Mode.LITERAL)
    assert all(p.deviations == () for p in plan)
    assert tuple(p.step for p in plan) == TUTORIAL
    typed = [cmd for p in plan if not p.step.as_root for cmd in p.step.commands]
    assert typed == TUTORIAL_LINES


def test_adapted_trusty_deviates_exactly_where_expected() -> None:
    used = {p.step.id: p.deviations for p in TRUSTY.plan(Mode.ADAPTED) if p.deviations}
    assert sorted(used) == ["3", "4.1", "5.1"]
    for devs in used.values():
        assert len(devs) == 1 and devs[0].reason and "\n" not in devs[0].reason
    adapted = {p.step.id: p.step for p in TRUSTY.plan(Mode.ADAPTED)}
    update, install = adapted["3"].run
    assert update.startswith("sudo apt-get update || ") and "old-releases.ubuntu.com" in update
    assert install == "sudo apt-get install python-pip python-dev nginx build-essential"
    offline = f"--no-index --find-links {GUEST_DIR}"
    assert adapted["4.1"].run == (f"sudo pip install {offline} virtualenv",)
    assert adapted["5.1"].run == (f"pip install {offline} -c {GUEST_DIR}/constraints.txt uwsgi flask",)
    # Everything else, Upstart's step 7 included, runs as the tutorial prints it.
    for original in TUTORIAL:
        if original.id not in used:
            assert adapted[original.id] == original


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


def test_wheelhouse_guest_path_is_the_vagrant_synced_folder() -> None:
    """The Vagrantfile shares the project root as /vagrant and names the same wheelhouse dir."""
    rel = wheelhouse.HOST_DIR.relative_to(PROJECT).as_posix()
    assert f"/vagrant/{rel}" == GUEST_DIR
    assert re.search(rf'^WHEELHOUSE = "{re.escape(rel)}"$', (PROJECT / "Vagrantfile").read_text(), re.M)
