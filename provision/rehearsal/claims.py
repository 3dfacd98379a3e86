"""Checking the tutorial's claims: in the guest (a probe's exit and output) or in a browser on the host."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Error as PlaywrightError

from provision.guests.transport import Shell
from provision.rehearsal import browser
from provision.reports.decisive import decisive_lines, expected_vs_got
from provision.reports.record import ClaimResult
from provision.tutorial.params import Params
from provision.tutorial.steps import BrowserClaim, Claim, Step

Look = Callable[[str, Path, tuple[str, str]], browser.Seen]


@dataclass
class Context:
    """What checking a claim needs besides the claim: the guest, the reader's values, the page's address."""

    guest: Shell
    params: Params
    http_url: str = ""  # the guest's port 80 on host loopback; the browser claim opens it
    screenshot: Path | None = None  # where the browser claim saves what it saw
    look: Look = field(default=browser.look)
    timeouts: Mapping[str, float] = field(default_factory=dict)  # step id (or "*" for all) -> seconds
    serve_wait: float = 30.0  # seconds a foreground server gets to answer before its claim fails
    # told each step command as it starts, with how to peek at its output so far
    watch: Callable[[str, Callable[[], str]], None] = field(default=lambda command, peek: None)

    def budget(self, step: Step) -> float:
        """Seconds each of `step`'s commands may run: the command line's override, else the step's own."""
        return self.timeouts.get(step.id, self.timeouts.get("*", step.budget))


def check_in_guest(ctx: Context, claim: Claim, step: Step) -> ClaimResult:
    r = ctx.guest.run(ctx.params.expand(claim.probe), user=ctx.params.user, prelude=step.shell.prelude())
    expect = ctx.params.expand(claim.expect) if claim.expect is not None else None
    if r.exit_code == 0 and (expect is None or r.output == expect):
        return ClaimResult(claim.id, claim.text, True)
    # A probe that failed: the line that says why (a traceback's last), not the traceback's first 300 chars.
    got = r.output.strip() if r.exit_code == 0 else "".join(decisive_lines(r.output, limit=1))
    detail = f"exit {r.exit_code}, got {got[:300]!r}"
    if expect is not None:
        detail += f", expected {expect!r}"
    # A diff only for an answer: a probe that failed says why in `detail`, it has no text to compare.
    diff = expected_vs_got(expect, r.output) if expect is not None and r.exit_code == 0 else ""
    return ClaimResult(claim.id, claim.text, False, detail, diff)


def check_in_browser(ctx: Context, claim: BrowserClaim) -> ClaimResult:
    """Open the server's address in headless Chromium as the reader does; the name resolves to the
    loopback forward, so nginx sees the Host it was configured for."""
    if not ctx.http_url or ctx.screenshot is None:
        return ClaimResult(claim.id, claim.text, False, "no address of the guest's port 80 to open")
    name = ctx.params.server_name
    try:
        seen = ctx.look(f"http://{name}:{urlsplit(ctx.http_url).port}/", ctx.screenshot, (name, "127.0.0.1"))
    except (PlaywrightError, browser.ChromiumMissing) as e:  # the page never loaded, or nothing to load it in
        return ClaimResult(claim.id, claim.text, False, str(e).splitlines()[0])
    passed = (seen.status, seen.heading, seen.color) == (200, claim.heading, claim.color)
    return ClaimResult(claim.id, claim.text, passed, f"HTTP {seen.status}, heading {seen.heading!r} in {seen.color}")


def check(ctx: Context, claim: Claim | BrowserClaim, step: Step) -> ClaimResult:
    if isinstance(claim, BrowserClaim):
        return check_in_browser(ctx, claim)
    return check_in_guest(ctx, claim, step)
