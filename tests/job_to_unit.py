"""The line-for-line translation of an Upstart job into a systemd unit, which bookworm's step 7
deviation claims to be: a shared oracle for the host-side and the acceptance tests."""

from collections.abc import Iterable


def stanzas(job: Iterable[str]) -> dict[str, str]:
    """An Upstart job's stanzas: first word -> the rest of the line."""
    return dict(line.split(" ", 1) for line in job if " " in line)


def unit_lines(job: Iterable[str]) -> set[str]:
    """The unit lines each of the job's stanzas becomes."""
    s = stanzas(job)
    assert s["start"] == "on runlevel [2345]", s["start"]
    path_env = s["env"].removeprefix("PATH=")
    command, _, args = s["exec"].partition(" ")
    return {
        f"User={s['setuid']}",
        f"Group={s['setgid']}",
        f"Environment={s['env']}",
        f"WorkingDirectory={s['chdir']}",
        f"ExecStart={path_env}/{command} {args}",  # systemd wants it absolute; the job finds it on PATH
        "WantedBy=multi-user.target",  # start on runlevel [2345]
    }
