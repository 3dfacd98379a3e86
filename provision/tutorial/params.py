"""The tutorial's placeholders (`user`, `/home/user`, `server_domain_or_IP`) as parameters."""

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from provision.errors import UsageError
from provision.layout import APP

# The page the tutorial's app returns; every "you should see" checkpoint compares against it.
PAGE = "<h1 style='color:blue'>Hello There!</h1>"

# A portable POSIX account name, as Debian's adduser accepts it by default (no --allow-bad-names).
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# Accounts every Debian/Ubuntu guest already has: the tutorial's `adduser` would fail on them, and
# the reader is a non-root user of their own.
SYSTEM_ACCOUNTS = frozenset(
    {
        "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
        "www-data", "backup", "list", "irc", "gnats", "nobody", "sshd", "messagebus", "syslog", "_apt",
        "systemd-network", "systemd-resolve", "systemd-timesync", "systemd-coredump",
    }
)  # fmt: skip
# One RFC 1123 label: letters, digits and hyphens, neither first nor last a hyphen, 1-63 chars.
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _shown(value: str) -> str:
    """`value` quoted on one line (newlines escaped), cut short if long."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _check_user(user: object) -> None:
    if not isinstance(user, str) or not _USER.fullmatch(user):
        shown = _shown(user) if isinstance(user, str) else type(user).__name__
        raise UsageError(
            f"user {shown} is not allowed: a POSIX account name is a lowercase letter or _, "
            "then at most 31 lowercase letters, digits, _ or -"
        )
    if user in SYSTEM_ACCOUNTS:
        raise UsageError(
            f"user {user!r} is not allowed: it is a system account every Debian/Ubuntu guest has; "
            "the tutorial's reader needs a non-root account of their own (e.g. deploy)"
        )


def _is_ip(value: str) -> bool:
    # The charset check first: ipaddress accepts an IPv6 scope id (`fe80::1%anything`) verbatim.
    if not re.fullmatch(r"[0-9A-Fa-f:.]+", value):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_hostname(value: str) -> bool:
    labels = value.split(".")
    # An all-digit last label would read as a (bad) IP address: RFC 1123 2.1 rules out `#.#.#.#`.
    return len(value) <= 253 and all(_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()


def _check_server_name(name: object) -> None:
    if isinstance(name, str) and ":" in name and _is_ip(name):
        # Unbracketed it would break every URL and Host header it goes into; bracketed, nginx's
        # server_name and Chromium's resolver rule would each want their own form. Refused, with why.
        raise UsageError(
            f"server_name {_shown(name)} is not allowed: an IPv6 address would need brackets in URLs and "
            "Host headers; give an IPv4 address or a DNS hostname"
        )
    if isinstance(name, str) and (_is_ip(name) or _is_hostname(name)):
        return
    shown = _shown(name) if isinstance(name, str) else type(name).__name__
    raise UsageError(
        f"server_name {shown} is not allowed: give an IPv4 address or a DNS hostname "
        "(dot-separated labels of letters, digits and inner hyphens, 1-63 chars each, 253 in all)"
    )


def _check_app(app: object) -> None:
    # Which files it must hold depends on the platform's plan: the CLI checks those.
    if not isinstance(app, Path) or not app.is_dir():
        raise UsageError(f"app {_shown(str(app))} is not a directory of the tutorial's files (like app/)")


@dataclass(frozen=True)
class Words:
    """Values for the tutorial's placeholders, filled into its commands and files. Unchecked: the
    tutorial's own words (`user`, `server_domain_or_IP`) are one such set; a rehearsal uses `Params`."""

    user: str
    server_name: str
    app: Path = APP  # the tutorial's files: app/, or the copy an author is trying out

    @property
    def home(self) -> str:
        return f"/home/{self.user}"

    @property
    def project(self) -> str:
        return f"{self.home}/myproject"

    def expand(self, text: str) -> str:
        """Fill `${user}`, `${home}` and `${server_name}` in `text`; `~` at a path's start too."""
        if text.startswith("~/"):
            text = self.home + text[1:]
        # No quoting needed: Params lets only [A-Za-z0-9_.:-] through, no shell or nginx metacharacter.
        # safe_substitute: shell variables such as $VIRTUAL_ENV pass through untouched.
        return Template(text).safe_substitute(user=self.user, home=self.home, server_name=self.server_name)

    def artifact(self, name: str) -> str:
        """An `app/` file with its placeholders filled."""
        return self.expand((self.app / name).read_text())


@dataclass(frozen=True)
class Params(Words):
    """The reader's values, checked on construction: they reach shell lines run as root in the
    guest and the nginx server block."""

    user: str = "deploy"
    # The tutorial's `server_domain_or_IP`. An IP, because both stock default sites stay enabled and
    # trusty's claims `server_name localhost`; the harness requests with `Host: <server_name>` (and
    # Chromium resolves the name to the loopback forward), so this block, not the default, answers.
    server_name: str = "127.0.0.1"

    def __post_init__(self) -> None:
        _check_user(self.user)
        _check_server_name(self.server_name)
        _check_app(self.app)
