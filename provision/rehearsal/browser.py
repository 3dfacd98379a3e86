"""Look at a page the way the tutorial's reader does: in a real (headless) Chromium.

Playwright drives the distribution's Chromium (`/usr/bin/chromium`), never a downloaded build:
the rehearsal must run where nothing can be fetched.

The page comes from a guest, so Chromium is treated as exposed to it:
- it reaches the server name and loopback only: Playwright's routing aborts every other request the page
  makes, and everything Chromium itself would send elsewhere (a redirect's target, which routing does
  not see, WebRTC) goes to a proxy on a closed loopback port instead, so it fails without leaving the host;
- under root it runs as `nobody`, with its own sandbox (unprivileged user namespaces), never as root
  with `--no-sandbox`; a local file it is shown is handed over as a copy in its profile.
"""

import ipaddress
import os
import pwd
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, ViewportSize, sync_playwright

from provision.guests import private

CHROMIUM_NAMES = ("chromium", "chromium-browser")
UNPRIVILEGED = "nobody"
CLOSED_PORT = 9  # discard: nothing listens on it here, so a proxied request is refused at once, on loopback

# A fresh profile that phones nowhere: the only traffic is the URL being looked at.
CHROMIUM_ARGS = (
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--dns-prefetch-disable",
    f"--proxy-server=http://127.0.0.1:{CLOSED_PORT}",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)

VIEWPORT: ViewportSize = {"width": 1024, "height": 600}
TIMEOUT_MS = 20_000


class ChromiumMissing(RuntimeError):
    """No Chromium executable on PATH."""


@dataclass
class Seen:
    """What the reader sees: the first <h1>'s text and computed colour, and the screenshot taken."""

    heading: str
    color: str  # as getComputedStyle reports it, e.g. "rgb(0, 0, 255)"
    screenshot: Path
    status: int | None = None  # HTTP status of the main response; None for file:// URLs
    blocked: list[str] = field(default_factory=list)  # requests to other hosts, aborted


def allowed_host(host: str, server_name: str | None) -> bool:
    """The server name, or loopback (by name or address): the only hosts a page may make Chromium ask."""
    if host in ("", "localhost") or (server_name is not None and host == server_name):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def proxy_bypass(server_name: str | None) -> str:
    """Chromium's bypass list: not its implicit one (which also lets link-local addresses, cloud metadata
    among them, go direct), only loopback and the server name."""
    return ";".join(["<-loopback>", "localhost", "127.0.0.1", "[::1]", *([server_name] if server_name else [])])


def find_chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


@contextmanager
def _launcher(executable: str, profile: Path) -> Iterator[str]:
    """What Playwright starts instead of Chromium: a script that drops root for `nobody` first."""
    if os.geteuid() != 0:
        yield executable
        return
    user = pwd.getpwnam(UNPRIVILEGED)
    for path in (profile, profile / "profile"):
        path.mkdir(exist_ok=True)
        os.chown(path, user.pw_uid, user.pw_gid)
    script = private.directory("chromium") / f"launch-{os.getpid()}-{profile.name}"
    fd = private.open_file(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w") as f:
        f.write(
            "#!/bin/sh\n"
            f"exec setpriv --reuid={user.pw_uid} --regid={user.pw_gid} --clear-groups -- "
            f'env HOME={shlex.quote(str(profile))} {shlex.quote(executable)} "$@"\n'
        )
    os.chmod(script, 0o700)
    try:
        yield str(script)
    finally:
        script.unlink(missing_ok=True)


@contextmanager
def open_page(
    url: str, resolve: tuple[str, str] | None = None, blocked: list[str] | None = None
) -> Iterator[tuple[Page, int | None]]:
    """A loaded page at `url` in a throwaway headless Chromium, with its HTTP status (None if not HTTP).

    `resolve` = (name, address) makes Chromium resolve `name` to `address`, so the page is asked
    for by the server name nginx expects while the traffic goes to the loopback forward. Requests to any
    host but that name and loopback are aborted, and listed in `blocked`."""
    executable = find_chromium()
    if executable is None:
        raise ChromiumMissing("chromium not found on PATH: install the Debian package `chromium`")
    name = resolve[0] if resolve else urlsplit(url).hostname
    refused = [] if blocked is None else blocked

    def route(r: Route) -> None:
        if allowed_host(urlsplit(r.request.url).hostname or "", name):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort("blockedbyclient")

    with tempfile.TemporaryDirectory(prefix="rehearsal-chromium-") as tmp, sync_playwright() as pw:
        profile = Path(tmp)
        if url.startswith("file:"):  # `nobody` may not read the caller's directories
            page_copy = profile / "page" / Path(urlsplit(url).path).name
            page_copy.parent.mkdir()
            shutil.copyfile(urlsplit(url).path, page_copy)
            url = page_copy.as_uri()
        with _launcher(executable, profile) as launch:
            context = pw.chromium.launch_persistent_context(
                profile / "profile",
                executable_path=launch,
                headless=True,
                chromium_sandbox=True,
                args=[
                    *CHROMIUM_ARGS,
                    f"--proxy-bypass-list={proxy_bypass(name)}",
                    *([f"--host-resolver-rules=MAP {resolve[0]} {resolve[1]}"] if resolve else []),
                ],
                viewport=VIEWPORT,
                timeout=TIMEOUT_MS,
                service_workers="block",
            )
            try:
                context.set_default_timeout(TIMEOUT_MS)
                context.route("**/*", route)
                # A persistent context opens with one blank tab; reuse it rather than leave it behind.
                page = context.pages[0] if context.pages else context.new_page()
                response = page.goto(url, wait_until="load")
                yield page, response.status if response is not None and url.startswith("http") else None
            finally:
                context.close()


def look(url: str, screenshot: Path, resolve: tuple[str, str] | None = None) -> Seen:
    """Open `url`, save a full-page PNG to `screenshot`, and read the first <h1> as rendered."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    blocked: list[str] = []
    with open_page(url, resolve, blocked) as (page, status):
        # Screenshot first: when the heading is missing (a 502 page, say) the picture is the evidence.
        page.screenshot(path=str(screenshot), full_page=True)
        h1 = page.locator("h1")
        if h1.count() == 0:
            return Seen(heading="", color="", screenshot=screenshot, status=status, blocked=blocked)
        heading = h1.first.inner_text().strip()
        color = h1.first.evaluate("el => getComputedStyle(el).color")
    return Seen(heading=heading, color=color, screenshot=screenshot, status=status, blocked=blocked)
