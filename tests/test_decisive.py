"""Picking the lines that explain a failure out of real-looking tool output, and "expected versus got" diffs."""

import pytest

from provision.reports.decisive import decisive_lines, expected_vs_got

APT_MISSPELLED = """\
Reading package lists...
Building dependency tree...
Reading state information...
E: Unable to locate package build-essentials
"""

APT_NO_CANDIDATE = """\
Reading package lists...
Building dependency tree...
Reading state information...
Package python-pip is not available, but is referred to by another package.
This may mean that the package is missing, has been obsoleted, or
is only available from another source

E: Package 'python-pip' has no installation candidate
"""

# nginx's postinst cannot start it (port 80 taken): systemctl, dpkg and apt each say so.
APT_POSTINST_FAILS = """\
Setting up nginx (1.22.1-9) ...
Job for nginx.service failed because the control process exited with error code.
See "systemctl status nginx.service" and "journalctl -xeu nginx.service" for details.
invoke-rc.d: initscript nginx, action "start" failed.
dpkg: error processing package nginx (--configure):
 installed nginx package post-installation script subprocess returned error exit status 1
Processing triggers for man-db (2.11.2-2) ...
Errors were encountered while processing:
 nginx
E: Sub-process /usr/bin/dpkg returned an error code (1)
"""

APT_WARNINGS_ONLY = """\
Hit:1 http://deb.debian.org/debian bookworm InRelease
Reading package lists...
N: Repository 'http://deb.debian.org/debian bookworm InRelease' changed its 'Version' value from '12.4' to '12.5'
W: http://deb.debian.org/debian/dists/bookworm/InRelease: Key is stored in legacy trusted.gpg keyring
"""

# apt 2.x colours its prefixes on a terminal; tput's reset (`ESC ( B ESC [ m`) and a window title too.
APT_COLOURED = (
    "\x1b]0;deploy@myproject: ~\x07Reading package lists...\n"
    "\x1b[1;33mW: \x1b[0mTarget Packages is configured multiple times in /etc/apt/sources.list:1\n"
    "\x1b[1;31mE: \x1b[0mUnable to locate package nginxx\x1b(B\x1b[m   \n"
)

PIP_NOT_FOUND = """\
Collecting flaskk
ERROR: Could not find a version that satisfies the requirement flaskk (from versions: none)
ERROR: No matching distribution found for flaskk
"""

PEP_668 = """\
error: externally-managed-environment

\u00d7 This environment is externally managed
╰─> To install Python packages system-wide, try apt install
    python3-xyz, where xyz is the package you are trying to
    install.

    If you wish to install a non-Debian-packaged Python package,
    create a virtual environment using python3 -m venv path/to/venv.
    Then use path/to/venv/bin/python to install Python packages.

    See /usr/share/doc/python3.11/README.venv for more information.

note: If you believe this is a mistake, please contact your Python installation or OS distribution provider. \
You can override this, at the risk of breaking your Python installation or OS, by passing --break-system-packages.
hint: See PEP 668 for the detailed specification.
"""

# trusty's pip 1.5.4 cannot speak TLS to today's PyPI.
PIP_15_OFFLINE = """\
Downloading/unpacking virtualenv
  Cannot fetch index base URL https://pypi.python.org/simple/
  Could not find any downloads that satisfy the requirement virtualenv
Cleaning up...
No distributions at all found for virtualenv
Storing debug log for failure in /root/.pip/pip.log
"""

GCC_NO_PYTHON_H = """\
[gcc -pthread] plugins/python/python_plugin.o
In file included from plugins/python/python_plugin.c:1:
plugins/python/uwsgi_python.h:2:10: fatal error: Python.h: No such file or directory
    2 | #include <Python.h>
      |          ^~~~~~~~~~
compilation terminated.
"""

# The same compiler error as pip ≥ 21 shows it: indented inside its box, between pip's own errors.
PIP_BUILD_UWSGI = """\
Collecting uwsgi
  Using cached uwsgi-2.0.28.tar.gz (816 kB)
  Preparing metadata (setup.py) ... done
Building wheels for collected packages: uwsgi
  Building wheel for uwsgi (setup.py) ... error
  error: subprocess-exited-with-error

  \u00d7 python setup.py bdist_wheel did not run successfully.
  │ exit code: 1
  ╰─> [12 lines of output]
      /usr/lib/python3/dist-packages/setuptools/dist.py:265: UserWarning: Unknown distribution option: 'descriptions'
        warnings.warn(msg)
      running bdist_wheel
      using profile: buildconf/default.ini
      [gcc -pthread] plugins/python/python_plugin.o
      In file included from plugins/python/python_plugin.c:1:
      plugins/python/uwsgi_python.h:2:10: fatal error: Python.h: No such file or directory
          2 | #include <Python.h>
            |          ^~~~~~~~~~
      compilation terminated.
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
  ERROR: Failed building wheel for uwsgi
  Running setup.py clean for uwsgi
Failed to build uwsgi
ERROR: Could not build wheels for uwsgi, which is required to install pyproject.toml-based projects
"""

NGINX_TEST = """\
nginx: [emerg] unknown directive "lisen" in /etc/nginx/sites-enabled/myproject:2
nginx: configuration file /etc/nginx/nginx.conf test failed
"""

NGINX_ERROR_LOG = """\
2025/01/06 09:59:58 [notice] 4320#4320: signal process started
2025/01/06 10:00:00 [crit] 4321#4321: *1 connect() to unix:/home/deploy/myproject/myproject.sock failed \
(13: Permission denied) while connecting to upstream, client: 127.0.0.1, server: 127.0.0.1, \
request: "GET / HTTP/1.1", upstream: "uwsgi://unix:/home/deploy/myproject/myproject.sock:", host: "127.0.0.1"
"""

TRACEBACK = """\
Traceback (most recent call last):
  File "/home/deploy/myproject/myproject.py", line 1, in <module>
    from flask import Flask
ModuleNotFoundError: No module named 'flask'
"""

TRACEBACK_PY27 = """\
Traceback (most recent call last):
  File "myproject.py", line 1, in <module>
    from flask import Flask
ImportError: No module named flask
"""

UWSGI_BAD_MODULE = """\
*** Starting uWSGI 2.0.28 (64bit) on [Mon Jan  6 10:00:00 2025] ***
compiled with version: 12.2.0 on 06 January 2025 09:58:12
current working directory: /home/deploy/myproject
detected binary path: /home/deploy/myproject/myprojectenv/bin/uwsgi
thunder lock: disabled (you can enable it with --thunder-lock)
uwsgi socket 0 bound to UNIX address myproject.sock fd 3
Python version: 3.11.2 (main, Nov 30 2024, 21:22:50) [GCC 12.2.0]
*** Python threads support is disabled. You can enable it with --enable-threads ***
Python main interpreter initialized at 0x55d0c8d8e5a8
*** Operational MODE: preforking ***
ModuleNotFoundError: No module named 'wsgii'
unable to load app 0 (mountpoint='') (callable not found or import error)
*** no app loaded. going in full dynamic mode ***
*** uWSGI is running in multiple interpreter mode ***
spawned uWSGI master process (pid: 4242)
spawned uWSGI worker 1 (pid: 4243, cores: 1)
"""

UWSGI_NO_CALLABLE = """\
*** Operational MODE: preforking ***
unable to find "application" callable in file wsgi.py
unable to load app 0 (mountpoint='') (callable not found or import error)
*** no app loaded. GAME OVER ***
VACUUM: unix socket myproject.sock removed.
"""

UWSGI_BIND = """\
*** Starting uWSGI 2.0.28 (64bit) on [Mon Jan  6 10:00:00 2025] ***
current working directory: /home/deploy/myproject
bind(): Permission denied [core/socket.c line 230]
"""

UWSGI_CHDIR = """\
[uWSGI] getting INI configuration from myproject.ini
chdir(): No such file or directory [core/uwsgi.c line 2591]
"""

# `sudo tee` copies its input to stdout even when it cannot open the file: the Upstart job's own
# `start on`/`stop on` lines must not pass for Upstart replies.
TEE_NO_DIR = """\
tee: /etc/init/myproject.conf: No such file or directory
description "uWSGI server instance configured to serve myproject"

start on runlevel [2345]
stop on runlevel [!2345]

setuid deploy
setgid www-data

env PATH=/home/deploy/myproject/myprojectenv/bin
chdir /home/deploy/myproject
exec uwsgi --ini myproject.ini
"""

SYSTEMD_JOB_FAILED = """\
Job for myproject.service failed because the control process exited with error code.
See "systemctl status myproject.service" and "journalctl -xeu myproject.service" for details.
"""

# The guest's hostname is not in /etc/hosts and ssh forwarded a locale it lacks: warnings, not causes.
WARNINGS_THEN_ERROR = """\
sudo: unable to resolve host myproject: Name or service not known
-bash: warning: setlocale: LC_ALL: cannot change locale (en_GB.UTF-8)
Reading package lists...
E: Unable to locate package nginxx
"""

# coreutils in a UTF-8 locale quotes with U+2018/U+2019 (escaped: ruff takes them for typos).
MKDIR_EXISTS = "mkdir: cannot create directory \u2018/home/deploy/myproject\u2019: File exists"

# uWSGI respawning a worker that fails the same way each time.
REPEATED = "ModuleNotFoundError: No module named 'wsgii'\nunable to load app 0 (mountpoint='') (x)\n" * 3

APT_MANY_ERRORS = "".join(f"E: Unable to locate package pkg{i}\n" for i in range(8))

DECISIVE_CASES = [
    pytest.param(APT_MISSPELLED, ["E: Unable to locate package build-essentials"], id="apt-misspelled-package"),
    pytest.param(APT_NO_CANDIDATE, ["E: Package 'python-pip' has no installation candidate"], id="apt-no-candidate"),
    pytest.param(
        APT_POSTINST_FAILS,
        [
            "Job for nginx.service failed because the control process exited with error code.",
            "dpkg: error processing package nginx (--configure):",
            "E: Sub-process /usr/bin/dpkg returned an error code (1)",
        ],
        id="apt-dpkg-postinst",
    ),
    pytest.param(
        APT_WARNINGS_ONLY,
        ["W: http://deb.debian.org/debian/dists/bookworm/InRelease: Key is stored in legacy trusted.gpg keyring"],
        id="apt-warnings-only-falls-back-to-last-line",
    ),
    pytest.param(APT_COLOURED, ["E: Unable to locate package nginxx"], id="apt-ansi-colours"),
    pytest.param(
        PIP_NOT_FOUND,
        [
            "ERROR: Could not find a version that satisfies the requirement flaskk (from versions: none)",
            "ERROR: No matching distribution found for flaskk",
        ],
        id="pip-no-such-package",
    ),
    pytest.param(PEP_668, ["error: externally-managed-environment"], id="pip-pep-668"),
    pytest.param(
        PIP_15_OFFLINE,
        [
            "Cannot fetch index base URL https://pypi.python.org/simple/",
            "Could not find any downloads that satisfy the requirement virtualenv",
            "No distributions at all found for virtualenv",
        ],
        id="pip-1.5-trusty",
    ),
    pytest.param(
        GCC_NO_PYTHON_H,
        ["plugins/python/uwsgi_python.h:2:10: fatal error: Python.h: No such file or directory"],
        id="gcc-fatal-error",
    ),
    pytest.param(
        PIP_BUILD_UWSGI,
        [
            "error: subprocess-exited-with-error",
            "plugins/python/uwsgi_python.h:2:10: fatal error: Python.h: No such file or directory",
            "ERROR: Failed building wheel for uwsgi",
            "ERROR: Could not build wheels for uwsgi, which is required to install pyproject.toml-based projects",
        ],
        id="pip-build-uwsgi-indented-gcc",
    ),
    pytest.param(
        NGINX_TEST,
        [
            'nginx: [emerg] unknown directive "lisen" in /etc/nginx/sites-enabled/myproject:2',
            "nginx: configuration file /etc/nginx/nginx.conf test failed",
        ],
        id="nginx-t-emerg",
    ),
    pytest.param(NGINX_ERROR_LOG, [NGINX_ERROR_LOG.splitlines()[1]], id="nginx-error-log-crit"),
    pytest.param(TRACEBACK, ["ModuleNotFoundError: No module named 'flask'"], id="python-traceback"),
    pytest.param(TRACEBACK_PY27, ["ImportError: No module named flask"], id="python27-traceback"),
    pytest.param(
        UWSGI_BAD_MODULE,
        [
            "ModuleNotFoundError: No module named 'wsgii'",
            "unable to load app 0 (mountpoint='') (callable not found or import error)",
        ],
        id="uwsgi-import-error-not-dynamic-mode",
    ),
    pytest.param(
        UWSGI_NO_CALLABLE,
        [
            'unable to find "application" callable in file wsgi.py',
            "unable to load app 0 (mountpoint='') (callable not found or import error)",
            "*** no app loaded. GAME OVER ***",
        ],
        id="uwsgi-no-callable-need-app",
    ),
    pytest.param(UWSGI_BIND, ["bind(): Permission denied [core/socket.c line 230]"], id="uwsgi-bind"),
    pytest.param(UWSGI_CHDIR, ["chdir(): No such file or directory [core/uwsgi.c line 2591]"], id="uwsgi-chdir"),
    pytest.param("start: Job failed to start\n", ["start: Job failed to start"], id="upstart-job-failed"),
    pytest.param("start: Unknown job: myproject\n", ["start: Unknown job: myproject"], id="upstart-unknown-job"),
    pytest.param(
        SYSTEMD_JOB_FAILED,
        ["Job for myproject.service failed because the control process exited with error code."],
        id="systemd-job-failed",
    ),
    pytest.param(
        "Failed to start myproject.service: Unit myproject.service not found.\n",
        ["Failed to start myproject.service: Unit myproject.service not found."],
        id="systemctl-unknown-unit",
    ),
    pytest.param(TEE_NO_DIR, ["tee: /etc/init/myproject.conf: No such file or directory"], id="sudo-tee-no-dir"),
    pytest.param(
        "bash: line 1: virtualenv: command not found\n",
        ["bash: line 1: virtualenv: command not found"],
        id="bash-command-not-found",
    ),
    pytest.param("/bin/sh: 1: uwsgi: not found\n", ["/bin/sh: 1: uwsgi: not found"], id="dash-not-found"),
    pytest.param(MKDIR_EXISTS + "\n", [MKDIR_EXISTS], id="mkdir-exists"),
    pytest.param("sudo: nano: command not found\n", ["sudo: nano: command not found"], id="sudo-command-not-found"),
    pytest.param(WARNINGS_THEN_ERROR, ["E: Unable to locate package nginxx"], id="sudo-and-bash-warnings-skipped"),
    pytest.param(
        REPEATED,
        ["ModuleNotFoundError: No module named 'wsgii'", "unable to load app 0 (mountpoint='') (x)"],
        id="duplicates-once",
    ),
    pytest.param(APT_MANY_ERRORS, [f"E: Unable to locate package pkg{i}" for i in range(5)], id="first-five-of-many"),
    pytest.param(
        "<html><body>\n<h1>Internal Server Error</h1>  \r\n\n\n", ["<h1>Internal Server Error</h1>"], id="no-pattern"
    ),
    pytest.param("", [], id="empty"),
    pytest.param(" \n\t\n\x1b[0m\n", [], id="blank-and-escapes-only"),
]


@pytest.mark.parametrize(("output", "expected"), DECISIVE_CASES)
def test_decisive_lines(output: str, expected: list[str]) -> None:
    assert decisive_lines(output) == expected


def test_limit_keeps_the_first_in_output_order() -> None:
    assert decisive_lines(PIP_BUILD_UWSGI, limit=2) == [
        "error: subprocess-exited-with-error",
        "plugins/python/uwsgi_python.h:2:10: fatal error: Python.h: No such file or directory",
    ]


def test_limit_zero_gives_nothing() -> None:
    assert decisive_lines(APT_MISSPELLED, limit=0) == []


PAGE = """\
<html>
<body>
<h1 style='color:blue'>Hello There!</h1>
</body>
</html>
"""


def test_expected_vs_got_equal_is_empty() -> None:
    assert expected_vs_got(PAGE, PAGE) == ""


def test_expected_vs_got_one_word() -> None:
    got = PAGE.replace("There", "World")
    assert expected_vs_got(PAGE, got).splitlines() == [
        "--- expected",
        "+++ got",
        "@@ -2,3 +2,3 @@",
        " <body>",
        "-<h1 style='color:blue'>Hello There!</h1>",
        "+<h1 style='color:blue'>Hello World!</h1>",
        " </body>",
    ]


def test_expected_vs_got_truncates_with_ellipsis() -> None:
    expected = "".join(f"line {i}\n" for i in range(20))
    got = "".join(f"LINE {i}\n" for i in range(20))
    diff = expected_vs_got(expected, got).splitlines()
    assert len(diff) == 12
    assert diff[:4] == ["--- expected", "+++ got", "@@ -1,20 +1,20 @@", "-line 0"]
    assert diff[-1] == "…"


def test_expected_vs_got_not_cut_when_it_fits() -> None:
    diff = expected_vs_got("a\nb\n", "a\nc\n", max_lines=6).splitlines()
    assert diff == ["--- expected", "+++ got", "@@ -1,2 +1,2 @@", " a", "-b", "+c"]


def test_expected_vs_got_line_endings_only() -> None:
    diff = expected_vs_got("Hello There!\n", "Hello There!")
    assert diff.startswith("--- expected\n+++ got\n")
    assert "final newline" in diff
