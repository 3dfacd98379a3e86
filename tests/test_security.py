"""The security model (README, *Security model*): no local user steers root's writes, a guest's cache files
give nobody on the host anything, Chromium reaches the server name and loopback only and runs unprivileged,
and a guest's text reaches the operator's terminal without its control sequences.

The channel's own guarantees (podman exec's privileges and seccomp profile) are in test_channel.py.
"""

import hashlib
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

import pytest
from loopback_server import serving
from playwright.sync_api import Error as PlaywrightError

from provision import cli, platforms
from provision.guests import private
from provision.guests.image import ImageRecipe
from provision.guests.lock import checkout_id, exclusive
from provision.guests.podman import CACHES, PIP_CACHE, PodmanDriver
from provision.guests.transport import Guest
from provision.printable import printable
from provision.rehearsal.browser import allowed_host, find_chromium, look, open_page

needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="no chromium on PATH (Debian package `chromium`): cannot look at pages"
)
NOBODY = 65534


@pytest.fixture
def runtime(tmp_path, monkeypatch) -> Path:
    """A private base directory of the test's own, as $XDG_RUNTIME_DIR is a user's."""
    base = tmp_path / "run"
    base.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(base))
    return base


def up_refused(tmp_path, capsys) -> str:
    """`rehearse up` ends at once with one line and exit 2; the line."""
    assert cli.main(["up", "--target", "podman", "--platform", "bookworm", "--workdir", str(tmp_path / "w")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    return line


# Locks: a private directory, checked; files opened without following a symlink.


def test_a_lock_directory_planted_by_another_user_is_refused(runtime, tmp_path, capsys):
    planted = runtime / "rehearse"
    planted.mkdir(mode=0o777)
    os.chown(planted, NOBODY, NOBODY)
    line = up_refused(tmp_path, capsys)
    assert line.startswith("rehearse: error: ") and f"{planted} belongs to uid {NOBODY}" in line
    assert list(planted.iterdir()) == []  # root wrote nothing into it


def test_a_symlink_planted_at_the_lock_file_is_refused_and_its_target_unchanged(runtime, tmp_path, capsys):
    canary = tmp_path / "canary"
    canary.write_text("root's own file\n")
    canary.chmod(0o600)
    locks = private.directory("locks")
    name = f"{checkout_id()}-{hashlib.sha256(b'podman-bookworm').hexdigest()[:12]}.lock"
    (locks / name).symlink_to(canary)
    line = up_refused(tmp_path, capsys)
    assert f"{locks / name} cannot be opened safely" in line
    assert canary.read_text() == "root's own file\n" and stat.S_IMODE(canary.stat().st_mode) == 0o600


def test_a_lock_directory_that_others_may_write_to_is_refused(runtime, tmp_path, capsys):
    (runtime / "rehearse").mkdir(mode=0o700)
    (runtime / "rehearse").chmod(0o1777)  # as /tmp is
    assert "has mode 1777, not 0700" in up_refused(tmp_path, capsys)


def test_a_world_writable_base_is_refused(tmp_path, monkeypatch, capsys):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    assert "is not a directory only this user or root can write to" in up_refused(tmp_path, capsys)
    assert not (shared / "rehearse").exists()


def test_the_lock_is_made_private_and_taken_once(runtime):
    with exclusive("podman-bookworm") as path:
        assert path.parent == runtime / "rehearse" / "locks"
        for directory in (runtime / "rehearse", path.parent):
            st = directory.lstat()
            assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


# Caches: root's alone on the host, never 1777, mounted nosuid,nodev,noexec, wiped by --purge.


@pytest.mark.guest
def test_a_setuid_file_a_guest_leaves_in_a_cache_gives_nobody_anything(rehearsed, tmp_path):
    if not isinstance(rehearsed.driver, PodmanDriver):
        pytest.skip("the caches are the podman driver's")  # vagrant and ssh guests keep no host cache
    if not rehearsed.report.caches:
        pytest.fail("the session guest was made without caches: `rehearse destroy`, then run again")
    driver, guest = rehearsed.driver, Guest(rehearsed.driver.host_spec(), tmp_path / "log")
    planted = f"{PIP_CACHE}/rehearse-suid-probe"
    on_host = driver.cache_root / "pip" / "rehearse-suid-probe"
    try:
        # guest root leaves a setuid-root copy of `id`
        assert guest.run(f"cp /usr/bin/id {planted} && chmod 4755 {planted} && ls -l {planted}").exit_code == 0
        assert stat.S_IMODE(on_host.stat().st_mode) == 0o4755 and on_host.stat().st_uid == 0
        # in the guest: the reader cannot even run it (noexec), let alone as root
        ran = guest.run(f"{planted} -u", user=rehearsed.params.user)
        assert ran.exit_code != 0 and "Permission denied" in ran.output
        # on the host: no other user reaches it through the root-only cache directory
        # (runuser, not setpriv: setpriv's own exec still has root's capabilities for the path's lookup)
        nobody = ["runuser", "-u", "nobody", "--", str(on_host), "-u"]
        as_nobody = subprocess.run(nobody, capture_output=True, text=True, check=False)
        assert as_nobody.returncode != 0 and "Permission denied" in as_nobody.stderr
    finally:
        guest.run(f"rm -f {planted}")
    options = guest.run(f"findmnt -no OPTIONS {PIP_CACHE}; findmnt -no OPTIONS /var/cache/apt/archives").output
    for line in options.splitlines():
        assert {"nosuid", "nodev", "noexec"} <= set(line.split(","))
    root = driver.cache_root.lstat()
    assert root.st_uid == 0 and stat.S_IMODE(root.st_mode) == 0o700
    for cache in CACHES:
        st = (driver.cache_root / cache.host).stat()
        assert st.st_uid == cache.owner and not st.st_mode & 0o022  # never 1777


def test_destroy_purge_wipes_the_platforms_caches(tmp_path, monkeypatch):
    """On a scratch platform whose image was never built (so --purge removes no image anyone uses)."""
    bookworm = platforms.get("bookworm")
    recipe = ImageRecipe(bookworm.image.suite, (*bookworm.image.include, "hello"))
    scratch = replace(bookworm, name="bookworm-purge", image=recipe)
    monkeypatch.setattr(platforms, "PLATFORMS", MappingProxyType({**platforms.PLATFORMS, scratch.name: scratch}))
    workdir = tmp_path / ".rehearse"
    planted = workdir / "cache" / scratch.name / "pip" / "wheels" / "left-by-a-guest.whl"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"PK")
    args = ["--target", "podman", "--platform", scratch.name, "--workdir", str(workdir)]
    assert cli.main(["destroy", "--purge", *args]) == 0
    assert not (workdir / "cache" / scratch.name).exists()


# Chromium: the server name and loopback only; unprivileged, sandboxed.


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("site.test", True),  # the server name
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("[::1]", True),
        ("localhost", True),
        ("", True),  # file:, data:
        ("outside.localhost", False),  # Chromium would take it to loopback itself: not a name we allow
        ("169.254.169.254", False),  # cloud metadata
        ("10.0.0.1", False),
        ("example.com", False),
        ("site.test.evil", False),
    ],
)
def test_which_hosts_a_page_may_reach(host, allowed):
    assert allowed_host(host, "site.test") is allowed


class Recorder(BaseHTTPRequestHandler):
    """Records every request; serves a page that reaches for another host, and a redirect to one."""

    seen: list[str]
    outside: str

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", f"{self.outside}/followed")
            self.end_headers()
            return
        body = (
            f"<h1>page</h1><img src='{self.outside}/img.png'><script>fetch('{self.outside}/fetch')</script>"
            f"<iframe src='{self.outside}/frame'></iframe>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[tuple[str, list[str], list[str]]]:
    """A page server and an "outside" one, both on loopback (no traffic ever leaves this host): the
    outside one is named `outside.localhost`, which Chromium would resolve to loopback by itself."""
    page_seen: list[str] = []
    outside_seen: list[str] = []
    with serving(type("Outside", (Recorder,), {"seen": outside_seen, "outside": ""})) as outside:
        outside_url = f"http://outside.localhost:{urlsplit(outside).port}"
        with serving(type("Page", (Recorder,), {"seen": page_seen, "outside": outside_url})) as page:
            yield f"http://site.test:{urlsplit(page).port}", page_seen, outside_seen


@needs_chromium
def test_a_page_gets_no_request_through_to_another_host(servers, tmp_path):
    url, page_seen, outside_seen = servers
    seen = look(f"{url}/", tmp_path / "page.png", ("site.test", "127.0.0.1"))
    assert seen.heading == "page" and page_seen == ["/"]
    assert outside_seen == []
    assert {u.rsplit("/", 1)[1] for u in seen.blocked} >= {"img.png", "frame"}  # and each aborted is listed


@needs_chromium
def test_a_redirect_to_another_host_is_not_followed_out(servers, tmp_path):
    url, page_seen, outside_seen = servers
    with pytest.raises(PlaywrightError), open_page(f"{url}/redirect", ("site.test", "127.0.0.1")):
        pass
    assert page_seen == ["/redirect"] and outside_seen == []


@needs_chromium
@pytest.mark.skipif(os.geteuid() != 0, reason="Chromium drops to nobody only when the harness runs as root")
def test_chromium_runs_as_nobody_with_its_sandbox(servers):
    url, _, _ = servers
    with open_page(f"{url}/", ("site.test", "127.0.0.1")):
        procs = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and "chromium" in (proc / "exe").readlink().name:
                    status, userns = (proc / "status").read_text(), os.readlink(proc / "ns" / "user")
                    procs.append((status, userns, (proc / "cmdline").read_bytes()))
            except OSError:
                continue
    assert procs
    uids = {int(line.split()[2]) for status, _, _ in procs for line in status.splitlines() if line.startswith("Uid:")}
    assert uids == {NOBODY}  # every process, effective uid included
    host_userns = os.readlink("/proc/self/ns/user")
    renderers = [userns for _, userns, cmdline in procs if b"--type=renderer" in cmdline]
    assert renderers and host_userns not in renderers  # each in a user namespace of its own: the sandbox
    assert not any(b"--no-sandbox" in cmdline for _, _, cmdline in procs)


# A guest's text on the operator's terminal.

HOSTILE_OUTPUT = "before\x1b[2J\x1b]0;owned\x07\x1b[1Aafter\u202ereversed\r\n"


def test_control_sequences_are_shown_not_obeyed():
    assert printable(HOSTILE_OUTPUT) == "before\\x1b[2J\\x1b]0;owned\\x07\\x1b[1Aafter\\u202ereversed\n"
    assert printable("tab\tand\nnewline, café") == "tab\tand\nnewline, café"


@pytest.mark.guest
def test_a_guests_escape_sequences_never_reach_the_terminal(rehearsed, tmp_path):
    guest = Guest(rehearsed.driver.host_spec(), tmp_path / "log")
    result = guest.run("printf 'before\\033[2J\\033]0;owned\\007\\033[1Aafter\\342\\200\\256reversed\\r\\n'; exit 3")
    assert result.exit_code == 3
    assert result.output == printable(HOSTILE_OUTPUT)
    assert "\x1b" not in (tmp_path / "log").read_text()


@pytest.mark.guest
def test_the_tests_ask_the_guest_directly_whatever_proxy_the_environment_names(rehearsed, loopback, monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # a proxy that refuses: going through it would fail
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    r = loopback.get(rehearsed.driver.http_url(), headers={"Host": rehearsed.params.server_name}, timeout=10)
    assert r.status_code == 200
