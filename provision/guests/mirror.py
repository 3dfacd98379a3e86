"""Mirror/proxy setup: what the host uses to reach Debian's archive and PyPI, discovered at run time.

Hosts behind a mirror or an intercepting proxy carry apt sources, apt settings and extra CA
certificates that a fresh guest lacks; the guest gets copies, so its apt and pip work the same way.
Of the sources, only those the guest can use: Debian's archive (or a mirror of it) for the guest's
own suite, with the keyrings they name. A third-party repository, a PPA or another release would
break the guest's apt.
"""

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

APT = Path(os.environ.get("REHEARSE_APT_DIR", "/etc/apt"))
# Debian's place for locally added CA certificates (update-ca-certificates reads it).
LOCAL_CA = Path(os.environ.get("REHEARSE_CA_DIR", "/usr/local/share/ca-certificates"))
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# The archive areas of Debian's own archive; a source with any other component is not Debian's.
DEBIAN_COMPONENTS = frozenset({"main", "contrib", "non-free", "non-free-firmware"})
# Where a source's `Signed-By` keyring may live to be copied into the guest (same path there).
KEYRING_DIRS = (PurePosixPath("/usr/share/keyrings"), PurePosixPath("/etc/apt/keyrings"))


@dataclass(frozen=True)
class GuestSources:
    """The host's apt sources a guest of one suite can use."""

    files: dict[str, str]  # path under the apt directory (e.g. "sources.list.d/debian.sources") -> text
    keyrings: tuple[PurePosixPath, ...]  # host keyrings the kept sources name; the same path in the guest

    def stage(self, directory: Path) -> list[tuple[Path, str]]:
        """Write the files under `directory` (emptied first); (local file, its path under the guest's
        /etc/apt) for each, to copy into the guest."""
        shutil.rmtree(directory, ignore_errors=True)
        staged = []
        for rel, text in self.files.items():
            local = directory / rel
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(text)
            staged.append((local, rel))
        return staged


@dataclass(frozen=True)
class _Source:
    """One deb822 stanza or one-line entry, as far as the filter needs it."""

    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: tuple[str, ...]  # keyring paths, fingerprints or (deb822) an inline key, split on , and space


def apt_sources(apt: Path | None = None) -> list[Path]:
    """The host's apt source files (deb822 `.sources` and one-line `.list`), non-empty only."""
    apt = APT if apt is None else apt
    listed = apt / "sources.list.d"
    found = [apt / "sources.list", *sorted(listed.glob("*.sources")), *sorted(listed.glob("*.list"))]
    return [p for p in found if p.is_file() and p.read_text().strip()]


def apt_settings() -> list[Path]:
    """apt.conf.d files that change how the archive is reached (proxies, snapshot date checks)."""
    conf = APT / "apt.conf.d"
    return sorted(p for p in conf.glob("*") if p.is_file() and re.search(r"Acquire::", p.read_text()))


def ca_certificates() -> list[Path]:
    return sorted(LOCAL_CA.rglob("*.crt")) if LOCAL_CA.is_dir() else []


def _in_suite(name: str, suite: str) -> bool:
    """`name` is `suite` itself or one of its archives (`bookworm-updates`, `-security`, `-backports`)."""
    return name == suite or name.startswith((f"{suite}-", f"{suite}/"))


def _keyring(value: str) -> PurePosixPath | None:
    """`value` as a keyring path the guest can be given, else None (a fingerprint, an inline key)."""
    path = PurePosixPath(value)
    if not value.startswith("/") or ".." in path.parts:
        return None
    return path if any(d in path.parents for d in KEYRING_DIRS) else None


def _usable(source: _Source, suite: str) -> bool:
    """Debian's archive (or a mirror) over http(s), Debian's components only, the guest's suite."""
    keys_ok = all(_keyring(v) is not None for v in source.signed_by if v.startswith("/"))
    return (
        bool(source.uris and source.suites and source.components)
        and all(re.match(r"https?://", u) for u in source.uris)  # not cdrom:, file:, mirror+file:
        and all(_in_suite(s, suite) for s in source.suites)
        and set(source.components) <= DEBIAN_COMPONENTS
        and keys_ok  # a keyring the guest would lack breaks its `apt-get update`
    )


def _keyrings(source: _Source) -> list[PurePosixPath]:
    return [k for v in source.signed_by if (k := _keyring(v)) is not None]


def _split(value: str) -> tuple[str, ...]:
    """A `Signed-By` value's items: keyring paths or fingerprints, comma- or space-separated."""
    return tuple(v for v in re.split(r"[\s,]+", value) if v)


# One-line format: `deb [opt=v opt2=v2] uri suite [component ...]`, with an optional `# comment`.
_ONE_LINE = re.compile(r"^\s*(deb|deb-src)\s+(?:\[(?P<opts>[^\]]*)\]\s+)?(?P<rest>[^#]*)")


def _one_line(line: str) -> _Source | None:
    m = _ONE_LINE.match(line)
    if m is None:
        return None
    words = m.group("rest").split()
    if len(words) < 2:
        return None
    opts = dict(o.split("=", 1) for o in (m.group("opts") or "").split() if "=" in o)
    return _Source((words[0],), (words[1],), tuple(words[2:]), _split(opts.get("signed-by", "")))


def _stanzas(text: str) -> list[list[str]]:
    """deb822 stanzas: runs of lines between blank lines (comment lines kept in their stanza)."""
    stanzas: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            stanzas[-1].append(line)
        elif stanzas[-1]:
            stanzas.append([])
    return [s for s in stanzas if any(not line.lstrip().startswith("#") for line in s)]


def _fields(stanza: list[str]) -> dict[str, str]:
    """A stanza's fields, names lowercased; continuation lines joined to their field."""
    fields: dict[str, str] = {}
    name = None
    for line in stanza:
        if line.lstrip().startswith("#"):
            continue
        if line[:1] in (" ", "\t") and name is not None:
            fields[name] += "\n" + line.strip()
        elif ":" in line:
            name, value = line.split(":", 1)
            name = name.strip().lower()
            fields[name] = value.strip()
    return fields


def _deb822(fields: dict[str, str]) -> _Source | None:
    if fields.get("enabled", "yes").lower() == "no":
        return None
    signed_by = fields.get("signed-by", "")
    keys = () if "BEGIN PGP" in signed_by else _split(signed_by)  # an inline key travels in the stanza
    uris, suites, components = (tuple(fields.get(f, "").split()) for f in ("uris", "suites", "components"))
    return _Source(uris, suites, components, keys)


def guest_sources(apt: Path, suite: str) -> GuestSources:
    """The sources in `apt` (the host's /etc/apt) a Debian `suite` guest can use, each file filtered
    in its own format (kept lines of a `.list`, kept stanzas of a `.sources`), and their keyrings.

    A source is kept when it is served over http(s), all its suites are `suite` or `suite-*` (or `suite/*`), all
    its components are Debian's, and any keyring it names is under /usr/share/keyrings or
    /etc/apt/keyrings. Files left with nothing are left out."""
    files: dict[str, str] = {}
    keyrings: list[PurePosixPath] = []
    for path in apt_sources(apt):
        kept: list[str] = []
        if path.suffix == ".sources":
            for stanza in _stanzas(path.read_text()):
                source = _deb822(_fields(stanza))
                if source is not None and _usable(source, suite):
                    kept.append("\n".join(stanza) + "\n")
                    keyrings += _keyrings(source)
            text = "\n".join(kept)
        else:
            for line in path.read_text().splitlines():
                source = _one_line(line)
                if source is not None and _usable(source, suite):
                    kept.append(line + "\n")
                    keyrings += _keyrings(source)
            text = "".join(kept)
        if kept:
            files[path.relative_to(apt).as_posix()] = text
    return GuestSources(files, tuple(dict.fromkeys(keyrings)))


def debian_mirror(suite: str, apt: Path | None = None) -> str:
    """The archive URI the host's sources use for `suite` (what debootstrap should fetch from)."""
    apt = APT if apt is None else apt
    for rel, text in guest_sources(apt, suite).files.items():
        if rel.endswith(".sources"):
            for stanza in _stanzas(text):
                source = _deb822(_fields(stanza))
                if source is not None and suite in source.suites:
                    return source.uris[0]
        else:
            for line in text.splitlines():
                source = _one_line(line)
                if source is not None and source.suites == (suite,):
                    return source.uris[0]
    return DEFAULT_MIRROR
