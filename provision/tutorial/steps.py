"""The tutorial's steps as data, in its order and numbering (sections 2 to 8).

Each step keeps the tutorial's literal commands and files. `probe` is the fact read before acting
(pyinfra style): when it holds, the step's commands are not run again, which makes a second
rehearsal change nothing. Platforms swap fields of a step through explicit deviations
(`provision.platforms`), never by editing this catalogue.
"""

import shlex
from dataclasses import dataclass

from provision.tutorial.params import PAGE


@dataclass(frozen=True)
class File:
    """A file the reader writes with `nano` (`sudo nano` when `sudo`)."""

    path: str  # as the tutorial writes it: `~/myproject/wsgi.py`, `/etc/init/myproject.conf`
    artifact: str  # its content: a file under `app/`
    sudo: bool = False

    @property
    def editor_command(self) -> str:
        return ("sudo " if self.sudo else "") + f"nano {self.path}"


@dataclass(frozen=True)
class Claim:
    """Something the tutorial says the reader will see; `probe` runs in the guest and must exit 0
    (and print exactly `expect`, when given)."""

    id: str
    text: str
    probe: str
    expect: str | None = None


@dataclass(frozen=True)
class BrowserClaim:
    """What the reader sees opening the server's address in a browser: the first heading, as rendered."""

    id: str
    text: str
    heading: str
    color: str  # as getComputedStyle reports it, e.g. "rgb(0, 0, 255)"


@dataclass(frozen=True)
class Serve:
    """A server the reader starts in the foreground, looks at in a browser, then stops with CTRL-C."""

    command: str
    port: int

    @property
    def claim(self) -> Claim:
        """The reader opens the server's own IP (why the server binds 0.0.0.0): asked from inside the
        guest at its first non-loopback address, so a server listening on loopback only fails."""
        address = (
            "addr=$(hostname -I | cut -d' ' -f1); test -n \"$addr\" || { echo 'no non-loopback address'; exit 1; }"
        )
        return Claim(
            f"page-on-{self.port}",
            f"`{self.command}` serves the page at the server's IP on :{self.port}",
            f"{address}; {fetch(f'http://$addr:{self.port}/', raw=True)}",
            expect=PAGE,
        )

    @property
    def listeners(self) -> str:
        """Prints what already listens on the port (as root, with the process), nothing when it is free."""
        return f"ss -ltnp 'sport = :{self.port}' | tail -n +2"


@dataclass(frozen=True)
class OnChange:
    """What the reader runs when files a running service reads have changed (a handler, in pyinfra's
    and Ansible's terms): the step's probe says it is running, but it runs the old files."""

    paths: tuple[str, ...]  # besides the step's own files
    run: tuple[str, ...]


@dataclass(frozen=True)
class Shell:
    """The state of the reader's shell when a step starts: where it is, whether the venv is active."""

    cwd: str = "~"
    venv: bool = False

    def prelude(self) -> str:
        """The line that puts a fresh shell in this state; each of a step's lines runs after it."""
        lines = ["cd ~", f"cd {self.cwd}"]
        if self.venv:
            lines.append("source myprojectenv/bin/activate")
        return " && ".join(lines)


@dataclass(frozen=True)
class Cite:
    """Where a tutorial's text (`--tutorial FILE`) shows a step: the file, the step's first line, and
    the line of each command and file path it runs or writes."""

    file: str
    line: int  # 0: the text shows nothing of the step
    lines: tuple[tuple[str, int], ...] = ()

    def of(self, what: str) -> str:
        """The citation of one of the step's commands or file paths (the step's own, if unknown)."""
        return f"{self.file} line {dict(self.lines).get(what, self.line)}"

    def __str__(self) -> str:
        return f"{self.file} line {self.line}" if self.line else f"{self.file}: not shown"


INSTALL_BUDGET = 1200.0
COMMAND_BUDGET = 120.0

HOME = Shell()
PROJECT = Shell(cwd="~/myproject")
VENV = Shell(cwd="~/myproject", venv=True)


@dataclass(frozen=True)
class Step:
    id: str  # the tutorial's section numbering
    title: str
    run: tuple[str | Serve, ...] = ()
    files: tuple[File, ...] = ()
    shell: Shell = HOME
    probe: str | None = None  # None: the step leaves nothing behind, so it always runs
    claims: tuple[Claim | BrowserClaim, ...] = ()
    as_root: bool = False  # only the prerequisite, which creates the reader's account
    note: str = ""
    timeout: float | None = None  # seconds each of its commands may take; None: by kind (`budget`)
    assumptions: tuple[str, ...] = ()  # what the harness answers for the reader, so a report can say so
    on_change: OnChange | None = None  # how its effect follows edits once it is in place
    uses_service: bool = False  # its failure may be the app service's: a failure shows the service's log
    logs: tuple[tuple[str, str], ...] = ()  # (name, root's command printing it): logs that may say why it failed
    cite: Cite | None = None  # where a tutorial's text shows it, when the rehearsal runs that text

    @property
    def budget(self) -> float:
        """Seconds each command of the step may run before it is killed: its own `timeout`, or by kind
        (installing downloads and compiles: uWSGI's build took 180 s under software emulation)."""
        if self.timeout is not None:
            return self.timeout
        installs = any("install" in line for line in self.commands)
        return INSTALL_BUDGET if installs else COMMAND_BUDGET

    @property
    def commands(self) -> tuple[str, ...]:
        """Every shell line of the step as the tutorial prints it, editor calls included."""
        edits = tuple(f.editor_command for f in self.files)
        return edits + tuple(r.command if isinstance(r, Serve) else r for r in self.run)

    @property
    def all_claims(self) -> tuple[Claim | BrowserClaim, ...]:
        return tuple(r.claim for r in self.run if isinstance(r, Serve)) + self.claims


def fetch(url: str, host: str | None = None, *, raw: bool = False) -> str:
    """A guest-side HTTP GET printing the body; python3 exists on both trusty (3.4) and bookworm.
    `raw`: the url goes in double quotes, so the shell expands a `$addr` in it."""
    script = (
        "import sys, urllib.request as u\n"
        "h = {'Host': sys.argv[2]} if len(sys.argv) > 2 else {}\n"
        "sys.stdout.write(u.urlopen(u.Request(sys.argv[1], headers=h), timeout=5).read().decode())"
    )
    args = [f'"{url}"' if raw else shlex.quote(url)] + ([shlex.quote(host)] if host else [])
    return f"python3 -c {shlex.quote(script)} " + " ".join(args)


def page_claim(claim_id: str, text: str, port: int, host: str | None = None) -> Claim:
    return Claim(claim_id, text, fetch(f"http://127.0.0.1:{port}/", host), expect=PAGE)


def packages_installed(*names: str) -> str:
    fmt = shlex.quote("${Status}\\n")
    return f"test $(dpkg-query -W -f={fmt} {' '.join(names)} 2>/dev/null | grep -c 'ok installed') -eq {len(names)}"


SOCKET = "~/myproject/myproject.sock"
# What the app service reads: an edit to any of them must reach the running service.
APP_FILES = ("~/myproject/myproject.py", "~/myproject/wsgi.py", "~/myproject/myproject.ini")
SOCKET_CLAIM = Claim(
    "socket-group-writable",
    "the unix socket is group-writable for www-data",
    f"stat -c '%F %U %G %a' {SOCKET}",
    expect="socket ${user} www-data 660\n",
)
NGINX_CLAIM = page_claim("nginx-port-80", "nginx serves the page on port 80", 80, host="${server_name}")
BROWSER_CLAIM = BrowserClaim(
    "browser-blue-heading", "a browser shows the heading 'Hello There!' in blue", "Hello There!", "rgb(0, 0, 255)"
)

TUTORIAL: tuple[Step, ...] = (
    Step(
        "2",
        "A non-root user with sudo",
        run=(
            "id -u ${user} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash ${user}",
            "usermod -aG sudo ${user}",
            # The reader types a password at sudo's prompt and 'Y' at apt's; the harness answers for them.
            "echo '${user} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/${user}",
            "echo 'APT::Get::Assume-Yes \"true\";' > /etc/apt/apt.conf.d/90reader-answers-yes",
        ),
        probe="sudo -u ${user} sudo -n true && test -f /etc/apt/apt.conf.d/90reader-answers-yes",
        as_root=True,
        note="The tutorial's prerequisite (its initial server setup guide), not one of its commands.",
        assumptions=(
            "the reader types their password at sudo's prompt: the harness gives the reader passwordless sudo",
            "the reader answers Y at apt-get install's prompt: the harness sets APT::Get::Assume-Yes",
        ),
    ),
    Step(
        "3",
        "Install the components from the Ubuntu repositories",
        run=("sudo apt-get update", "sudo apt-get install python-pip python-dev nginx"),
        probe=packages_installed("python-pip", "python-dev", "nginx"),
    ),
    Step(
        "4.1",
        "Install virtualenv",
        run=("sudo pip install virtualenv",),
        probe="command -v virtualenv",
    ),
    Step(
        "4.2",
        "Create the project directory",
        run=("mkdir ~/myproject", "cd ~/myproject"),
        probe="test -d ~/myproject",
    ),
    Step(
        "4.3",
        "Create the virtual environment",
        run=("virtualenv myprojectenv",),
        shell=PROJECT,
        probe="test -x myprojectenv/bin/python",
    ),
    Step(
        "4.4",
        "Activate the virtual environment",
        run=("source myprojectenv/bin/activate",),
        shell=PROJECT,
        # Each line runs in a fresh shell, so the claim re-enters the state the step leaves behind.
        claims=(
            Claim(
                "venv-active",
                "the prompt shows (myprojectenv)",
                'source myprojectenv/bin/activate && echo "$VIRTUAL_ENV"',
                expect="${home}/myproject/myprojectenv\n",
            ),
        ),
    ),
    Step(
        "5.1",
        "Install Flask and uWSGI",
        run=("pip install uwsgi flask",),
        shell=VENV,
        probe="python -c 'import flask' && test -x myprojectenv/bin/uwsgi",
    ),
    Step(
        "5.2",
        "Create a sample app",
        files=(File("~/myproject/myproject.py", "myproject.py"),),
        run=(Serve("python myproject.py", 5000),),
        shell=VENV,
    ),
    Step(
        "5.3",
        "Create the WSGI entry point",
        files=(File("~/myproject/wsgi.py", "wsgi.py"),),
        shell=VENV,
    ),
    Step(
        "6.1",
        "Test uWSGI serving",
        run=(Serve("uwsgi --socket 0.0.0.0:8000 --protocol=http -w wsgi", 8000), "deactivate"),
        shell=VENV,
    ),
    Step(
        "6.2",
        "Create a uWSGI configuration file",
        files=(File("~/myproject/myproject.ini", "myproject.ini"),),
        shell=PROJECT,
    ),
    Step(
        "7",
        "Create an Upstart script",
        files=(File("/etc/init/myproject.conf", "myproject.conf", sudo=True),),
        run=("sudo start myproject",),
        probe="sudo initctl status myproject | grep -q start/running",
        # Upstart's `restart` keeps the job's old definition: a changed job needs stop, then start.
        on_change=OnChange(APP_FILES, ("sudo stop myproject", "sudo start myproject")),
        uses_service=True,
        claims=(
            SOCKET_CLAIM,
            Claim(
                "starts-at-boot",
                "the job starts at boot (runlevels 2345)",
                "grep -qx 'start on runlevel \\[2345\\]' /etc/init/myproject.conf",
            ),
        ),
    ),
    Step(
        "8.1",
        "Create the nginx server block",
        files=(File("/etc/nginx/sites-available/myproject", "nginx/myproject", sudo=True),),
    ),
    Step(
        "8.2",
        "Enable the server block",
        run=("sudo ln -s /etc/nginx/sites-available/myproject /etc/nginx/sites-enabled",),
        probe="test -L /etc/nginx/sites-enabled/myproject",
    ),
    Step(
        "8.3",
        "Test the nginx configuration",
        run=("sudo nginx -t",),
    ),
    Step(
        "8.4",
        "Restart nginx",
        run=("sudo service nginx restart",),
        probe=NGINX_CLAIM.probe + f" | grep -qxF {shlex.quote(PAGE)}",
        claims=(NGINX_CLAIM, BROWSER_CLAIM),
        on_change=OnChange(("/etc/nginx/sites-available/myproject",), ("sudo service nginx restart",)),
        uses_service=True,
        # nginx says why it cannot reach the app (`connect() to unix:… failed (13: Permission denied)`)
        logs=(("nginx's error log", "tail -n 3 /var/log/nginx/error.log"),),
    ),
)


def tutorial_step(step_id: str) -> Step:
    """The catalogue's step `step_id`, as the tutorial wrote it."""
    return next(s for s in TUTORIAL if s.id == step_id)
