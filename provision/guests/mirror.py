"""Mirror/proxy setup: what the host uses to reach Debian's archive and PyPI, discovered at run time.

Hosts behind a mirror or an intercepting proxy carry apt sources, apt settings and extra CA
certificates that a fresh guest lacks; the guest gets copies, so its apt and pip work the same way.
"""

import os
import re
from pathlib import Path

APT = Path(os.environ.get("REHEARSE_APT_DIR", "/etc/apt"))
# Debian's place for locally added CA certificates (update-ca-certificates reads it).
LOCAL_CA = Path(os.environ.get("REHEARSE_CA_DIR", "/usr/local/share/ca-certificates"))
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def apt_sources() -> list[Path]:
    """The host's apt source files (deb822 `.sources` and one-line `.list`), non-empty only."""
    listed = APT / "sources.list.d"
    found = [APT / "sources.list", *sorted(listed.glob("*.sources")), *sorted(listed.glob("*.list"))]
    return [p for p in found if p.is_file() and p.read_text().strip()]


def apt_settings() -> list[Path]:
    """apt.conf.d files that change how the archive is reached (proxies, snapshot date checks)."""
    conf = APT / "apt.conf.d"
    return sorted(p for p in conf.glob("*") if p.is_file() and re.search(r"Acquire::", p.read_text()))


def ca_certificates() -> list[Path]:
    return sorted(LOCAL_CA.rglob("*.crt")) if LOCAL_CA.is_dir() else []


def debian_mirror(suite: str) -> str:
    """The archive URI the host's sources use for `suite` (what debootstrap should fetch from)."""
    for path in apt_sources():
        text = path.read_text()
        for stanza in re.split(r"\n\s*\n", text):  # deb822: blank-line separated stanzas
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and suite in suites.group(1).split():
                return uris.group(1)
        for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", text, re.M):  # one-line format
            if m.group(2) == suite:
                return m.group(1)
    return DEFAULT_MIRROR
