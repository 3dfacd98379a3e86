"""The step catalogue, the platforms' deviations and the app/ artifacts, checked on the host."""

import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from job_to_unit import unit_lines

from provision import platforms
from provision.platforms import Mode
from provision.tutorial.params import PAGE, Params
from provision.tutorial.steps import TUTORIAL

IDS = ["2", "3", "4.1", "4.2", "4.3", "4.4", "5.1", "5.2", "5.3", "6.1", "6.2", "7", "8.1", "8.2", "8.3", "8.4"]
ARTIFACTS = ["myproject.py", "wsgi.py", "myproject.ini", "myproject.conf", "myproject.service", "nginx/myproject"]


def test_catalogue_follows_the_tutorials_order_and_numbering():
    assert [s.id for s in TUTORIAL] == IDS
    assert len({s.title for s in TUTORIAL}) == len(TUTORIAL)


def test_literal_mode_is_the_catalogue_verbatim():
    for platform in platforms.PLATFORMS.values():
        plan = platform.plan(Mode.LITERAL)
        assert [p.step for p in plan] == list(TUTORIAL)
        assert all(p.deviations == () and not p.try_literal_first for p in plan)


def test_every_deviation_has_a_one_line_reason_and_a_real_step():
    for platform in platforms.PLATFORMS.values():
        for dev in platform.deviations:
            assert dev.step in IDS
            assert dev.reason and "\n" not in dev.reason
            assert set(dev.changes) <= set(TUTORIAL[0].__dataclass_fields__)


def test_adapted_steps_differ_from_the_tutorial_exactly_where_a_deviation_applies():
    """Undeviated steps run as the tutorial prints them; a deviation that changes nothing is a mistake."""
    for platform in platforms.PLATFORMS.values():
        for p in platform.plan(Mode.ADAPTED):
            assert (p.step != p.original) == bool(p.deviations), (platform.name, p.step.id)


def apt_installs(step):
    """The packages a step's `apt-get install` lines name."""
    for line in step.run:
        words = shlex.split(line) if isinstance(line, str) else []
        if "apt-get" in words and "install" in words:
            yield from (w for w in words[words.index("install") + 1 :] if not w.startswith("-"))


def test_acceptance_expectations_are_what_the_adapted_plan_does():
    """What the guest checks look for (a package, the service's file) is what some adapted step installs or writes."""
    for platform in platforms.PLATFORMS.values():
        plan = [p.step for p in platform.plan(Mode.ADAPTED)]
        installed = {platform.expect.provided_by.get(n, n) for step in plan for n in apt_installs(step)}
        assert set(platform.expect.packages) <= installed, platform.name
        service_step = next(step for step in plan if step.id == "7")
        assert platform.expect.service_file in [f.path for f in service_step.files], platform.name


def test_audit_tries_the_tutorials_form_first_exactly_where_a_deviation_applies():
    for platform in platforms.PLATFORMS.values():
        audit = platform.plan(Mode.AUDIT)
        assert [p.try_literal_first for p in audit] == [bool(p.deviations) for p in audit]
        assert [p.step for p in audit] == [p.step for p in platform.plan(Mode.ADAPTED)]
        assert [p.original for p in audit] == list(TUTORIAL)


def test_unknown_platform_and_unbootable_pairs_are_refused():
    with pytest.raises(ValueError, match="unknown platform 'xenial'"):
        platforms.get("xenial")
    boots = "trixie, bookworm, bullseye"
    with pytest.raises(ValueError, match=f"the podman driver cannot boot platform 'trusty' \\(it boots: {boots}\\)"):
        platforms.for_target("podman", "trusty")
    assert platforms.for_target("podman").name == "trixie"  # the current Debian stable
    assert platforms.for_target("vagrant").name == "trusty"


@pytest.mark.parametrize("name", ARTIFACTS)
def test_artifacts_have_every_placeholder_filled(name):
    text = Params(user="sammy", server_name="example.test").artifact(name)
    assert "${" not in text
    assert "/home/user" not in text


def test_upstart_job_and_systemd_unit_say_the_same_thing():
    """Bookworm's unit translates the tutorial's job: each of the job's stanzas, as the unit must say it."""
    p = Params(user="sammy")
    assert unit_lines(p.artifact("myproject.conf").splitlines()) <= set(p.artifact("myproject.service").splitlines())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("myproject.py", "wsgi.py", "myproject.ini"):
        (tmp_path / name).write_text(Params().artifact(name))
    return tmp_path


def test_app_returns_the_tutorials_page(project, monkeypatch):
    monkeypatch.syspath_prepend(str(project))
    from wsgi import application  # the entry point uWSGI loads: `module = wsgi`

    response = application.test_client().get("/")
    assert (response.status_code, response.get_data(as_text=True)) == (200, PAGE)


def test_uwsgi_ini_on_the_host_socket_mode_and_die_on_term(project):
    """uWSGI itself reads myproject.ini: a 660 socket, five workers, and SIGTERM ends it (die-on-term)."""
    uwsgi = Path(sys.executable).parent / "uwsgi"
    log, sock = project / "uwsgi.log", project / "myproject.sock"
    with log.open("w") as out:
        proc = subprocess.Popen([uwsgi, "--ini", "myproject.ini"], cwd=project, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        # Signal only once the master has its workers: before that its SIGTERM handler isn't set.
        while log.read_text().count("spawned uWSGI worker") < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert log.read_text().count("spawned uWSGI worker") == 5
        assert sock.is_socket()
        assert sock.stat().st_mode & 0o777 == 0o660
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0 and "goodbye to uWSGI" in log.read_text()
    assert not sock.exists()  # vacuum = true removed it
