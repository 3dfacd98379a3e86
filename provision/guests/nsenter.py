"""`nsenter://NAME`: a testinfra backend that runs commands in a local rootful podman container by
entering its namespaces, a few ms a call where `podman exec` costs ~180 ms (podman, conmon and runc
each start for every exec).

The process it starts is made to look like the one `podman exec NAME /bin/sh -c CMD` starts, read from
the container's own `podman inspect`:

- the container's mount, UTS, IPC, network, PID and cgroup namespaces (so its root filesystem, its
  hostname, its PID 1), in its working directory;
- its environment and nothing of the host's (podman exec's: the container's `Config.Env` without the
  `container_uuid` podman gives PID 1 alone in systemd mode);
- its cgroup in every hierarchy, as runc puts an exec'd process there, and its ulimits;
- its capability bounding set (setpriv, in the guest) and a session of its own (setsid);
- of podman's seccomp profile, the one rule a tutorial command meets: a socket for kernel audit
  messages is refused with EINVAL, so sudo stays quiet instead of warning "unable to send audit
  message" (the container may not write audit records, CAP_AUDIT_WRITE);
- stdin from /dev/null (read-only), stdout and stderr apart, the exit status as podman reports it
  (128+N when killed by signal N).

What differs: the rest of podman's seccomp profile and any LSM label are not applied (the rules left
out refuse syscalls the container's capabilities refuse anyway, or obsolete ones); the process's
parent is nsenter, on the host.

Every call is bounded on the host: a command that bounds itself in the guest with coreutils'
`timeout [--kill-after=K] T` (the transport does) gets T + K + BOUND_SLACK seconds, any other the
backend's bound (`nsenter://NAME?timeout=SECONDS`, default DEFAULT_BOUND, or `timeout=` per call).
Past it the command's session in the guest is killed and the call raises `ChannelTimeout`.
"""

import contextlib
import ctypes
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import testinfra.backend
from testinfra.backend import base

from provision.errors import DriverError

ENV_CHANNEL = "REHEARSE_CHANNEL"  # "podman": always podman exec; unset: nsenter where usable
DEFAULT_BOUND = 1800.0  # seconds, for a command that does not bound itself
BOUND_SLACK = 30.0  # past a self-bounded command's own budget and grace
GUEST_TOOLS = ("setpriv", "setsid")  # util-linux, run inside the guest once nsenter has entered it
SELF_BOUNDED = re.compile(r"timeout (?:--kill-after=(?P<kill>\d+(?:\.\d+)?) )?(?P<budget>\d+(?:\.\d+)?) ")


class ChannelTimeout(DriverError, TimeoutError):
    """A command outlived the backend's bound; its session in the guest was killed."""


# The seccomp rule, as classic BPF over struct seccomp_data (nr at 0, arch at 4, args[i] at 16 + 8i):
# socket(AF_NETLINK, *, NETLINK_AUDIT) fails with EINVAL, everything else is allowed.
AUDIT_ARCH = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}  # machine: (AUDIT_ARCH_*, __NR_socket)
AF_NETLINK, NETLINK_AUDIT, EINVAL = 16, 9, 22
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def audit_socket_filter(machine: str) -> SockFprog | None:
    if machine not in AUDIT_ARCH:
        return None
    arch, nr_socket = AUDIT_ARCH[machine]
    # (code, jump if true, jump if false, k): every miss jumps to the last instruction, allow.
    insns = [
        (LD_W_ABS, 0, 0, 4), (JEQ_K, 0, 7, arch),
        (LD_W_ABS, 0, 0, 0), (JEQ_K, 0, 5, nr_socket),
        (LD_W_ABS, 0, 0, 16), (JEQ_K, 0, 3, AF_NETLINK),
        (LD_W_ABS, 0, 0, 32), (JEQ_K, 0, 1, NETLINK_AUDIT),
        (RET_K, 0, 0, SECCOMP_RET_ERRNO | EINVAL), (RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]  # fmt: skip
    program = (SockFilter * len(insns))(*(SockFilter(*i) for i in insns))
    return SockFprog(len(insns), ctypes.cast(program, ctypes.POINTER(SockFilter)))


AUDIT_FILTER = audit_socket_filter(platform.machine())
_prctl = ctypes.CDLL(None, use_errno=True).prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int


@dataclass(frozen=True)
class Container:
    """What entering a running container takes, read from `podman inspect`."""

    name: str
    pid: int  # its init, on the host
    started: int  # the init's start time (clock ticks after boot): a reused PID is not mistaken for it
    env: dict[str, str]
    workdir: str
    cgroup_procs: tuple[str, ...]  # the container's cgroup.procs in every hierarchy the host mounts
    caps: tuple[str, ...]  # the bounding set, in setpriv's words
    limits: tuple[tuple[int, int, int], ...]  # (RLIMIT_*, soft, hard)
    guest_tools: dict[str, str]  # setpriv, setsid: their paths in the guest

    def alive(self) -> bool:
        return start_time(self.pid) == self.started

    def argv(self, command: str, nsenter: str) -> list[str]:
        bounding = ",".join(["-all", *(f"+{c}" for c in self.caps)])
        return [
            nsenter, f"--target={self.pid}", "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup",
            f"--wdns={self.workdir}", "--",
            self.guest_tools["setpriv"], f"--bounding-set={bounding}", "--inh-caps=-all", "--",
            self.guest_tools["setsid"], "/bin/sh", "-c", command,
        ]  # fmt: skip

    def joiner(self) -> Callable[[], None]:
        """What the child does between fork and exec of nsenter, on the host: join the container's
        cgroups, take its ulimits, install the audit-socket rule. Only system calls, through objects
        built here, before the fork: no lock another thread could hold is needed (preexec_fn's hazard)."""
        procs, limits = self.cgroup_procs, self.limits
        fprog = 0 if AUDIT_FILTER is None else ctypes.addressof(AUDIT_FILTER)

        def join() -> None:
            for path in procs:
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.write(fd, b"0")  # 0: the writing process
                finally:
                    os.close(fd)
            for kind, soft, hard in limits:
                resource.setrlimit(kind, (soft, hard))
            if fprog and _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0):
                raise OSError(ctypes.get_errno(), "seccomp filter")

        return join


def start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])  # field 22; the name before ")" may hold spaces


def cgroup_mounts() -> list[tuple[str, str]]:
    """(fstype, mount point) of every cgroup hierarchy mounted at its root on this host."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, rest = line.partition(" - ")
        parts, fstype = fields.split(), rest.split()[0]
        if fstype in ("cgroup", "cgroup2") and parts[3] == "/":
            mounts.append((fstype, re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), parts[4])))
    return mounts


def _rlimit(n: int) -> int:
    return resource.RLIM_INFINITY if n < 0 or n >= 2**63 else n


def locate(name: str) -> Container:
    """The running container `name`; raises DriverError saying why it cannot be entered."""
    podman = shutil.which("podman")
    if podman is None:
        raise DriverError("podman not on PATH")
    cp = subprocess.run(
        [podman, "inspect", "--type", "container", "--format", "json", name],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if cp.returncode != 0:
        raise DriverError(f"no container {name}: {(cp.stderr.strip().splitlines() or ['?'])[-1]}")
    info = json.loads(cp.stdout)[0]
    state, config = info["State"], info["Config"]
    pid = int(state.get("Pid") or 0)
    started = start_time(pid) if pid > 0 else None
    if not state.get("Running") or started is None:
        raise DriverError(f"container {name} is not running")
    if os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user"):
        raise DriverError(f"container {name} has a user namespace of its own; nsenter:// enters rootful ones only")
    if config.get("User") not in ("", "root", "0", "0:0", None):
        raise DriverError(f"container {name} runs as {config['User']!r}; nsenter:// runs as root only")
    cgroup = state.get("CgroupPath") or ""
    procs = []
    for fstype, mount in cgroup_mounts():
        path = Path(mount + cgroup)
        if not (path / "cgroup.procs").exists():
            continue
        # cgroup v2 takes no process into a cgroup whose controllers are handed to its children.
        if fstype == "cgroup2" and (path / "cgroup.subtree_control").read_text().strip():
            raise DriverError(f"the container's cgroup {path} delegates controllers; runc's exec cgroup is unknown")
        procs.append(str(path / "cgroup.procs"))
    if not cgroup or not procs:
        raise DriverError(f"the container's cgroup {cgroup!r} is not mounted on this host")
    env = dict(e.split("=", 1) for e in config.get("Env") or [])
    env.pop("container_uuid", None)
    tools = {}
    for tool in GUEST_TOOLS:
        paths = [f"{d}/{tool}" for d in env.get("PATH", "/usr/bin:/bin").split(":") if d.startswith("/")]
        found = [p for p in paths if os.access(f"/proc/{pid}/root{p}", os.X_OK)]
        if not found:
            raise DriverError(f"the guest has no {tool} (util-linux) on its PATH")
        tools[tool] = found[0]
    limits = tuple(
        (getattr(resource, u["Name"]), _rlimit(u["Soft"]), _rlimit(u["Hard"]))
        for u in info["HostConfig"].get("Ulimits") or []
    )
    caps = tuple(c.lower().removeprefix("cap_") for c in info.get("EffectiveCaps") or [])
    return Container(name, pid, started, env, config.get("WorkingDir") or "/", tuple(procs), caps, limits, tools)


def unusable(name: str) -> str | None:
    """Why nsenter:// cannot reach the container `name` from here, or None when it can."""
    if os.environ.get(ENV_CHANNEL) == "podman":
        return f"{ENV_CHANNEL}=podman"
    if os.geteuid() != 0:
        return "not root (entering a rootful container's namespaces takes root)"
    if shutil.which("nsenter") is None:
        return "nsenter not on PATH"
    if AUDIT_FILTER is None:
        return f"no seccomp rule for {platform.machine()}"
    try:
        locate(name)
    except (DriverError, OSError, subprocess.SubprocessError, ValueError, KeyError, AttributeError) as e:
        return str(e)
    return None


class NsenterBackend(base.BaseBackend):  # type: ignore[misc]  # testinfra ships no types
    NAME = "nsenter"

    def __init__(self, name: str, *args: Any, timeout: float | str = DEFAULT_BOUND, **kwargs: Any) -> None:
        self.name, user = self.parse_containerspec(name)
        if user is not None:
            raise DriverError(f"nsenter://{name}: runs as root only (sudo inside, or podman://{name})")
        nsenter = shutil.which("nsenter")
        if nsenter is None:
            raise DriverError(f"nsenter://{name}: nsenter not on PATH")
        self.nsenter = nsenter
        self.bound = float(timeout)
        self._container: Container | None = None
        super().__init__(self.name, *args, **kwargs)

    @property
    def container(self) -> Container:
        """The container as it runs now: located again once its init is gone (a reboot, a restart)."""
        if self._container is None or not self._container.alive():
            self._container = locate(self.name)
        return self._container

    def bound_for(self, command: str) -> float:
        if m := SELF_BOUNDED.match(command):
            return max(self.bound, float(m["budget"]) + float(m["kill"] or 0) + BOUND_SLACK)
        return self.bound

    def run(self, command: str, *args: str, timeout: float | None = None, **kwargs: Any) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        container = self.container
        bound = self.bound_for(cmd) if timeout is None else timeout
        try:
            with open(os.devnull, "rb") as null:  # read-only, as podman exec's stdin
                p = subprocess.Popen(
                    container.argv(cmd, self.nsenter), env=container.env, preexec_fn=container.joiner(),
                    stdin=null, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                )  # fmt: skip
        except subprocess.SubprocessError as e:
            why = f"could not take the container's cgroups, ulimits and seccomp rule ({e})"
            raise DriverError(f"nsenter://{self.name}: {why}") from e
        try:
            stdout, stderr = p.communicate(timeout=bound)
        except subprocess.TimeoutExpired:
            self._kill(p)
            raise ChannelTimeout(f"nsenter://{self.name}: killed after {bound:g} s: {cmd[:200]}") from None
        if p.returncode != 0 and not container.alive():
            raise DriverError(f"nsenter://{self.name}: the container stopped during `{cmd[:200]}`")
        rc = 128 - p.returncode if p.returncode < 0 else p.returncode  # nsenter dies by its child's signal
        return self.result(rc, self.encode(cmd), stdout, stderr)

    @staticmethod
    def _kill(p: "subprocess.Popen[bytes]") -> None:
        """Kill the command's session in the guest (setsid made nsenter's child its leader), then nsenter."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                pid, ppid = int(stat.parent.name), int(stat.read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == p.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        p.kill()
        p.communicate()


def register() -> None:
    """Make `nsenter://NAME` a testinfra connection string."""
    testinfra.backend.BACKENDS.setdefault(NsenterBackend.NAME, f"{__name__}.{NsenterBackend.__name__}")


register()
