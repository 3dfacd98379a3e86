"""The runc:// channel: podman exec's answers and privileges, faster, and podman:// wherever it cannot be used."""

import os
import re
import subprocess
import time
from dataclasses import replace

import pytest
import testinfra

from provision import platforms
from provision.errors import DriverError
from provision.guests import runc
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
    "capabilities, seccomp mode and no-new-privileges": "grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status",
    "sudo, and the audit socket podman's seccomp refuses": "sudo -u nobody true && sudo true && "
    "python3 -c 'import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)'",
    "ulimits": "cat /proc/self/limits",
    "a session of its own": "test $(ps -o sid= -p $$) -eq $$ && echo session leader",
    "stdin is empty and cannot be written": "cat; echo x >&0",
    "killed by a signal": "kill -KILL $$",
    "unknown command": "no-such-command",
    "non-ASCII and more than a pipe buffer": "printf 'caf\\303\\251\\n'; head -c 300000 /dev/zero | tr '\\0' x",
}

# System calls that need no capability and that podman's seccomp profile refuses: each is tried with
# arguments that would otherwise fail in a way of its own, and the errno is printed.
SYSCALLS = """
import ctypes, os, platform
nr = {"x86_64": {"io_uring_setup": 425, "io_uring_enter": 426, "add_key": 248, "request_key": 249,
                 "userfaultfd": 323, "vmsplice": 278, "move_pages": 279, "keyctl": 250},
      "aarch64": {"io_uring_setup": 425, "io_uring_enter": 426, "add_key": 217, "request_key": 218,
                  "userfaultfd": 282, "vmsplice": 75, "move_pages": 239, "keyctl": 219}}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
for name, number in sorted(nr.items()):
    ctypes.set_errno(0)
    rc = libc.syscall(number, 0, 0, 0, 0, 0)
    print(name, rc, os.strerror(ctypes.get_errno()) if rc < 0 else "allowed")
"""


@pytest.fixture(scope="module")
def container(rehearsed) -> str:
    if not isinstance(rehearsed.driver, PodmanDriver):
        pytest.fail(f"runc:// is the podman stand-in's channel; deselect {__name__} for this target", pytrace=False)
    return rehearsed.driver.container


@pytest.fixture(scope="module")
def fast(container) -> testinfra.host.Host:
    return testinfra.get_host(f"runc://{container}")


@pytest.fixture(scope="module")
def slow(container) -> testinfra.host.Host:
    return testinfra.get_host(f"podman://{container}")


@pytest.mark.guest
@pytest.mark.parametrize("command", SAME.values(), ids=SAME.keys())
def test_same_answer_as_podman_exec(fast, slow, command):
    a, b = fast.run(command), slow.run(command)
    assert (a.rc, a.stdout, a.stderr) == (b.rc, b.stdout, b.stderr)


@pytest.mark.guest
def test_the_seccomp_profile_is_podmans_own(fast, slow):
    """Not one rule of it: every syscall the profile refuses is refused alike, with the same errno."""
    a, b = fast.check_output("python3 -c %s", SYSCALLS), slow.check_output("python3 -c %s", SYSCALLS)
    assert a == b
    assert "allowed" not in a, a  # the profile refuses each of them: the comparison compares refusals


@pytest.mark.guest
def test_no_guest_binary_runs_with_more_privilege_than_podman_exec_gives(fast, slow):
    """Guest root plants a `setpriv` first on root's PATH and a preload library for every dynamic binary,
    each recording the capability bounding set it runs with; a call through the channel runs neither, or
    runs it with podman exec's bounding set (or less), never the host's full set."""
    record = "/run/rehearse-canary.log"
    library = r"""
#include <stdio.h>
#include <string.h>
__attribute__((constructor)) static void canary(void) {
    char line[256];
    FILE *in = fopen("/proc/self/status", "r"), *out = fopen("/run/rehearse-canary.log", "a");
    while (in && out && fgets(line, sizeof line, in))
        if (!strncmp(line, "CapBnd:", 7)) fprintf(out, "preload %s", line + 7);
    if (in) fclose(in);
    if (out) fclose(out);
}
"""
    script = f"#!/bin/sh\nsed -n 's/^CapBnd:/setpriv/p' /proc/self/status >> {record}\nexec /usr/bin/setpriv \"$@\"\n"
    bounding = int(slow.check_output("sed -n 's/^CapBnd:\\s*//p' /proc/self/status"), 16)
    try:
        slow.check_output("printf %%s %s > /tmp/canary.c", library)
        slow.check_output("gcc -shared -fPIC -o /usr/local/lib/canary.so /tmp/canary.c")
        slow.check_output("printf %%s %s > /usr/local/sbin/setpriv && chmod 755 /usr/local/sbin/setpriv", script)
        slow.check_output(f"rm -f {record}; echo /usr/local/lib/canary.so > /etc/ld.so.preload")
        assert fast.run("true; setpriv --version >/dev/null").rc == 0
    finally:
        slow.run("rm -f /etc/ld.so.preload /usr/local/sbin/setpriv /usr/local/lib/canary.so /tmp/canary.c")
    lines = slow.check_output(f"cat {record}; rm -f {record}").splitlines()
    assert any(line.startswith("preload") for line in lines)  # the canary did run, in the channel's process
    for line in lines:
        who, mask = line.split()
        assert int(mask, 16) & ~bounding == 0, f"{who} ran with bounding set {mask}, beyond podman exec's {bounding:x}"


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
def test_transport_budget_still_kills_in_the_guest(rehearsed, container, tmp_path):
    guest = Guest(f"runc://{container}", tmp_path / "rehearsal.log")
    result = guest.run("sleep 60.17", timeout=1)
    assert result.timed_out and result.seconds < 10
    assert guest.run("pgrep -f 'sleep 60[.]17'").exit_code == 1  # nothing of it left


@pytest.mark.guest
def test_backend_bound_kills_the_process_group_in_the_guest(fast):
    start = time.monotonic()
    with pytest.raises(runc.ChannelTimeout, match="killed after 1 s"):
        fast.run("sleep 60.23 & sleep 60.29", timeout=1)
    assert time.monotonic() - start < 10
    assert fast.run("pgrep -f 'sleep 60[.]2'").rc == 1
    assert not list(runc.private.directory("runc").glob(f"{os.getpid()}-*.pid"))  # they go with their calls


@pytest.mark.guest
def test_the_driver_picks_runc_here(rehearsed, container, monkeypatch):
    monkeypatch.delenv(runc.ENV_CHANNEL, raising=False)
    assert rehearsed.driver.host_spec() == f"runc://{container}"  # root, a running container under runc
    assert rehearsed.driver.log.read_text().splitlines()[-1] == f"channel: runc://{container}"


@pytest.mark.guest
def test_a_restarted_or_removed_container_is_never_mistaken(fresh_guest):
    """The channel names the container to runc by its ID: after a restart (a new init, whose old PID any
    process may reuse) it reaches the new one; once the container is gone, a call fails saying so."""
    host = testinfra.get_host(f"runc://{fresh_guest.container}")
    before = host.check_output("stat -c %Z /proc/1")
    fresh_guest.reboot()
    assert host.check_output("cat /proc/1/comm") == "systemd" and host.check_output("stat -c %Z /proc/1") != before
    subprocess.run(["podman", "rm", "--force", "--time", "0", fresh_guest.container], capture_output=True, check=True)
    with pytest.raises(DriverError, match="no container"):
        host.run("true")


def test_absent_container_falls_back_to_podman_exec(tmp_path, monkeypatch):
    monkeypatch.delenv(runc.ENV_CHANNEL, raising=False)
    driver = PodmanDriver(replace(BOOKWORM, name="absent-on-purpose"), tmp_path)
    assert driver.host_spec() == f"podman://{driver.container}"
    assert "runc unusable: no container" in driver.log.read_text()


# Host-free: the choice of channel and the backend's own arithmetic.


def test_fallback_when_not_root(tmp_path, monkeypatch):
    monkeypatch.delenv(runc.ENV_CHANNEL, raising=False)
    driver = PodmanDriver(BOOKWORM, tmp_path)
    monkeypatch.setattr(runc.os, "geteuid", lambda: 1000)
    assert driver.host_spec() == f"podman://{driver.container}"
    assert "runc unusable: not root" in driver.log.read_text()


def test_fallback_on_request(tmp_path, monkeypatch):
    driver = PodmanDriver(BOOKWORM, tmp_path)
    monkeypatch.setenv(runc.ENV_CHANNEL, "podman")
    assert driver.host_spec() == f"podman://{driver.container}"


def test_registered_with_testinfra_and_bounds_each_call():
    backend = testinfra.get_host("runc://any-name?timeout=7").backend
    assert isinstance(backend, runc.RuncBackend) and backend.name == "any-name"
    assert backend.bound_for("ls") == 7
    # The transport's own budget (here 1200 s, 10 s grace) wins over a shorter default.
    assert backend.bound_for("timeout --kill-after=10 1200 sudo -H bash -c ls") == 1200 + 10 + runc.BOUND_SLACK
    assert testinfra.get_host("runc://other-name").backend.bound_for("ls") == runc.DEFAULT_BOUND


def test_root_only():
    with pytest.raises(DriverError, match="root only"):
        testinfra.get_host("runc://deploy@any-name")


CONMON = ["/usr/bin/conmon", "--api-version", "1", "-c", "abc", "-r", "/usr/bin/runc", "-b", "/b"]


@pytest.mark.parametrize(
    ("extra", "root"),
    [
        ([], runc.RUNC_ROOT),  # podman passed none: runc's own default
        (["--runtime-arg", "--root", "--runtime-arg", "/run/elsewhere"], "/run/elsewhere"),
        (["--runtime-arg", "--root=/run/other"], "/run/other"),
        (["--runtime-arg=--root=/run/third"], "/run/third"),
        (["--runtime-arg", "--log-format=json", "--runtime-arg", "--log", "--runtime-arg=/x/oci-log"], runc.RUNC_ROOT),
    ],
)
def test_the_runtime_and_its_state_are_podmans_own(extra, root):
    assert runc.runtime_of([*CONMON, *extra, "--exit-dir", "/x", ""]) == ("/usr/bin/runc", root)


def test_runc_is_told_the_container_id_and_the_process_never_a_pid():
    container = runc.Container("c", "f00d" * 16, "/usr/bin/runc", "/run/runc", {"cwd": "/", "env": ["A=1"]})
    argv = container.argv(5, runc.Path("/run/rehearse/runc/1-0.pid"))
    assert argv == [
        "/usr/bin/runc", "--root", "/run/runc", "exec", "--process", "/proc/self/fd/5",
        "--pid-file", "/run/rehearse/runc/1-0.pid", "f00d" * 16,
    ]  # fmt: skip
    assert re.fullmatch(rb'\{"cwd": "/", "env": \["A=1"\], "args": \["/bin/sh", "-c", "id"\]\}',
                        container.spec(["/bin/sh", "-c", "id"]))  # fmt: skip
