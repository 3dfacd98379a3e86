"""The harness's private directory on the host: locks, pid files and ssh control sockets live here.

Never under a shared, world-writable directory such as /tmp, where another local user could plant a
directory or a symlink at a name root is about to write: the directory is made under
`$XDG_RUNTIME_DIR`, else `/run` (root) or `~/.cache` (anyone else), and checked with `lstat` before
every use (a directory, not a symlink, owned by this user, mode 0700).
"""

import contextlib
import os
import stat
from pathlib import Path

from provision.errors import RehearseError

NAME = "rehearse"


class UnsafePath(RehearseError):
    """A path the harness would write through is not its own alone."""


def _base() -> Path:
    if xdg := os.environ.get("XDG_RUNTIME_DIR"):
        return Path(xdg)
    if os.geteuid() == 0 and Path("/run").is_dir():
        return Path("/run")
    return Path.home() / ".cache"


def _check_parent(path: Path) -> None:
    """A base nobody else can write to: owned by this user or root, no group or other write bit."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid not in (os.geteuid(), 0) or st.st_mode & 0o022:
        raise UnsafePath(f"{path} is not a directory only this user or root can write to; refusing to use it")


def check_owned(path: Path) -> Path:
    """`path` if it is a real directory, this user's, mode 0700; raises UnsafePath saying why not."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{path} is not a directory (a symlink or a file planted there?); refusing to use it")
    if st.st_uid != os.geteuid():
        raise UnsafePath(f"{path} belongs to uid {st.st_uid}, not to this user ({os.geteuid()}); refusing to use it")
    if stat.S_IMODE(st.st_mode) != 0o700:
        raise UnsafePath(f"{path} has mode {stat.S_IMODE(st.st_mode):04o}, not 0700; refusing to use it")
    return path


def directory(*parts: str) -> Path:
    """The private directory (or a subdirectory `parts` of it), made 0700 if missing and checked."""
    base = _base()
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    _check_parent(base)
    path = base
    for part in (NAME, *parts):
        path = path / part
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        check_owned(path)
    return path


def open_file(path: Path, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    """A file descriptor on `path` in a private directory, never through a symlink, and this user's own."""
    check_owned(path.parent)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise UnsafePath(f"{path} cannot be opened safely ({e.strerror}); refusing to use it") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise UnsafePath(f"{path} is not a regular file of this user's; refusing to use it")
    return fd
