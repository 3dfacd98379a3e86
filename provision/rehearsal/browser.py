"""Look at a page the way the tutorial's reader does: in a real (headless) Chromium.

Playwright drives the distribution's Chromium (`/usr/bin/chromium`), never a downloaded build:
the rehearsal must run where nothing can be fetched.
"""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, sync_playwright

CHROMIUM_NAMES = ("chromium", "chromium-browser")

# A fresh profile that phones nowhere: the only traffic is the URL being looked at.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",  # root in a container has no user namespaces for the sandbox
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
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


def find_chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


@contextmanager
def open_page(url: str, resolve: tuple[str, str] | None = None) -> Iterator[tuple[Page, int | None]]:
    """A loaded page at `url` in a throwaway headless Chromium, with its HTTP status (None if not HTTP).

    `resolve` = (name, address) makes Chromium resolve `name` to `address`, so the page is asked
    for by the server name nginx expects while the traffic goes to the loopback forward."""
    executable = find_chromium()
    if executable is None:
        raise ChromiumMissing("chromium not found on PATH: install the Debian package `chromium`")
    with tempfile.TemporaryDirectory(prefix="rehearsal-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=[*CHROMIUM_ARGS, *([f"--host-resolver-rules=MAP {resolve[0]} {resolve[1]}"] if resolve else [])],
            viewport=VIEWPORT,
            timeout=TIMEOUT_MS,
        )
        try:
            context.set_default_timeout(TIMEOUT_MS)
            # A persistent context opens with one blank tab; reuse it rather than leave it behind.
            page = context.pages[0] if context.pages else context.new_page()
            response = page.goto(url, wait_until="load")
            yield page, response.status if response is not None and url.startswith("http") else None
        finally:
            context.close()


def look(url: str, screenshot: Path, resolve: tuple[str, str] | None = None) -> Seen:
    """Open `url`, save a full-page PNG to `screenshot`, and read the first <h1> as rendered."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with open_page(url, resolve) as (page, status):
        # Screenshot first: when the heading is missing (a 502 page, say) the picture is the evidence.
        page.screenshot(path=str(screenshot), full_page=True)
        h1 = page.locator("h1")
        if h1.count() == 0:
            return Seen(heading="", color="", screenshot=screenshot, status=status)
        heading = h1.first.inner_text().strip()
        color = h1.first.evaluate("el => getComputedStyle(el).color")
    return Seen(heading=heading, color=color, screenshot=screenshot, status=status)
