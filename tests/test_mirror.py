"""What the guest gets of the host's apt sources: Debian's archive for its own suite, nothing else."""

from pathlib import Path, PurePosixPath

import pytest

from provision.guests import mirror
from provision.guests.mirror import guest_sources

DEBIAN_SOURCES = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main non-free-firmware
"""
SOURCES_LIST = """\
# the host's own, one line a source
deb http://old.example/debian bullseye main
deb [arch=amd64] http://mirror.example/debian bookworm main non-free
"""
DOCKER = (
    "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/debian bookworm stable\n"
)
PPA = "deb https://ppa.launchpadcontent.net/deadsnakes/ppa/ubuntu jammy main\n"
MIXED = """\
Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
Signed-By: /usr/share/keyrings/nodesource.gpg

Types: deb deb-src
URIs: https://mirror.example/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


@pytest.fixture
def apt(tmp_path: Path) -> Path:
    """A host's /etc/apt with Debian's sources, other releases and third-party repositories."""
    listed = tmp_path / "sources.list.d"
    listed.mkdir()
    (tmp_path / "sources.list").write_text(SOURCES_LIST)
    (listed / "debian.sources").write_text(DEBIAN_SOURCES)
    (listed / "docker.list").write_text(DOCKER)
    (listed / "deadsnakes-ppa.list").write_text(PPA)
    (listed / "empty.list").write_text("\n")
    (listed / "mixed.sources").write_text(MIXED)
    (listed / "old.list.disabled").write_text("deb http://mirror.example/debian bookworm main\n")
    return tmp_path


def test_a_bookworm_guest_gets_exactly_the_bookworm_debian_sources(apt):
    got = guest_sources(apt, "bookworm")
    assert got.files == {
        "sources.list": "deb [arch=amd64] http://mirror.example/debian bookworm main non-free\n",
        "sources.list.d/debian.sources": DEBIAN_SOURCES,
        "sources.list.d/mixed.sources": MIXED.split("\n\n")[1],
    }
    assert got.keyrings == (PurePosixPath("/usr/share/keyrings/debian-archive-keyring.gpg"),)


def test_a_bullseye_guest_gets_exactly_the_bullseye_line(apt):
    got = guest_sources(apt, "bullseye")
    assert got.files == {"sources.list": "deb http://old.example/debian bullseye main\n"}
    assert got.keyrings == ()


def test_third_party_ppa_and_other_releases_never_reach_the_guest(apt):
    text = "".join(guest_sources(apt, "bookworm").files.values())
    for gone in ("docker.com", "launchpad", "nodesource", "bullseye", "jammy", "nodistro", "stable"):
        assert gone not in text
    assert guest_sources(apt, "trixie").files == {}


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("deb http://m.example/debian bookworm main", True),
        ("deb-src http://m.example/debian bookworm-security main contrib non-free non-free-firmware", True),
        ("deb http://m.example/debian bookworm-proposed-updates main # a comment", True),
        ("deb [ arch=amd64 signed-by=/etc/apt/keyrings/corp.gpg ] https://m.example/debian bookworm main", True),
        ("deb http://m.example/debian bookwormish main", False),  # another suite, not bookworm-*
        ("deb http://m.example/debian stable main", False),  # an alias: the guest's suite is a codename
        ("deb http://m.example/debian bookworm", False),  # no components
        ("deb http://m.example/debian bookworm main restricted", False),  # Ubuntu's components
        ("deb http://packages.example/repo bookworm main extras", False),
        ("deb cdrom:[Debian GNU/Linux 12 _Bookworm_]/ bookworm main", False),
        ("deb file:/srv/repo bookworm main", False),
        ("deb [signed-by=/home/me/key.gpg] http://m.example/debian bookworm main", False),  # key not copyable
        ("deb [signed-by=/etc/apt/keyrings/../../shadow] http://m.example/debian bookworm main", False),
        ("# deb http://m.example/debian bookworm main", False),
        ("deb http://m.example/debian", False),
    ],
)
def test_the_one_line_rule(tmp_path, line, kept):
    (tmp_path / "sources.list").write_text(line + "\n")
    assert guest_sources(tmp_path, "bookworm").files == ({"sources.list": line + "\n"} if kept else {})


def test_deb822_stanzas_disabled_mixed_or_inline_signed(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    inline = (
        "Types: deb\nURIs: http://m.example/debian\nSuites: bookworm\nComponents: main\n"
        "Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBF...\n -----END PGP PUBLIC KEY BLOCK-----\n"
    )
    stanzas = [
        "Types: deb\nURIs: http://m.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n",
        "Types: deb\nURIs: http://m.example/debian\nSuites: bookworm bullseye\nComponents: main\n",
        "types: deb\nuris: http://m.example/debian\nsuites: bookworm\ncomponents: main\n",
        inline,
    ]
    (tmp_path / "sources.list.d" / "x.sources").write_text("# header\n\n" + "\n".join(stanzas))
    got = guest_sources(tmp_path, "bookworm")
    assert got.files == {"sources.list.d/x.sources": stanzas[2] + "\n" + inline}
    assert got.keyrings == ()


def test_keyrings_are_those_the_kept_sources_name_once_each(tmp_path):
    (tmp_path / "sources.list").write_text(
        "deb [signed-by=/etc/apt/keyrings/corp.gpg] http://m.example/debian bookworm main\n"
        "deb [signed-by=/etc/apt/keyrings/corp.gpg] http://m.example/debian bookworm-updates main\n"
        "deb [signed-by=/etc/apt/keyrings/other.gpg] http://m.example/debian bullseye main\n"
    )
    assert guest_sources(tmp_path, "bookworm").keyrings == (PurePosixPath("/etc/apt/keyrings/corp.gpg"),)


def test_staged_files_are_what_the_guest_gets(apt, tmp_path):
    got = guest_sources(apt, "bookworm")
    stage = tmp_path / "stage"
    (stage / "sources.list.d").mkdir(parents=True)
    (stage / "sources.list.d" / "stale.list").write_text("deb http://stale.example/ bookworm main\n")
    staged = got.stage(stage)
    assert [rel for _, rel in staged] == list(got.files)
    assert {rel: local.read_text() for local, rel in staged} == got.files
    assert not (stage / "sources.list.d" / "stale.list").exists()


def test_debian_mirror_is_the_archive_the_kept_sources_use(apt):
    assert mirror.debian_mirror("bookworm", apt) == "http://mirror.example/debian"
    assert mirror.debian_mirror("bullseye", apt) == "http://old.example/debian"
    assert mirror.debian_mirror("trixie", apt) == mirror.DEFAULT_MIRROR


def test_debian_mirror_read_from_deb822_and_one_line_sources(tmp_path, monkeypatch):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "a.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
    )
    # A third-party repository for the same suite, in a file read first, is not the archive.
    (tmp_path / "sources.list.d" / "a-docker.sources").write_text(
        "Types: deb\nURIs: https://download.docker.com/linux/debian\nSuites: bookworm\nComponents: stable\n"
    )
    monkeypatch.setattr(mirror, "APT", tmp_path)
    assert mirror.debian_mirror("bookworm") == "http://mirror.example/debian"
    (tmp_path / "sources.list.d" / "a.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert mirror.debian_mirror("bookworm") == "http://other.example/debian"
    (tmp_path / "sources.list").unlink()
    assert mirror.debian_mirror("bookworm") == mirror.DEFAULT_MIRROR
