"""Acceptance: the rehearsed guest is in the state the tutorial promises, checked with testinfra and HTTP.

Runs unchanged on every target; what differs between platforms comes from the platform's expectations,
and the files are compared with the tutorial's own code blocks, not with the copies the harness wrote.
"""

import time

import pytest
from job_to_unit import unit_lines
from packaging.utils import canonicalize_name
from renderings import seed_text

from provision.guests.wheelhouse import pins
from provision.platforms import Mode
from provision.tutorial.drift import file_blocks, normalize
from provision.tutorial.params import PAGE, Params
from provision.tutorial.reader import Block

pytestmark = pytest.mark.guest


@pytest.fixture(scope="module")
def p(rehearsed):
    return rehearsed.params


def test_packages_installed(host, rehearsed):
    for name in rehearsed.platform.expect.packages:
        assert host.package(name).is_installed, name


def test_reader_is_non_root_sudoer(host, p):
    user = host.user(p.user)
    assert user.exists and user.uid != 0 and user.home == p.home
    assert "sudo" in user.groups


def test_virtualenv_holds_flask_and_uwsgi(host, p):
    venv = f"{p.project}/myprojectenv"
    assert host.file(f"{venv}/bin/python").exists
    installed = host.pip.get_packages(pip_path=f"{venv}/bin/pip")
    assert {"flask", "uwsgi"} <= {name.lower() for name in installed}
    assert host.file(f"{venv}/bin/uwsgi").mode & 0o111


def test_virtualenv_runs_the_platforms_python_and_its_pinned_releases(host, rehearsed, p):
    """bullseye: the tutorial's own Python 2.7, and what pip resolved there is what constraints-py27.txt
    pins for trusty, the last releases for Python 2 (Flask 1.1.4, Werkzeug 1.0.1, uWSGI 2.0.31); the
    others: their own Python 3, with the newest releases (no pins)."""
    expect = rehearsed.platform.expect
    version = "import sys; print('%d.%d' % sys.version_info[:2])"
    assert host.check_output(f'{p.project}/myprojectenv/bin/python -c "{version}"') == expect.python
    if expect.pins is not None:
        installed = host.pip.get_packages(pip_path=f"{p.project}/myprojectenv/bin/pip")
        got = {canonicalize_name(name): meta["version"] for name, meta in installed.items()}
        wanted = {name: str(req.specifier).removeprefix("==") for name, req in pins(expect.pins).items()}
        step_51 = ("flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click", "uwsgi")
        assert {n: got.get(n) for n in step_51} == {n: wanted[n] for n in step_51}


def in_tutorial_words(text: str, p: Params) -> str:
    """The guest's file with the reader's values put back as the tutorial's placeholder words."""
    return text.replace(p.home, "/home/user").replace(p.user, "user").replace(p.server_name, "server_domain_or_IP")


def as_shown(text: str, block: Block, path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Both sides normalized the drift check's way (config comments and spacing aside)."""
    python = path.endswith(".py")
    return normalize(text.splitlines(), python), normalize(block.lines, python)


@pytest.fixture(scope="module")
def shown() -> dict[str, Block]:
    """The tutorial's own code blocks (the seed's), by the path each file is written to."""
    return file_blocks(seed_text())


@pytest.mark.parametrize(
    ("path", "owner"),
    [
        ("~/myproject/myproject.py", "user"),
        ("~/myproject/wsgi.py", "user"),
        ("~/myproject/myproject.ini", "user"),
        ("/etc/nginx/sites-available/myproject", "root"),
    ],
)
def test_files_are_what_the_tutorial_shows(host, p, shown, path, owner):
    f = host.file(p.expand(path))
    assert f.is_file
    got, tutorial = as_shown(in_tutorial_words(f.content_string, p), shown[path], path)
    assert got == tutorial
    assert f.user == (p.user if owner == "user" else "root")


def test_service_definition_says_what_the_tutorials_job_says(host, rehearsed, p, shown):
    """Upstart runs the tutorial's job as shown; systemd's unit must carry each of its stanzas."""
    job_path = "/etc/init/myproject.conf"
    path = rehearsed.platform.expect.service_file
    got, job = as_shown(in_tutorial_words(host.file(path).content_string, p), shown[job_path], job_path)
    if path == job_path:
        assert got == job
        return
    assert unit_lines(job) <= set(got)


def test_service_running_and_enabled(host, rehearsed):
    service = host.service("myproject")
    assert service.is_running
    assert service.is_enabled
    if rehearsed.platform.expect.init == "upstart":
        assert "start/running" in host.check_output("initctl status myproject")


def test_socket_owner_group_mode(host, p):
    sock = host.file(f"{p.project}/myproject.sock")
    assert sock.is_socket
    assert (sock.user, sock.group, sock.mode) == (p.user, "www-data", 0o660)
    # uWSGI binds the ini's relative `socket = myproject.sock` from its working directory, and the
    # kernel (so `ss`) reports the name as bound.
    assert host.socket("unix://myproject.sock").is_listening
    # What the mode is for: nginx's group can connect.
    connect = f"import socket; socket.socket(socket.AF_UNIX).connect('{p.project}/myproject.sock')"
    with host.sudo("www-data"):
        assert host.run(f'python3 -c "{connect}"').rc == 0


def test_uwsgi_one_master_five_workers_not_root(host, p):
    procs = host.process.filter(comm="uwsgi")
    assert len(procs) == 6
    assert {proc.user for proc in procs} == {p.user}
    masters = [proc for proc in procs if proc.ppid not in {q.pid for q in procs}]
    assert len(masters) == 1
    assert all(proc.ppid == masters[0].pid for proc in procs if proc is not masters[0])


def test_nginx_config_valid_and_enabled(host):
    with host.sudo():
        assert host.run("nginx -t").rc == 0
    link = host.file("/etc/nginx/sites-enabled/myproject")
    assert link.is_symlink and link.linked_to == "/etc/nginx/sites-available/myproject"


def test_nginx_listens_on_80(host):
    assert host.service("nginx").is_running
    assert host.socket("tcp://0.0.0.0:80").is_listening


def test_page_through_nginx(rehearsed, p, loopback):
    # The guest's address now, from its driver: the report's is where the page was during the
    # rehearsal, and an ssh forward (Vagrant, ssh://) is reopened on another port after a reboot.
    r = loopback.get(rehearsed.driver.http_url(), headers={"Host": p.server_name}, timeout=10)
    assert r.status_code == 200
    assert r.text == PAGE


@pytest.mark.parametrize("port", [5000, 8000])
def test_tutorial_checkpoint_served_then_stopped(host, rehearsed, port):
    """The dev server (:5000) and the uWSGI HTTP test (:8000) each served the page during their step..."""
    claims = {c.id: c for s in rehearsed.report.steps for c in s.claims}
    assert claims[f"page-on-{port}"].passed, claims[f"page-on-{port}"].detail
    # ...and, as after the reader's CTRL-C, nothing listens there any more.
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_every_step_applied_and_every_claim_held(rehearsed):
    report = rehearsed.report
    assert [s.id for s in report.steps] == [p.step.id for p in rehearsed.platform.plan(Mode.ADAPTED)]
    assert all(s.status in ("changed", "unchanged") for s in report.steps)
    assert [c.id for s in report.steps for c in s.claims if not c.passed] == []


def test_service_comes_back_after_a_reboot(host, rehearsed, p, loopback):
    """The tutorial's promise for the init job: after a reboot the app is served again, unattended.

    Last in this module: it reboots the shared guest (the page is asked for again after it)."""
    rehearsed.driver.reboot()
    deadline = time.monotonic() + 60
    # uWSGI binds its socket before it loads the app and forks its workers: wait for both.
    while time.monotonic() < deadline and not (
        host.file(f"{p.project}/myproject.sock").is_socket and len(host.process.filter(comm="uwsgi")) == 6
    ):
        time.sleep(0.2)
    assert host.service("myproject").is_running
    assert len(host.process.filter(comm="uwsgi")) == 6
    r = loopback.get(rehearsed.driver.http_url(), headers={"Host": p.server_name}, timeout=10)
    assert (r.status_code, r.text) == (200, PAGE)
