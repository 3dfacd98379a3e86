"""The lines that explain a failure, picked out of a command's output, and short "expected versus got" diffs.

A failing step shows its reader the few lines that say why (apt's `E:`, nginx's `[emerg]`, a
traceback's exception line, …) instead of whatever happened to come last. Pure functions: no I/O.
"""

import difflib
import re

# One row per kind of line that says why something failed, with the tool that prints it. A line is
# matched with its surrounding whitespace removed, because pip indents the output of the builds it runs.
DECISIVE: tuple[re.Pattern[str], ...] = (
    # apt-get / apt: errors (its `W:` warnings and `N:` notices are not causes)
    re.compile(r"^E: "),
    # dpkg, run by apt: a package that failed to unpack or configure
    re.compile(r"^dpkg: error"),
    # pip ≥ 6: `ERROR: No matching distribution found for …`
    re.compile(r"^ERROR: "),
    # pip 1.5 (trusty's python-pip): no index reachable, then no such package
    re.compile(r"^Cannot fetch index base URL "),
    re.compile(r"^(?:Could not find any downloads that satisfy|No distributions at all found for) "),
    # pip, setuptools, distutils: `error: externally-managed-environment` (PEP 668), `error: command 'gcc' failed`
    re.compile(r"^error: "),
    # gcc / ld (`uwsgi_python.h:2:10: fatal error: …`, `collect2: error: …`) and argparse tools (`virtualenv: error: …`)
    re.compile(r"^\S+: (?:fatal )?error: "),
    # nginx (`nginx -t`, start-up): `nginx: [emerg] unknown directive "lisen" in …`
    re.compile(r"nginx: \[(?:emerg|alert|crit)\] "),
    # nginx -t: the summary after its [emerg] line
    re.compile(r"^nginx: configuration file \S+ test failed"),
    # nginx's error.log: `… [crit] 7#7: *1 connect() to unix:/…/myproject.sock failed (13: Permission denied)`
    re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(?:emerg|alert|crit|error)\] "),
    # Python: a traceback's exception line (uWSGI prints it too), flask's CLI `Error: …`
    re.compile(r"^(?:[A-Za-z_][\w.]*)?(?:Error|Exception)(?::|$)"),
    # uWSGI: the app did not import (the reason is the Python line just before)
    re.compile(r"^unable to load app \d+ "),
    # uWSGI, `wsgi-file`: the file imported but has no usable `application`
    re.compile(r'^unable to find "\w+" callable'),
    re.compile(r'^"\w+" must be a callable object'),
    # uWSGI with need-app: no app, so it exits (its "going in full dynamic mode" keeps running: not a cause)
    re.compile(r"^\*\*\* no app loaded\. GAME OVER \*\*\*"),
    # uWSGI's failed system calls: `bind(): Permission denied [core/socket.c line 230]`, `chdir(): …`
    re.compile(r"\[[\w/.-]+\.c line \d+\]$"),
    # uWSGI from Debian's package, asked for a plugin it does not have
    re.compile(r"^!!! UNABLE to load uWSGI plugin"),
    # Upstart's initctl: `start: Job failed to start`, `start: Unknown job: myproject` (success has no prefix)
    re.compile(r"^(?:start|stop|restart|reload|status|initctl): "),
    # systemctl: `Job for myproject.service failed because …`
    re.compile(r"^Job for \S+ failed"),
    # systemctl: `Failed to start myproject.service: Unit myproject.service not found.`
    re.compile(r"^Failed to \w+ (?:unit|\S+\.service): "),
    # sudo and coreutils name themselves: `tee: /etc/init/myproject.conf: No such file or directory`
    re.compile(r"^(?:sudo|tee|mkdir|cp|mv|ln|rm|chown|chmod|chgrp|cat|touch|useradd|adduser|usermod|curl): "),
    # bash (`bash: line 1: uwsgi: command not found`) and dash (`/bin/sh: 1: uwsgi: not found`)
    re.compile(r"^(?:-?bash|(?:/bin/)?sh): "),
)

# Lines a row above matches that are warnings: the command went on (or failed for another reason).
NOT_DECISIVE: tuple[re.Pattern[str], ...] = (
    # sudo on a guest whose hostname is missing from /etc/hosts
    re.compile(r"^sudo: unable to resolve host "),
    # bash, e.g. a locale forwarded by ssh that the guest lacks
    re.compile(r"^-?bash: warning: "),
)

# Terminal escapes: CSI (colours, cursor moves), OSC (window titles), then the two- and three-byte
# rest (`ESC ( B` from tput). apt colours its `E:`, so lines are cleaned before they are matched.
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]")


# What apt, pip, curl and the resolver say when the machine has no network: the cause is not the command.
NETWORK_DOWN = re.compile(
    r"Temporary failure (?:resolving|in name resolution)|Could not resolve host|Network is unreachable|"
    r"No route to host|Failed to establish a new connection|Name or service not known|"
    r"Could not connect to \S+ \(|Cannot initiate the connection to"
)


def network_unreachable(output: str) -> bool:
    """Whether `output` shows the network was unreachable (name resolution or connection failures)."""
    return NETWORK_DOWN.search(output) is not None


def _is_decisive(line: str) -> bool:
    return any(p.search(line) for p in DECISIVE) and not any(p.search(line) for p in NOT_DECISIVE)


def decisive_lines(output: str, limit: int = 5, *, fallback: bool = True) -> list[str]:
    """The lines of `output` that explain a failure: in output order, without terminal escapes or
    surrounding whitespace, each once, the first `limit` of them.

    When no line matches `DECISIVE`, the last non-empty line (unless not `fallback`), so a failed
    command's non-empty output always shows something.
    """
    lines = [cleaned for raw in output.splitlines() if (cleaned := _ESCAPE.sub("", raw).strip())]
    # The first ones: a later error is usually a consequence of an earlier one (gcc, pip, apt).
    picked = list(dict.fromkeys(line for line in lines if _is_decisive(line)))
    return (picked or (lines[-1:] if fallback else []))[: max(limit, 0)]


def expected_vs_got(expected: str, got: str, context: int = 1, max_lines: int = 12) -> str:
    """A unified diff from `expected` to `got`, at most `max_lines` lines (the last one `…` when cut); "" when equal."""
    if expected == got:
        return ""
    diff = list(
        difflib.unified_diff(expected.splitlines(), got.splitlines(), "expected", "got", n=context, lineterm="")
    )
    if not diff:
        # Same lines, different line endings or final newline: a diff of lines cannot show it, so say it.
        diff = ["--- expected", "+++ got", "(the texts differ only in line endings or the final newline)"]
    if len(diff) > max_lines:
        diff = [*diff[: max(max_lines - 1, 0)], "…"]
    return "\n".join(diff)
