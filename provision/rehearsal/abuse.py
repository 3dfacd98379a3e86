"""Bad HTTP clients: malformed, oversized and slow requests from the host to the guest's published port.

Loopback only (the guest's port 80 is published on 127.0.0.1), every socket under a timeout and the
whole barrage under a time cap, so it ends whatever the server does.
"""

import contextlib
import ipaddress
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SOCKET_TIMEOUT = 5.0  # seconds a connect, send or read may take
SLOW_CLIENTS = 20  # connections held open at once, trickling their headers
SLOW_HOLD = 4.0  # seconds they trickle before finishing (half of them) or walking away (the rest)


@dataclass(frozen=True)
class Bad:
    """One bad request: sent in one go, then the first line of the answer is read."""

    kind: str  # malformed or oversized
    name: str
    data: bytes


def bad_requests(host: str) -> tuple[Bad, ...]:
    """Requests a server must survive; `host` is the server name, so some of them reach the app."""
    h = f"Host: {host}\r\n".encode()
    return (
        Bad("malformed", "binary garbage", b"\x00\xff\xfe\x16\x03\x01 junk\r\n\r\n"),
        Bad("malformed", "unknown HTTP version", b"GET / HTTP/9.9\r\n" + h + b"\r\n"),
        Bad("malformed", "control byte in the method", b"G\x01T / HTTP/1.1\r\n" + h + b"\r\n"),
        Bad("malformed", "header line without a colon", b"GET / HTTP/1.1\r\n" + h + b"no colon here\r\n\r\n"),
        Bad("malformed", "NUL in the path", b"GET /%00 HTTP/1.1\r\n" + h + b"\r\n"),
        Bad("malformed", "path above the root", b"GET /../../etc/passwd HTTP/1.1\r\n" + h + b"\r\n"),
        Bad("malformed", "negative Content-Length", b"POST / HTTP/1.1\r\n" + h + b"Content-Length: -1\r\n\r\n"),
        Bad(
            "malformed",
            "bad chunk size",
            b"POST / HTTP/1.1\r\n" + h + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n",
        ),
        Bad("malformed", "unknown method", b"BREW / HTTP/1.1\r\n" + h + b"\r\n"),
        Bad("malformed", "no Host at all", b"GET / HTTP/1.1\r\n\r\n"),
        Bad("oversized", "16 KiB URI", b"GET /" + b"a" * 16384 + b" HTTP/1.1\r\n" + h + b"\r\n"),
        Bad("oversized", "16 KiB header", b"GET / HTTP/1.1\r\n" + h + b"X-Big: " + b"b" * 16384 + b"\r\n\r\n"),
        # Within nginx's limits (8 KiB a line), past uWSGI's default 4 KiB request buffer.
        Bad("oversized", "6 KiB query string", b"GET /?q=" + b"c" * 6144 + b" HTTP/1.1\r\n" + h + b"\r\n"),
        Bad(
            "oversized",
            "100 headers",
            b"GET / HTTP/1.1\r\n" + h + b"".join(b"X-H%d: %s\r\n" % (i, b"d" * 90) for i in range(100)) + b"\r\n",
        ),
        Bad(
            "oversized",
            "10 MiB body announced",
            b"POST / HTTP/1.1\r\n" + h + b"Content-Length: 10485760\r\n\r\n" + b"e" * 65536,
        ),
    )


@dataclass
class Tally:
    """What the barrage sent and what came back, by kind of request and kind of answer."""

    sent: int = 0
    seconds: float = 0.0
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, answer) -> requests

    def add(self, kind: str, answer: str) -> None:
        self.sent += 1
        self.answers[kind, answer] += 1

    def by_kind(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (kind, _), n in self.answers.items():
            out[kind] += n
        return out

    def by_answer(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (_, answer), n in self.answers.items():
            out[answer] += n
        return out

    def lines(self) -> list[str]:
        return [f"{kind} -> {answer}: {n}" for (kind, answer), n in sorted(self.answers.items())]


def loopback(url: str) -> tuple[str, int]:
    """The address of `url`, which must be on loopback: the barrage never leaves the host."""
    parts = urlsplit(url)
    try:
        ip = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        ip = None
    if ip is None or not ip.is_loopback or parts.port is None:
        raise ValueError(f"refusing to send bad requests to {url!r}: only a loopback address and port")
    return str(ip), parts.port


def _status(data: bytes) -> str:
    if not data:
        return "closed without answer"
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    words = line.split()
    if line.startswith("HTTP/") and len(words) > 1:
        return f"HTTP {words[1]}"
    return "answer without status line"


def _answer(sock: socket.socket) -> str:
    """The answer's status, read until its first line ends, the server closes or the timeout."""
    data = b""
    try:
        while b"\r\n" not in data and len(data) < 4096:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        return f"no answer in {SOCKET_TIMEOUT:g} s" if not data else _status(data)
    except OSError:  # reset: the server may answer and close before the request is all sent
        return _status(data) if data else "reset"
    return _status(data)


def send(addr: tuple[str, int], bad: Bad) -> str:
    try:
        with socket.create_connection(addr, timeout=SOCKET_TIMEOUT) as sock:
            # A send cut short (413 before the body) still gets an answer that says how the server took it.
            with contextlib.suppress(OSError):
                sock.sendall(bad.data)
            return _answer(sock)
    except TimeoutError:
        return "connect timed out"
    except OSError as e:
        return f"connect failed: {e.strerror or e}"


def slow(addr: tuple[str, int], host: str, tally: Tally) -> None:
    """Slow clients: open many connections, trickle header lines for a while; then half finish the
    request (and must get the page), the rest walk away mid-request."""
    socks: list[socket.socket] = []
    try:
        for _ in range(SLOW_CLIENTS):
            try:
                s = socket.create_connection(addr, timeout=SOCKET_TIMEOUT)
            except OSError as e:
                tally.add("slow", f"connect failed: {e.strerror or e}")
                continue
            socks.append(s)
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n".encode())
        end = time.monotonic() + SLOW_HOLD
        line = 0
        while time.monotonic() < end:
            time.sleep(0.5)
            line += 1
            for s in socks:
                with contextlib.suppress(OSError):  # noticed below, when the answer is read
                    s.sendall(b"X-Slow-%d: 1\r\n" % line)
        for i, s in enumerate(socks):
            if i % 2:
                tally.add("slow", "walked away")
                continue
            with contextlib.suppress(OSError):
                s.sendall(b"Connection: close\r\n\r\n")
            tally.add("slow", _answer(s))
    finally:
        for s in socks:
            s.close()


def barrage(url: str, host: str, *, minimum: int, budget: float) -> Tally:
    """At least `minimum` bad requests to `url` (loopback), cycling through the kinds, then the slow
    clients; stops early when `budget` seconds have passed."""
    addr = loopback(url)
    bads = bad_requests(host)
    tally = Tally()
    start = time.monotonic()
    while tally.sent < minimum - SLOW_CLIENTS and time.monotonic() - start < budget:
        bad = bads[tally.sent % len(bads)]
        tally.add(bad.kind, send(addr, bad))
    if time.monotonic() - start < budget:
        slow(addr, host, tally)
    tally.seconds = round(time.monotonic() - start, 2)
    return tally
