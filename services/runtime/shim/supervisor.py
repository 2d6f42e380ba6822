"""The supervisor loop of one container (contract in the package docstring).

Single-threaded: one epoll set holds the container's stdout/stderr pipes, its
stdin pipe (when writes are pending), the attach listener and clients, and a
wakeup pipe that SIGCHLD writes to. With --tty the container's stdio is a
pseudo-terminal instead: the OCI runtime sends its master over ``console.sock``
(SCM_RIGHTS, runc's --console-socket), and the master replaces the pipes: its
output is the container's stdout (a terminal does not split the streams),
stdin frames are written to it and resize frames set its window size. The shim runs with the state dir as its
working directory, so the attach socket is bound by a short relative name
(state dirs can be longer than a unix socket path allows).
"""

from __future__ import annotations

import _signal
import _socket
import os
import select
import time
from collections.abc import Callable

from .attach import AttachClient
from .console import ConsoleSocket, set_window_size
from .leanjson import dumps, loads
from .logfile import LogWriter, format_timestamp
from .ocirun import OciFailed, describe_wait_status
from .options import Options
from .protocol import (
    KIND_EXIT, KIND_RESIZE, KIND_STDERR, KIND_STDIN, KIND_STDIN_EOF, KIND_STDOUT, ProtocolError,
    encode_frame, parse_size,
)
from .setupworker import SetupWorker, oci_create, oci_start
from .statedir import PID_FILE, SOCKET_FILE, STATUS_FILE, oom_killed, write_state_file
from .unixsock import accept_unix, listen_unix

__all__ = ["Supervisor"]

#: with --wait-attach, start anyway after this long without a client
ATTACH_DEADLINE = 10.0
#: after the container exited, how long output pipes may stay open (a process
#: outside the container's pid namespace can hold them)
DRAIN_TIMEOUT = 2.0
#: how long clients get to take their last frames when the shim exits
FLUSH_TIMEOUT = 5.0
#: a client's unsent output beyond this pauses reading the container's
#: output; pending stdin beyond it pauses reading clients
HIGH_WATER = 256 * 1024
MAX_CLIENTS = 64
_IN, _OUT = select.EPOLLIN, select.EPOLLOUT
_GONE = select.EPOLLHUP | select.EPOLLERR


def _ignore(signum: int, frame: object) -> None:
    """Handler (not SIG_IGN) so exec'd children get default dispositions back."""


class Supervisor:
    def __init__(self, opts: Options):
        self.opts = opts
        self.ep = select.epoll()
        self._handlers: dict[int, object] = {}
        self.clients: dict[int, AttachClient] = {}
        self.outputs: dict[int, tuple[str, int]] = {}
        self.paused = False
        self.writer: LogWriter | None = None
        self.worker: SetupWorker | None = None
        self.listener: _socket.socket | None = None
        self.stdin_w = -1
        self.master = -1
        self.console: ConsoleSocket | None = None
        self.stdin_buf = bytearray()
        self.stdin_eof = False
        self.init_pid = 0
        self.exit: tuple[int, str | None] | None = None
        self.finished_ns = 0
        self.started_at = ""
        self.error = ""
        self.failed_code = 125
        self.log_errors = 0

    # -- setup ---------------------------------------------------------------

    def prepare(self) -> None:
        """State dir, signals, attach socket and stdio pipes; then the setup
        worker, which writes the pid file before this returns."""
        try:
            os.chdir(self.opts.state_dir)  # its spawner made it: no os.makedirs (posixpath) here
        except FileNotFoundError:
            os.makedirs(self.opts.state_dir, 0o700, exist_ok=True)
            os.chdir(self.opts.state_dir)
        for sig in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
            _signal.signal(sig, _ignore)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        _signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        _signal.signal(_signal.SIGCHLD, _ignore)
        self._watch(wake_r, _IN, lambda events: self._on_wakeup(wake_r))
        listener = listen_unix(SOCKET_FILE, MAX_CLIENTS)
        self.listener = listener
        self._watch(listener.fileno(), _IN, lambda events: self._on_accept())
        self.out_r, self.out_w = os.pipe2(os.O_CLOEXEC)
        self.err_r, self.err_w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self.out_r, False)
        os.set_blocking(self.err_r, False)
        if self.opts.tty:
            self.console = ConsoleSocket(self.opts.state_dir)
        if self.opts.stdin and not self.opts.tty:
            self.in_r, self.stdin_w = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(self.stdin_w, False)
        else:
            self.in_r = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.worker = SetupWorker(*self._worker_steps())
        finally:
            for fd in (self.in_r, self.out_w, self.err_w):  # the worker has its copies
                os.close(fd)
        self.worker.ready()

    # -- lifecycle -----------------------------------------------------------

    def create(self) -> None:
        """``runtime create``, run by the setup worker once the log is open,
        with the pipes as its (and the container's) stdio. Anything on the
        pipes before ``start`` is the OCI runtime's own output, which the
        worker reads."""
        o = self.opts
        try:
            self.writer = LogWriter(o.log_path, o.log_driver, o.log_max_size, o.log_max_file)
        except OSError as exc:
            raise OciFailed(f"open log {o.log_path!r}: {exc.strerror}", 125) from exc
        assert self.worker is not None
        self.init_pid = self.worker.created()
        if o.tty:
            # the container writes to the pty; the pipes only carried the OCI runtime's output
            os.close(self.out_r)
            os.close(self.err_r)
            assert self.console is not None
            self.master = self.console.receive_master()
            streams: tuple[tuple[int, str, int], ...] = ((self.master, "stdout", KIND_STDOUT),)
            if o.stdin:
                self.stdin_w = os.dup(self.master)
        else:
            streams = ((self.out_r, "stdout", KIND_STDOUT), (self.err_r, "stderr", KIND_STDERR))
        for fd, stream, kind in streams:
            self.outputs[fd] = (stream, kind)
            self._watch(fd, _IN, lambda events, fd=fd: self._on_output(fd))

    def _worker_steps(self) -> tuple[Callable[[], object], Callable[[], int], Callable[[int], str]]:
        """What the setup worker runs: the pid file naming this shim;
        ``runtime create`` on the container's stdio (its output captured for
        an error message); ``runtime start``."""
        o = self.opts
        pid_line = f"{os.getpid()}\n"
        console = self.console.path if self.console is not None else None
        stdio = (self.in_r, self.out_w, self.err_w)
        capture = (self.out_r, self.err_r)
        return (lambda: write_state_file(PID_FILE, pid_line),
                lambda: oci_create(o, console, stdio, capture),
                lambda init_pid: oci_start(o, init_pid))

    def _resize(self, height: int, width: int) -> None:
        """Set the terminal's window size (the kernel signals SIGWINCH to its
        foreground process group); no terminal or no size: nothing to do."""
        if self.master >= 0 and height and width:
            set_window_size(self.master, height, width)

    def wait_for_attach(self) -> None:
        """--wait-attach: hold ``start`` until a client finished its handshake."""
        deadline = time.monotonic() + ATTACH_DEADLINE
        while self.exit is None and not any(c.handshake for c in self.clients.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._poll(left)

    def start(self) -> None:
        """``runtime start``, run by the setup worker, which then exits."""
        assert self.worker is not None
        self.started_at = self.worker.started()

    def supervise(self) -> None:
        """Until the container exited and its output pipes closed."""
        drain_until = 0.0
        while self.outputs or self.exit is None:
            if self.exit is not None:
                drain_until = drain_until or time.monotonic() + DRAIN_TIMEOUT
                if time.monotonic() >= drain_until:
                    break
                self._poll(drain_until - time.monotonic())
            else:
                self._poll(None)
        for fd in list(self.outputs):
            self._drain_output(fd)

    def fail(self, exc: OciFailed) -> None:
        """create/start failed: record why, and end a container init left behind."""
        self.error = str(exc)
        self.failed_code = exc.exit_code
        if self.worker is not None:
            self.worker.close()
        if self.init_pid and self.exit is None:
            try:
                os.kill(self.init_pid, _signal.SIGKILL)
                os.waitpid(self.init_pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass

    def final_status(self) -> dict:
        if self.exit is not None and not self.error:
            code, signal = self.exit
        else:
            code, signal = self.failed_code, None
        return {
            "state": "exited", "pid": self.init_pid, "exit_code": code, "signal": signal,
            "oom_killed": bool(self.started_at) and oom_killed(self.opts.oom_cgroup),
            "started_at": self.started_at,
            "finished_at": format_timestamp(self.finished_ns or time.time_ns()),
            "error": self.error,
        }

    def finish(self) -> None:
        """Final status first (clients may read it after the exit frame), then
        exit frames to every client, then the socket goes away. The pid file
        stays: a spawner that looks late still learns which process it was."""
        status = self.final_status()
        write_state_file(STATUS_FILE, dumps(status))
        frame = encode_frame(KIND_EXIT, dumps(status).encode("utf-8"))
        if self.console is not None:  # create failed before the terminal arrived
            self.console.close()
        if self.listener is not None:
            self._on_accept()
            os.unlink(SOCKET_FILE)
            self._unwatch(self.listener.fileno())
            self.listener.close()
            self.listener = None
        for client in self.clients.values():
            client.outbuf += frame
            self._update_client(client)
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while any(c.outbuf for c in self.clients.values()) and time.monotonic() < deadline:
            self._poll(deadline - time.monotonic())
        for client in list(self.clients.values()):
            self._drop(client)
        if self.writer is not None:
            try:
                self.writer.close()
            except OSError:
                self.log_errors += 1

    # -- events --------------------------------------------------------------

    def _watch(self, fd: int, mask: int, handler) -> None:
        if fd in self._handlers:
            self.ep.modify(fd, mask)
        else:
            self.ep.register(fd, mask)
        self._handlers[fd] = handler

    def _unwatch(self, fd: int) -> None:
        if self._handlers.pop(fd, None) is not None:
            self.ep.unregister(fd)

    def _poll(self, timeout: float | None) -> None:
        for fd, events in self.ep.poll(-1 if timeout is None else max(timeout, 0.0)):
            handler = self._handlers.get(fd)
            if handler is not None:
                handler(events)  # type: ignore[operator]

    def _on_wakeup(self, fd: int) -> None:
        try:
            while os.read(fd, 512):
                pass
        except BlockingIOError:
            pass
        self._reap()

    def _reap(self) -> None:
        """Collect every exited child; the container's init sets ``exit``."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.init_pid and self.exit is None:
                self.exit = describe_wait_status(status)
                self.finished_ns = time.time_ns()

    def _on_output(self, fd: int) -> None:
        stream, kind = self.outputs[fd]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: a pty master once no process holds the terminal
            data = b""
        if not data:
            self._unwatch(fd)
            del self.outputs[fd]
            os.close(fd)
            self._log(stream, b"", end=True)
            return
        self._log(stream, data)
        frame = encode_frame(kind, data)
        for client in list(self.clients.values()):
            if client.wants(kind):
                client.outbuf += frame
                self._flush_client(client)
        self._update_outputs()

    def _drain_output(self, fd: int) -> None:
        """A process outlived the drain timeout holding the pipe: log and
        forward what the pipe holds now (at most 1 MiB), then close it."""
        stream, kind = self.outputs.pop(fd)
        self._unwatch(fd)
        try:
            for _ in range(16):
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    raise
                except OSError:  # EIO from a pty master
                    data = b""
                if not data:
                    break
                self._log(stream, data)
                frame = encode_frame(kind, data)
                for client in self.clients.values():
                    if client.wants(kind):
                        client.outbuf += frame
        except BlockingIOError:
            pass
        os.close(fd)
        self._log(stream, b"", end=True)

    def _log(self, stream: str, data: bytes, end: bool = False) -> None:
        """Output reaches the log file even when the disk refuses it for a
        while: a failed write drops that output, never the shim."""
        if self.writer is None:
            return
        try:
            if end:
                self.writer.flush(stream)
            else:
                self.writer.write(stream, data)
        except OSError:
            self.log_errors += 1

    def _update_outputs(self) -> None:
        """Backpressure: stop reading the container while a client lags."""
        pause = any(len(c.outbuf) > HIGH_WATER for c in self.clients.values())
        if pause == self.paused:
            return
        self.paused = pause
        for fd in self.outputs:
            if pause:
                self._unwatch(fd)
            else:
                self._watch(fd, _IN, lambda events, fd=fd: self._on_output(fd))

    def _on_accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                sock = accept_unix(self.listener)
            except OSError:  # none waiting (BlockingIOError), or the listener failed
                return
            if len(self.clients) >= MAX_CLIENTS:
                sock.close()
                continue
            sock.setblocking(False)
            client = AttachClient(sock)
            self.clients[client.fd] = client
            self._watch(client.fd, _IN, lambda events, c=client: self._on_client(c, events))

    def _on_client(self, client: AttachClient, events: int) -> None:
        if events & _IN and client.reading:
            try:
                data = client.sock.recv(65536)
            except BlockingIOError:
                data = None
            except OSError:
                self._drop(client)
                return
            if data == b"":
                client.reading = False
            elif data:
                had_handshake = client.handshake is not None
                try:
                    frames = client.receive(data)
                    hs = client.handshake
                    if hs is not None and not had_handshake:
                        self._resize(hs.height, hs.width)
                    for kind, payload in frames:
                        self._client_frame(client, kind, payload)
                except ProtocolError:
                    self._drop(client)
                    return
        elif events & _GONE:
            self._drop(client)
            return
        self._flush_client(client)

    def _client_frame(self, client: AttachClient, kind: int, payload: bytes) -> None:
        hs = client.handshake
        may_write = hs is not None and hs.stdin and self.stdin_w >= 0 and not self.stdin_eof
        if kind == KIND_STDIN:
            if may_write:
                self.stdin_buf += payload
                self._pump_stdin()
        elif kind == KIND_STDIN_EOF:
            if may_write:
                self.stdin_eof = True
                self._pump_stdin()
        elif kind == KIND_RESIZE:
            try:
                size = loads(payload)
            except ValueError as exc:
                raise ProtocolError(f"resize payload is not json: {exc}") from exc
            self._resize(*parse_size(size))
        else:
            raise ProtocolError(f"frame kind {kind} is not sent by clients")

    def _pump_stdin(self) -> None:
        was_full = len(self.stdin_buf) >= HIGH_WATER
        try:
            while self.stdin_buf:
                del self.stdin_buf[:os.write(self.stdin_w, self.stdin_buf)]
        except BlockingIOError:
            pass
        except OSError:
            self.stdin_buf.clear()
            self.stdin_eof = True
        if self.stdin_buf:
            self._watch(self.stdin_w, _OUT, lambda events: self._pump_stdin())
        elif self.stdin_eof:
            self._unwatch(self.stdin_w)
            os.close(self.stdin_w)
            self.stdin_w = -1
        else:
            self._unwatch(self.stdin_w)
        if was_full != (len(self.stdin_buf) >= HIGH_WATER):
            for client in self.clients.values():
                self._update_client(client)

    def _flush_client(self, client: AttachClient) -> None:
        try:
            client.send_pending()
        except OSError:
            self._drop(client)
            return
        self._update_client(client)

    def _update_client(self, client: AttachClient) -> None:
        if client.fd not in self.clients:
            return
        mask = _OUT if client.outbuf else 0
        if client.reading and len(self.stdin_buf) < HIGH_WATER:
            mask |= _IN
        self._watch(client.fd, mask, self._handlers[client.fd])
        self._update_outputs()

    def _drop(self, client: AttachClient) -> None:
        if self.clients.pop(client.fd, None) is None:
            return
        self._unwatch(client.fd)
        client.close()
        self._update_outputs()
