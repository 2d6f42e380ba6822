"""The runtime service's side of the shim: spawn one, read its status, attach.

The shim's contract (files in its state dir, the attach protocol) is in
:mod:`services.runtime.shim`. Everything here is blocking and thread-safe per
call; an :class:`AttachConnection` may be read by one thread while another
sends stdin.

:func:`spawn_shim` starts ``python -I -S .../shim/__main__.py`` with
``subprocess.Popen(start_new_session=True)`` and waits only for the shim's
first process, which exits as soon as the real shim (already reparented away
from the service) listens on its socket; the service therefore never owns a
long-lived child, and a restart of the service leaves shims and containers
running. A shim that was SIGKILLed leaves ``status.json`` at ``running`` and a
dead ``shim.pid``: :func:`shim_alive` tells; the container may still run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from client.errors import Internal, NotFound, Unavailable
from services.runtime.shim import protocol
from services.runtime.shim.options import valid_id
from services.runtime.shim.protocol import (
    KIND_EXIT, KIND_RESIZE, KIND_STDERR, KIND_STDIN, KIND_STDIN_EOF, KIND_STDOUT, encode_frame,
)
from services.runtime.shim.ocirun import INPROC_OCI
from services.runtime.shim.statedir import CRASH_LOG, PID_FILE, SOCKET_FILE, STATUS_FILE, write_state_file
from services.runtime.shim.served import ServedProcess
from services.runtime.shim.unixsock import SUN_PATH_MAX, recv_line

__all__ = [
    "ShimConfig", "ShimStatus", "ShimStartFailed", "ShimUnavailable", "StatusNotFound",
    "AttachConnection", "SHIM_MAIN", "KIND_STDOUT", "KIND_STDERR", "KIND_EXIT",
    "shim_command", "spawn_shim", "read_status", "wait_status", "shim_pid", "shim_alive", "shim_pidfd",
    "attach", "shim_args", "Zygote", "ZYGOTE_MAIN", "INPROC_OCI", "SHIM_DIED", "LOST", "supervisor_lost", "record_lost",
]

#: the file the runtime service runs with ``python -I -S`` (no site-packages, no runpy)
SHIM_MAIN = os.path.join(os.path.dirname(os.path.abspath(protocol.__file__)), "__main__.py")
#: the warm fork server (see :mod:`services.runtime.shim.zygote`)
ZYGOTE_MAIN = os.path.join(os.path.dirname(SHIM_MAIN), "zygote.py")


class ShimStartFailed(Internal):
    """The shim did not come up (bad arguments, unusable state dir, crash)."""


class ShimUnavailable(Unavailable):
    """The shim cannot be reached although the container has not exited."""


class StatusNotFound(NotFound):
    """No ``status.json`` in a state dir: no shim was started there."""


@dataclass(frozen=True)
class ShimConfig:
    """What one shim runs; paths should be absolute."""

    container_id: str
    bundle: str
    state_dir: str
    runtime: str
    runtime_root: str
    log_path: str
    log_driver: str = "json-file"
    runtime_args: tuple[str, ...] = ()
    log_max_size: int = 0
    log_max_file: int = 1
    stdin: bool = False
    tty: bool = False
    wait_attach: bool = False
    oom_cgroup: str | None = None


@dataclass(frozen=True)
class ShimStatus:
    """``status.json``: state is ``created``, ``running`` or ``exited``."""

    state: str
    pid: int = 0
    exit_code: int | None = None
    signal: str | None = None
    oom_killed: bool = False
    started_at: str = ""
    finished_at: str = ""
    error: str = ""
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, doc: dict) -> ShimStatus:
        return cls(state=str(doc.get("state", "")), pid=int(doc.get("pid") or 0),
                   exit_code=doc.get("exit_code"), signal=doc.get("signal"),
                   oom_killed=bool(doc.get("oom_killed", False)),
                   started_at=doc.get("started_at") or "", finished_at=doc.get("finished_at") or "",
                   error=doc.get("error") or "", raw=doc)


def shim_command(cfg: ShimConfig, python: str = sys.executable) -> list[str]:
    """The argv that starts a shim for ``cfg``."""
    return [python, "-I", "-S", SHIM_MAIN, *shim_args(cfg)]


def shim_args(cfg: ShimConfig) -> list[str]:
    """The shim's own arguments for ``cfg`` (what the zygote is sent)."""
    argv = ["--id", cfg.container_id, "--bundle", cfg.bundle,
            "--state-dir", os.path.abspath(cfg.state_dir), "--runtime", cfg.runtime]
    for arg in cfg.runtime_args:
        argv.append(f"--runtime-arg={arg}")
    argv += ["--runtime-root", cfg.runtime_root, "--log-path", cfg.log_path,
             "--log-driver", cfg.log_driver, "--log-max-size", str(cfg.log_max_size),
             "--log-max-file", str(cfg.log_max_file)]
    if cfg.stdin:
        argv.append("--stdin")
    if cfg.tty:
        argv.append("--tty")
    if cfg.wait_attach:
        argv.append("--wait-attach")
    if cfg.oom_cgroup:
        argv += ["--oom-cgroup", cfg.oom_cgroup]
    return argv


def _prepare_state_dir(cfg: ShimConfig) -> None:
    """Validate the id and clear what a previous run of the container left."""
    if not valid_id(cfg.container_id):
        raise ShimStartFailed(f"invalid container id {cfg.container_id!r}")
    os.makedirs(cfg.state_dir, mode=0o700, exist_ok=True)
    for stale in (STATUS_FILE, PID_FILE):
        try:
            os.unlink(os.path.join(cfg.state_dir, stale))
        except FileNotFoundError:
            pass


def spawn_shim(cfg: ShimConfig, *, python: str = sys.executable, timeout: float = 10.0) -> int:
    """Start a shim and return its pid once its attach socket listens. The
    container is being created then; :func:`wait_status` follows it."""
    _prepare_state_dir(cfg)
    launcher = subprocess.Popen(shim_command(cfg, python), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                close_fds=True, start_new_session=True, cwd="/")
    try:
        code = launcher.wait(timeout)
    except subprocess.TimeoutExpired as exc:
        launcher.kill()
        launcher.wait()
        raise ShimStartFailed(f"shim for {cfg.container_id!r} did not come up within "
                              f"{timeout:.0f}s") from exc
    return _started_shim_pid(cfg, f"exited with status {code}" if code != 0 else "")


def _started_shim_pid(cfg: ShimConfig, failure: str) -> int:
    """The pid of the shim just started for ``cfg``, once its launch
    reported it listening (``failure`` empty); else ShimStartFailed saying
    ``failure`` and the last line of the shim's crash log, if it left one."""
    if failure:
        raise ShimStartFailed(f"shim for {cfg.container_id!r} {failure}"
                              f"{_crash_note(cfg.state_dir)}")
    pid = shim_pid(cfg.state_dir)
    if pid is None:
        raise ShimStartFailed(f"shim for {cfg.container_id!r} wrote no pid file")
    return pid


def _crash_note(state_dir: str) -> str:
    try:
        with open(os.path.join(state_dir, CRASH_LOG)) as f:
            lines = f.read().strip().splitlines()
    except OSError:
        return ""
    return f": {lines[-1]}" if lines else ""


def read_status(state_dir: str) -> ShimStatus:
    """The shim's last recorded status; :class:`StatusNotFound` if none."""
    path = os.path.join(state_dir, STATUS_FILE)
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except FileNotFoundError as exc:
        raise StatusNotFound(f"no shim status in {state_dir!r}") from exc
    except ValueError as exc:
        raise ShimUnavailable(f"shim status {path!r} is not json") from exc
    if not isinstance(doc, dict):
        raise ShimUnavailable(f"shim status {path!r} is not an object")
    return ShimStatus.from_json(doc)


def wait_status(state_dir: str, states: tuple[str, ...] = ("running", "exited"), *,
                timeout: float = 30.0, interval: float = 0.02) -> ShimStatus:
    """Poll ``status.json`` until its state is one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = read_status(state_dir)
            if status.state in states:
                return status
        except StatusNotFound:
            status = None
        if status is None or status.state != "exited":
            if not shim_alive(state_dir) and not _reached(state_dir, states):
                raise ShimUnavailable(f"shim in {state_dir!r} is gone before reaching "
                                      f"{'/'.join(states)}{_crash_note(state_dir)}")
        if time.monotonic() >= deadline:
            raise ShimUnavailable(f"shim in {state_dir!r} did not reach {'/'.join(states)} "
                                  f"within {timeout:.0f}s")
        time.sleep(interval)


def _reached(state_dir: str, states: tuple[str, ...]) -> bool:
    """Read again: the shim may have written its last status and exited."""
    try:
        return read_status(state_dir).state in states
    except (StatusNotFound, ShimUnavailable):
        return False


def shim_pid(state_dir: str) -> int | None:
    try:
        with open(os.path.join(state_dir, PID_FILE)) as f:
            return int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def shim_alive(state_dir: str) -> bool:
    """The pid in ``shim.pid`` is a running shim of this state dir, not a
    reused pid: a spawned shim's command line names its state dir; one forked
    by the zygote carries the zygote's command line, and every shim works in
    its state dir."""
    pid = shim_pid(state_dir)
    if pid is None:
        return False
    state_dir = os.path.abspath(state_dir)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    if state == b"Z":
        return False
    marker = b"\0--state-dir\0" + state_dir.encode() + b"\0"
    if marker in cmdline:
        return True
    return ZYGOTE_MAIN.encode() in cmdline and cwd == state_dir


#: the exit code and State.Error of a container whose shim died: the runtime
#: killed it, as containerd's cleanupAfterDeadShim reports 128 + SIGKILL
SHIM_DIED = (137, "shim died: container killed")


def supervisor_lost(state_dir: str) -> bool:
    """The shim of ``state_dir`` is gone without recording a final status
    (killed): nobody reaps the container or holds its stdio any more."""
    try:
        status = read_status(state_dir)
    except (StatusNotFound, ShimUnavailable):
        status = None
    return (status is None or status.state != "exited") and not shim_alive(state_dir)


#: the exit code and State.Error of a container found gone with its shim (a host
#: reboot): unknown, 255 as dockerd's restore reports a task containerd lost
LOST = (255, "supervisor exited without recording a status")


def record_lost(state_dir: str, finished_at: str, outcome: tuple[int, str] = SHIM_DIED) -> None:
    """Write the final status a dead shim could not: exited with ``outcome``
    (:data:`SHIM_DIED` once the runtime killed what it ran, :data:`LOST`)."""
    try:
        last = read_status(state_dir)
    except (StatusNotFound, ShimUnavailable):
        last = ShimStatus(state="created")
    code, error = outcome
    doc = {"state": "exited", "pid": last.pid, "exit_code": code, "signal": "SIGKILL" if code == 137 else None, "oom_killed": False,
           "started_at": last.started_at, "finished_at": finished_at, "error": error}
    write_state_file(os.path.join(state_dir, STATUS_FILE), json.dumps(doc))


def shim_pidfd(state_dir: str) -> int | None:
    """A pidfd (readable once it exits) of the live shim of ``state_dir``, or
    None when there is none. The pid is checked after the pidfd is opened, so
    the descriptor cannot stand for a process that reused the pid."""
    pid = shim_pid(state_dir)
    if pid is None:
        return None
    try:
        fd = os.pidfd_open(pid)
    except OSError:  # gone (ESRCH), or no pidfds on this kernel
        return None
    if shim_pid(state_dir) == pid and shim_alive(state_dir):
        return fd
    os.close(fd)
    return None


def attach(state_dir: str, *, stdin: bool = False, stdout: bool = True, stderr: bool = True,
           timeout: float | None = None, height: int = 0, width: int = 0) -> AttachConnection:
    """Connect to a container's shim. If the container already exited (the shim
    is gone), the connection yields just the exit frame from ``status.json``.
    ``height``/``width`` (the client's terminal) size a --tty container's
    terminal before a --wait-attach shim starts it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _connect(sock, state_dir)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        sock.close()
        status = read_status(state_dir)
        if status.state == "exited":
            return AttachConnection(None, status)
        raise ShimUnavailable(f"shim in {state_dir!r} does not accept attach") from exc
    except OSError:
        sock.close()
        raise
    sock.settimeout(timeout)
    try:
        sock.sendall(protocol.encode_handshake(stdin, stdout, stderr, height, width))
    except OSError as exc:
        sock.close()
        raise ShimUnavailable(f"attach to shim in {state_dir!r}: {exc}") from exc
    return AttachConnection(sock, None)


def _connect(sock: socket.socket, state_dir: str) -> None:
    path = os.path.join(state_dir, SOCKET_FILE)
    if len(path.encode()) <= SUN_PATH_MAX:
        sock.connect(path)
        return
    # too long for sun_path: reach the socket through an fd of its directory
    dirfd = os.open(state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock.connect(f"/proc/self/fd/{dirfd}/{SOCKET_FILE}")
    finally:
        os.close(dirfd)


class AttachConnection:
    """Frames from a shim; iterate for (kind, payload) up to the exit frame."""

    def __init__(self, sock: socket.socket | None, exited: ShimStatus | None):
        self._sock = sock
        self._buf = bytearray()
        self.exit_status: ShimStatus | None = None
        self._pending_exit = exited

    def send_stdin(self, data: bytes) -> None:
        for start in range(0, len(data), protocol.MAX_PAYLOAD):
            self._send(encode_frame(KIND_STDIN, data[start:start + protocol.MAX_PAYLOAD]))

    def close_stdin(self) -> None:
        self._send(encode_frame(KIND_STDIN_EOF, b""))

    def resize(self, height: int, width: int) -> None:
        payload = json.dumps({"height": height, "width": width}).encode()
        self._send(encode_frame(KIND_RESIZE, payload))

    def _send(self, frame: bytes) -> None:
        if self._sock is None:
            raise ShimUnavailable("the container has exited")
        try:
            self._sock.sendall(frame)
        except OSError as exc:
            raise ShimUnavailable(f"send to shim: {exc}") from exc

    def read_frame(self) -> tuple[int, bytes] | None:
        """The next frame, or None once the exit frame was read or the shim hung up."""
        if self._pending_exit is not None:
            status, self._pending_exit = self._pending_exit, None
            self.exit_status = status
            return KIND_EXIT, json.dumps(status.raw).encode()
        if self._sock is None or self.exit_status is not None:
            return None
        header = self._read_exact(protocol.HEADER_SIZE)
        if header is None:
            return None
        kind, size = header[0], int.from_bytes(header[1:], "big")
        if size > protocol.MAX_PAYLOAD:
            raise ShimUnavailable(f"shim sent a frame of {size} bytes")
        payload = self._read_exact(size) if size else b""
        if payload is None:
            return None
        if kind == KIND_EXIT:
            self.exit_status = ShimStatus.from_json(json.loads(payload))
        return kind, payload

    def _read_exact(self, size: int) -> bytes | None:
        assert self._sock is not None
        while len(self._buf) < size:
            try:
                chunk = self._sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self._buf += chunk
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def __iter__(self):
        while (frame := self.read_frame()) is not None:
            yield frame

    def hang_up(self) -> None:
        """Shut the connection down from another thread: a read blocked in it
        returns at once (closing the socket would not wake it)."""
        if (sock := self._sock) is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed, or the shim hung up first

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> AttachConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Zygote:
    """Client of the warm fork server in ``directory`` (``zygote.sock``,
    ``zygote.pid``): starts it when none answers, forks shims, runs barque-oci
    commands and streaming execs through it, stops it by its pid."""

    def __init__(self, directory: str, python: str = sys.executable) -> None:
        self.directory = directory
        self.socket_path = os.path.join(directory, "zygote.sock")
        self.pid_file = os.path.join(directory, "zygote.pid")
        self.process = ServedProcess(
            [python, "-I", "-S", ZYGOTE_MAIN, "--socket", self.socket_path, "--pid-file", self.pid_file,
             "--preload-oci"], self.pid_file, (ZYGOTE_MAIN, self.socket_path), socket_path=self.socket_path,
            cwd="/", quiet=True)

    def pid(self) -> int | None:
        return self.process.pid()

    def ensure(self, timeout: float = 10.0) -> int:
        """The zygote's pid, starting one if none is serving."""
        return self.process.ensure("zygote", ShimStartFailed, timeout, poll=0.005)

    def _request(self, op: str, args: list[str], fds: tuple[int, ...] = ()) -> socket.socket:
        try:
            sock = self.process.connect(30.0)
        except OSError:
            self.ensure()
            sock = self.process.connect(30.0)
        try:
            line = json.dumps({"op": op, "args": args}).encode() + b"\n"
            sent = socket.send_fds(sock, [line], list(fds)) if fds else 0
            sock.sendall(line[sent:])
        except BaseException:
            sock.close()
            raise
        return sock

    def spawn_shim(self, cfg: ShimConfig, timeout: float = 10.0) -> int:
        """Fork a shim for ``cfg``; returns its pid once it listens."""
        _prepare_state_dir(cfg)
        with self._request("shim", shim_args(cfg)) as sock:
            sock.settimeout(timeout)
            try:
                ready = sock.recv(1)
            except OSError as exc:
                raise ShimStartFailed(f"shim for {cfg.container_id!r}: {exc}") from exc
        return _started_shim_pid(cfg, "died before listening" if ready != b"1" else "")

    def run_oci(self, args: list[str], timeout: float = 60.0) -> tuple[int, str, str]:
        """Run ``barque-oci ARGS`` in a warm child; (exit code, stdout, stderr)."""
        with self._request("oci", args) as sock:
            sock.settimeout(timeout)
            line = recv_line(sock)
        try:
            reply = json.loads(line)
        except ValueError as exc:
            raise Internal(f"zygote gave no reply to barque-oci {args[:3]}") from exc
        return int(reply["code"]), str(reply["stdout"]), str(reply["stderr"])

    def exec_oci(self, args: list[str], stdio: tuple[int, int, int]) -> socket.socket:
        """Start ``barque-oci ARGS`` in a warm worker whose stdin, stdout and
        stderr are copies of ``stdio`` (the caller keeps and closes its own);
        the connection to the worker's relay, which answers as
        :mod:`services.runtime.shim.execrelay` says: its pid, then its status."""
        return self._request("exec_oci", args, stdio)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the zygote (its shims live on)."""
        self.process.stop(timeout)
