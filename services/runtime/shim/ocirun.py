"""Running the OCI runtime (runc's command line) from the shim.

Children are started with ``os.posix_spawn`` (no fork of the Python process,
no ``subprocess`` import) with default dispositions restored for the signals
the shim ignores or handles, so the OCI runtime and the container never inherit
an ignored SIGPIPE, SIGTERM, SIGINT or SIGHUP.
"""

from __future__ import annotations

import _signal
import os
import select
import time

from .leanjson import loads

__all__ = [
    "INPROC_OCI", "OciFailed", "spawn", "run_oci_inproc", "wait_oci", "oci_message",
    "failure_exit_code", "describe_wait_status", "signal_name", "set_child_subreaper",
    "preload_prctl",
]

#: signals whose disposition the shim changes; children get the defaults back
_RESET_SIGNALS = (_signal.SIGPIPE, _signal.SIGXFSZ, _signal.SIGTERM, _signal.SIGINT,
                  _signal.SIGHUP, _signal.SIGCHLD)
#: most runtime output kept for an error message
_CAPTURE_LIMIT = 64 * 1024
_PR_SET_CHILD_SUBREAPER = 36
_SIGNAL_ALIASES = frozenset(("SIGIOT", "SIGPOLL", "SIGCLD"))
_SIGNAL_NAMES = {
    getattr(_signal, name): name for name in sorted(dir(_signal))
    if name.startswith("SIG") and not name.startswith("SIG_") and name not in _SIGNAL_ALIASES
    and isinstance(getattr(_signal, name), int)
}


class OciFailed(Exception):
    """``create`` or ``start`` failed; ``exit_code`` is what the container reports."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


#: runtime name meaning barque-oci's own code run in a forked child of the shim
#: (no interpreter start-up or imports when the shim came from the warm zygote)
INPROC_OCI = "barque-oci:inproc"


def run_oci_inproc(args: list[str]) -> int:
    """barque-oci's main in this (forked, single-threaded) process; its exit code.
    The zygote's children and the shim's in-process runtime children call it."""
    from services.runtime.oci.cli import main as oci_main  # only in the child: the shim stays lean

    try:
        oci_main(args)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _spawn_inproc(args: list[str], stdin: int, stdout: int, stderr: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
        # every fd >= 3, not only those below the current RLIMIT_NOFILE
        from services.runtime.oci.syscalls import close_fds_from

        close_fds_from(3)
        for sig in _RESET_SIGNALS:
            _signal.signal(sig, _signal.SIG_DFL)
        os._exit(run_oci_inproc(args))
    except BaseException:
        os._exit(125)


def spawn(argv: list[str], stdin: int, stdout: int, stderr: int) -> int:
    """Start ``argv`` with the given fds as its stdio; returns the pid."""
    if argv[0] == INPROC_OCI:
        return _spawn_inproc(argv[1:], stdin, stdout, stderr)
    actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, stdout, 1),
               (os.POSIX_SPAWN_DUP2, stderr, 2)]
    spawner = os.posix_spawn if "/" in argv[0] else os.posix_spawnp
    return spawner(argv[0], argv, os.environ, file_actions=actions, setsigdef=_RESET_SIGNALS)


def wait_oci(pid: int, timeout: float, capture: tuple[int, ...] = ()) -> tuple[int, bytes]:
    """Wait for the OCI runtime process ``pid`` (a child) while reading ``capture``
    fds (non-blocking pipes) into a buffer; returns (exit code, captured bytes).
    A runtime still running after ``timeout`` is killed and reported as 125."""
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    for fd in capture:
        poller.register(fd, select.POLLIN)
    captured = bytearray()
    deadline = time.monotonic() + timeout
    exited = False
    try:
        while not exited:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, _signal.SIGKILL)
                os.waitpid(pid, 0)
                raise OciFailed(f"runtime did not finish within {timeout:.0f}s", 125)
            for fd, _ in poller.poll(int(left * 1000) + 1):
                if fd == pidfd:
                    exited = True
                elif _read_into(fd, captured) is None:
                    poller.unregister(fd)
        for fd in capture:
            while _read_into(fd, captured):
                pass
    finally:
        os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    code, _ = describe_wait_status(status)
    return code, bytes(captured)


def _read_into(fd: int, buf: bytearray) -> int | None:
    """Bytes read (0 when nothing is ready), None at end of file."""
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return 0
    if not data:
        return None
    if len(buf) < _CAPTURE_LIMIT:
        buf += data[:_CAPTURE_LIMIT - len(buf)]
    return len(data)


def describe_wait_status(status: int) -> tuple[int, str | None]:
    """(exit code, signal name): the status, or 128+signum when killed."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        return 128 + signum, _SIGNAL_NAMES.get(signum, f"SIG{signum}")
    return os.WEXITSTATUS(status), None


def signal_name(signum: int) -> str:
    return _SIGNAL_NAMES.get(signum, f"SIG{signum}")


def oci_message(raw: bytes) -> str:
    """The error a runtime printed: runc's logrus lines (text or json) reduced
    to their ``msg``, error lines preferred; other output kept as is."""
    errors: list[str] = []
    others: list[str] = []
    for line in raw.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line:
            continue
        level, message = _logrus(line)
        (errors if level in ("error", "fatal", "panic") else others).append(message)
    return "; ".join(errors or others)[:4096]


def _logrus(line: str) -> tuple[str | None, str]:
    if line.startswith("{"):
        try:
            obj = loads(line)
        except ValueError:
            return None, line
        if isinstance(obj, dict) and isinstance(obj.get("msg"), str):
            level = obj.get("level")
            return (level if isinstance(level, str) else None), obj["msg"]
        return None, line
    if not line.startswith("time=") or ' msg=' not in line:
        return None, line
    level = None
    marker = line.find(" level=")
    if marker >= 0:
        level = line[marker + 7:].split(" ", 1)[0]
    quoted = line[line.find(" msg=") + 5:]
    if not quoted.startswith('"'):
        return level, quoted.split(" ", 1)[0]
    end = 1
    while end < len(quoted) and quoted[end] != '"':
        end += 2 if quoted[end] == "\\" else 1
    try:
        message = loads(quoted[:end + 1])
    except ValueError:
        message = quoted[1:end]
    return level, message if isinstance(message, str) else quoted[1:end]


def failure_exit_code(runtime_code: int, message: str) -> int:
    """The exit code Docker reports for a container that could not start:
    126/127 when the OCI runtime says so, or when its message says exec failed
    (not found: 127, not permitted: 126), else 125."""
    if runtime_code in (126, 127):
        return runtime_code
    low = message.lower()
    if "executable file not found" in low or ("exec" in low and "no such file" in low):
        return 127
    if "exec" in low and "permission denied" in low:
        return 126
    return 125


#: libc's prctl and ctypes.get_errno, once :func:`preload_prctl` ran
_prctl: tuple | None = None


def preload_prctl() -> None:
    """Load ctypes and libc's prctl now. The zygote calls this before it
    forks: importing ctypes in each forked shim instead would copy about
    0.2 MiB of the zygote's pages into it for good."""
    global _prctl
    import ctypes

    _prctl = (ctypes.CDLL(None, use_errno=True).prctl, ctypes.get_errno)


def set_child_subreaper() -> None:
    """Orphans below the shim (the container's init, once ``runtime create``
    exits) become its children, so it can reap them and learn their status.
    ctypes is loaded here unless :func:`preload_prctl` ran: only the spawned
    first stage does that, and the shim it execs never loads ctypes."""
    if _prctl is None:
        preload_prctl()
    assert _prctl is not None
    prctl, get_errno = _prctl
    if prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        errno = get_errno()
        raise OSError(errno, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(errno)}")
