"""The nsenter:// channel: podman exec's answers in a few ms, and podman:// wherever it cannot be used."""

import statistics
import time
from dataclasses import replace

import pytest
import testinfra

from provision import platforms
from provision.errors import DriverError
from provision.guests import nsenter
from provision.guests.podman import PodmanDriver
from provision.guests.transport import Guest

BOOKWORM = platforms.get("bookworm").guest

# Each runs through both channels; exit code, stdout and stderr must be identical.
SAME = {
    "exit code, stdout and stderr apart": "echo out; echo err >&2; exit 3",
    "user and groups": "id",
    "environment, keys and values": "env | sort",
    "PID 1 is the guest's init": "cat /proc/1/comm",
    "working directory": "pwd",
    "root filesystem": "cat /etc/os-release; ls /",
    "hostname and umask": "hostname; umask",
    "cgroup": "cat /proc/self/cgroup",
    "capabilities and seccomp": "grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status",
    "sudo, and the audit socket podman's seccomp refuses": "sudo -u nobody true && sudo true && "
    "python3 -c 'import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)'",
    "ulimits": "cat /proc/self/limits",
    "a session of its own": "test $(ps -o sid= -p $$) -eq $$ && echo session leader",
    "stdin is empty and read-only": "cat; stat -c %A /proc/self/fd/0; echo x >&0",
    "killed by a signal": "kill -KILL $$",
    "unknown command": "no-such-command",
    "non-ASCII and more than a pipe buffer": "printf 'caf\\303\\251\\n'; head -c 300000 /dev/zero | tr '\\0' x",
}


@pytest.fixture(scope="module")
def container(rehearsed) -> str:
    if not isinstance(rehearsed.driver, PodmanDriver):
        pytest.fail(f"nsenter:// is the podman stand-in's channel; deselect {__name__} for this target", pytrace=False)
    return rehearsed.driver.container


@pytest.fixture(scope="module")
def fast(container) -> testinfra.host.Host:
    return testinfra.get_host(f"nsenter://{container}")


@pytest.fixture(scope="module")
def slow(container) -> testinfra.host.Host:
    return testinfra.get_host(f"podman://{container}")


@pytest.mark.guest
@pytest.mark.parametrize("command", SAME.values(), ids=SAME.keys())
def test_same_answer_as_podman_exec(fast, slow, command):
    a, b = fast.run(command), slow.run(command)
    assert (a.rc, a.stdout, a.stderr) == (b.rc, b.stdout, b.stderr)


@pytest.mark.guest
def test_no_host_variable_leaks_in(fast, monkeypatch):
    monkeypatch.setenv("REHEARSE_LEAK_CANARY", "1")
    keys = set(fast.check_output("env | cut -d= -f1").split())
    assert keys == {"HOME", "HOSTNAME", "PATH", "PWD", "TERM", "container"}  # PWD: set by sh
    assert fast.check_output("echo $HOME") == "/root"


@pytest.mark.guest
def test_testinfra_modules_agree(fast, slow, rehearsed):
    p = rehearsed.params
    for path in (f"{p.project}/myproject.ini", f"{p.project}/myproject.sock", "/etc/nginx/sites-enabled/myproject"):
        a, b = fast.file(path), slow.file(path)
        assert (a.exists, a.is_file, a.is_socket, a.is_symlink, a.user, a.group, a.mode) == (
            b.exists, b.is_file, b.is_socket, b.is_symlink, b.user, b.group, b.mode,
        )  # fmt: skip
    assert fast.file(f"{p.project}/myproject.ini").content == slow.file(f"{p.project}/myproject.ini").content
    for name in ("myproject", "nginx"):
        a, b = fast.service(name), slow.service(name)
        assert (a.is_running, a.is_enabled) == (b.is_running, b.is_enabled) == (True, True)
    for url in ("tcp://0.0.0.0:80", "unix://myproject.sock", "tcp://0.0.0.0:5000"):
        assert fast.socket(url).is_listening == slow.socket(url).is_listening
    procs = [{(q.pid, q.ppid, q.user, q.args) for q in h.process.filter(comm="uwsgi")} for h in (fast, slow)]
    assert procs[0] == procs[1] and len(procs[0]) == 6
    a, b = fast.package("nginx"), slow.package("nginx")
    assert (a.is_installed, a.version) == (b.is_installed, b.version)
    a, b = fast.user(p.user), slow.user(p.user)
    assert (a.uid, a.gid, a.groups, a.home, a.shell) == (b.uid, b.gid, b.groups, b.home, b.shell)
    with fast.sudo("www-data"), slow.sudo("www-data"):
        assert fast.check_output("id") == slow.check_output("id")


@pytest.mark.guest
def test_a_call_costs_a_fraction_of_podman_exec(fast, slow):
    def median(host: testinfra.host.Host) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            host.run("true")
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    assert median(fast) < median(slow) / 4


@pytest.mark.guest
def test_transport_budget_still_kills_in_the_guest(rehearsed, container, tmp_path):
    guest = Guest(f"nsenter://{container}", tmp_path / "rehearsal.log")
    result = guest.run("sleep 60.17", timeout=1)
    assert result.timed_out and result.seconds < 10
    assert guest.run("pgrep -f 'sleep 60[.]17'").exit_code == 1  # nothing of it left


@pytest.mark.guest
def test_backend_bound_kills_the_session_in_the_guest(fast):
    start = time.monotonic()
    with pytest.raises(nsenter.ChannelTimeout, match="killed after 1 s"):
        fast.run("sleep 60.23 & sleep 60.29", timeout=1)
    assert time.monotonic() - start < 10
    assert fast.run("pgrep -f 'sleep 60[.]2'").rc == 1


@pytest.mark.guest
def test_the_driver_picks_nsenter_here(rehearsed, container, monkeypatch):
    monkeypatch.delenv(nsenter.ENV_CHANNEL, raising=False)
    assert rehearsed.driver.host_spec() == f"nsenter://{container}"  # root, util-linux, a running container
    assert rehearsed.driver.log.read_text().splitlines()[-1] == f"channel: nsenter://{container}"


def test_absent_container_falls_back_to_podman_exec(tmp_path, monkeypatch):
    monkeypatch.delenv(nsenter.ENV_CHANNEL, raising=False)
    driver = PodmanDriver(replace(BOOKWORM, name="absent-on-purpose"), tmp_path)
    assert driver.host_spec() == f"podman://{driver.container}"
    assert "nsenter unusable: no container" in driver.log.read_text()


# Host-free: the choice of channel and the backend's own arithmetic.


def test_fallback_when_nsenter_is_not_on_path(tmp_path, monkeypatch):
    monkeypatch.delenv(nsenter.ENV_CHANNEL, raising=False)
    driver = PodmanDriver(BOOKWORM, tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    assert driver.host_spec() == f"podman://{driver.container}"
    assert "nsenter unusable: nsenter not on PATH" in driver.log.read_text()


def test_fallback_when_not_root(tmp_path, monkeypatch):
    monkeypatch.delenv(nsenter.ENV_CHANNEL, raising=False)
    driver = PodmanDriver(BOOKWORM, tmp_path)
    monkeypatch.setattr(nsenter.os, "geteuid", lambda: 1000)
    assert driver.host_spec() == f"podman://{driver.container}"
    assert "nsenter unusable: not root" in driver.log.read_text()


def test_fallback_on_request(tmp_path, monkeypatch):
    driver = PodmanDriver(BOOKWORM, tmp_path)
    monkeypatch.setenv(nsenter.ENV_CHANNEL, "podman")
    assert driver.host_spec() == f"podman://{driver.container}"


def test_registered_with_testinfra_and_bounds_each_call():
    backend = testinfra.get_host("nsenter://any-name?timeout=7").backend
    assert isinstance(backend, nsenter.NsenterBackend) and backend.name == "any-name"
    assert backend.bound_for("ls") == 7
    # The transport's own budget (here 1200 s, 10 s grace) wins over a shorter default.
    assert backend.bound_for("timeout --kill-after=10 1200 sudo -H bash -c ls") == 1200 + 10 + nsenter.BOUND_SLACK
    assert testinfra.get_host("nsenter://other-name").backend.bound_for("ls") == nsenter.DEFAULT_BOUND


def test_root_only():
    with pytest.raises(DriverError, match="root only"):
        testinfra.get_host("nsenter://deploy@any-name")


def test_a_restarted_container_is_located_again(monkeypatch):
    """A reboot gives the guest a new init: the backend enters the new one, never a stale PID."""
    backend = testinfra.get_host("nsenter://restarting").backend
    inits = iter([111, 222])
    located = []

    def locate(name: str) -> nsenter.Container:
        pid = next(inits)
        located.append(pid)
        return nsenter.Container(name, pid, pid * 10, {}, "/", (), (), (), {})

    running = {111: 1110}
    monkeypatch.setattr(nsenter, "locate", locate)
    monkeypatch.setattr(nsenter, "start_time", lambda pid: running.get(pid))
    assert backend.container.pid == 111
    assert backend.container.pid == 111 and located == [111]  # alive: no second `podman inspect`
    running = {222: 2220}  # the old init is gone (or its PID reused by another process)
    monkeypatch.setattr(nsenter, "start_time", lambda pid: running.get(pid))
    assert backend.container.pid == 222 and located == [111, 222]
