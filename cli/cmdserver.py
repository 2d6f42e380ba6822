"""The warm command server behind the ``barque`` launcher (:mod:`cli.launcher`).

One server per uid holds the CLI's modules, grpc and the contracts already
imported, and forks a worker per command. The server itself never creates a
channel or a thread, so forking it is safe for grpc: each worker makes its
own channels, as a fresh ``barque`` process would.

A worker becomes the command: it takes the launcher's stdin, stdout and
stderr, working directory, umask, environment (so the config and every
``BARQUE_*`` variable are read afresh) and argv, rebuilds ``sys.std*`` over
those descriptors, restores the signal dispositions a fresh interpreter has,
and runs :func:`cli.main.main`. The server reports its exit status.

Only a caller of the server's own uid is served (SO_PEERCRED); the socket is
0600 in a 0700 directory of that uid. The server exits after
:data:`IDLE_EXIT` idle seconds, on SIGTERM once its workers are done, and
after answering a request when any of its loaded source files changed on
disk (the launcher then runs that command in-process and starts a new one).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import time
from pathlib import Path

from cli.launcher import PROTOCOL, socket_path
from cli.main import exit_now

__all__ = ["serve", "parse_request", "Request", "IDLE_EXIT", "server_pid", "default_socket"]

#: seconds without a command after which the server exits
IDLE_EXIT = 900.0
#: the most a request may take to arrive once connected
REQUEST_TIMEOUT = 5.0
MAX_REQUEST = 4 << 20
_SOURCE_ROOT = Path(__file__).resolve().parents[1]
#: modules a command may need, imported before the first fork (grpc imports
#: its channel modules on the first channel; importing them creates no thread)
PRELOAD = ("cli.main", "cli.containers", "cli.exec", "cli.images", "cli.run", "cli.system", "cli.tty",
           "cli.progress", "cli.format", "grpc", "grpc._channel", "grpc._interceptor", "grpc._simple_stubs",
           "grpc.experimental", "barque.runtime.v1.runtime_pb2_grpc",
           "barque.images.v1.images_pb2_grpc", "barque.registry.v1.registry_pb2_grpc")


class Request:
    """One command: argv (without the program name), cwd, umask and env, all bytes."""

    def __init__(self, argv: list[bytes], cwd: bytes, umask: int, env: dict[bytes, bytes]) -> None:
        self.argv, self.cwd, self.umask, self.env = argv, cwd, umask, env


def parse_request(payload: bytes) -> Request:
    """The launcher's payload; ValueError when it is not one."""
    fields = payload.split(b"\0")
    if len(fields) < 4 or fields[0] != PROTOCOL:
        raise ValueError("not a barque-cli/1 request")
    cwd, umask, argc = fields[1], int(fields[2], 8), int(fields[3])
    if argc < 0 or 4 + argc > len(fields):
        raise ValueError("argc out of range")
    argv = fields[4:4 + argc]
    env = {}
    for item in fields[4 + argc:]:
        key, sep, value = item.partition(b"=")
        if sep and key:
            env[key] = value
    return Request(argv, cwd, umask, env)


def _source_stamp() -> dict[str, int]:
    """mtime of every loaded module of ours, to notice a reinstall."""
    out = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.startswith(str(_SOURCE_ROOT)):
            try:
                out[path] = os.stat(path).st_mtime_ns
            except OSError:
                out[path] = -1
    return out


def _stale(stamp: dict[str, int]) -> bool:
    for path, mtime in stamp.items():
        try:
            if os.stat(path).st_mtime_ns != mtime:
                return True
        except OSError:
            return True
    return False


def _recv_request(conn: socket.socket) -> tuple[bytes, list[int]]:
    """The payload and the three descriptors; closes any descriptors on failure."""
    conn.settimeout(REQUEST_TIMEOUT)
    fds: list[int] = []
    data, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(3 * 4))
    for level, kind, blob in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += list(struct.unpack(f"{len(blob) // 4}i", blob[:len(blob) // 4 * 4]))
    try:
        while len(data) < 4:
            chunk = conn.recv(4096)
            if not chunk:
                raise ValueError("short request")
            data += chunk
        size = int.from_bytes(data[:4], "big")
        if size > MAX_REQUEST:
            raise ValueError("request too large")
        while len(data) < 4 + size:
            chunk = conn.recv(65536)
            if not chunk:
                raise ValueError("short request")
            data += chunk
        if len(fds) != 3:
            raise ValueError("expected stdin, stdout and stderr")
        return data[4:4 + size], fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _peer_uid(conn: socket.socket) -> int:
    _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid


def _become_command(request: Request, fds: list[int], keep_closed: list[int]) -> None:
    """In the worker: take the caller's stdio, place and environment, then run the CLI."""
    for fd in keep_closed:
        try:
            os.close(fd)
        except OSError:
            pass
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                   signal.SIGUSR2, signal.SIGWINCH, signal.SIGTSTP, signal.SIGCONT):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)
    os.chdir(request.cwd)
    os.umask(request.umask)
    os.environ.clear()
    os.environb.update(request.env)
    sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
    sys.stdout = open(1, "w", 1 if os.isatty(1) else -1, "utf-8", closefd=False)
    sys.stderr = open(2, "w", 1, "utf-8", "backslashreplace", closefd=False)
    argv = [os.fsdecode(a) for a in request.argv]
    sys.argv = ["barque", *argv]
    from cli.main import main

    main(argv)


def _run_worker(request: Request, fds: list[int], keep_closed: list[int]) -> None:
    """Never returns: the worker's status is its exit."""
    code = 1
    try:
        _become_command(request, fds, keep_closed)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        exit_now(code)


def _prepare_socket(path: Path) -> tuple[socket.socket, int]:
    """(listening socket, lock fd), or SystemExit(0) when a live server holds the lock.
    The lock file holds the server's pid."""
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = directory.stat()
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise SystemExit(f"barque-cli server: {directory} must be ours and not writable by others")
    lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(0) from None
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old)
    listener.listen(64)
    return listener, lock


def serve(path: Path, idle_exit: float = IDLE_EXIT) -> None:
    """Serve commands on ``path`` until idle, stale or SIGTERM. Once stopping,
    the socket and the lock are let go at once, so the next launcher starts a
    new server while this one waits for its workers' exits."""
    stopping = False

    def on_term(signum, frame):
        nonlocal stopping
        stopping = True

    # before the socket exists: a SIGTERM while the modules load must still
    # let go of the socket and the lock
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGCHLD, lambda s, f: None)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    listener, lock = _prepare_socket(path)
    bound = os.stat(path).st_ino
    open_ = True
    try:
        for name in PRELOAD:
            if stopping:
                break
            __import__(name)
        else:
            sys.modules["cli.main"].command_parser()
            __import__("client.version").version.build_info()  # computed once per process anyway
        stamp = _source_stamp()
        workers: dict[int, socket.socket] = {}
        last = time.monotonic()
        while True:
            _reap(workers)
            if workers:
                last = time.monotonic()
            if open_ and (stopping or time.monotonic() - last > idle_exit):
                stopping, open_ = True, False
                _let_go(listener, path, bound, lock)
            if stopping and not workers:
                return
            ready, _, _ = select.select([listener.fileno(), wake_r] if open_ else [wake_r], [], [], 1.0)
            if wake_r in ready:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            if open_ and listener.fileno() in ready and not stopping:
                last = time.monotonic()
                if _accept(listener, workers, [listener.fileno(), wake_r, wake_w, lock], stamp):
                    stopping = True  # our code changed under us: answer no more
    finally:
        if open_:
            _let_go(listener, path, bound, lock)


def _accept(listener: socket.socket, workers: dict[int, socket.socket], keep_closed: list[int],
            stamp: dict[str, int]) -> bool:
    """Serve one connection; True when the server's code is stale."""
    conn, _ = listener.accept()
    try:
        if _peer_uid(conn) != os.geteuid():
            conn.close()
            return False
        payload, fds = _recv_request(conn)
        request = parse_request(payload)
    except (OSError, ValueError):
        conn.close()
        return False
    if _stale(stamp):
        for fd in fds:
            os.close(fd)
        _send(conn, b"R\n")
        conn.close()
        return True
    pid = os.fork()
    if pid == 0:
        _run_worker(request, fds, [*keep_closed, *(c.fileno() for c in workers.values()), conn.fileno()])
    for fd in fds:
        os.close(fd)
    workers[pid] = conn
    _send(conn, b"P%d\n" % pid)
    return False


def _send(conn: socket.socket, data: bytes) -> None:
    try:
        conn.settimeout(REQUEST_TIMEOUT)
        conn.sendall(data)
    except OSError:
        pass


def _reap(workers: dict[int, socket.socket]) -> None:
    while workers:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = workers.pop(pid, None)
        if conn is None:
            continue
        if os.WIFSIGNALED(status):
            _send(conn, b"K%d\n" % os.WTERMSIG(status))
        else:
            _send(conn, b"X%d\n" % os.waitstatus_to_exitcode(status))
        conn.close()


def _let_go(listener: socket.socket, path: Path, bound: int, lock: int) -> None:
    """Close the socket, remove its file if it is still ours, release the lock."""
    try:
        if os.stat(path).st_ino == bound:
            path.unlink()
    except OSError:
        pass
    listener.close()
    os.close(lock)


def default_socket() -> Path:
    """The socket the launcher of this uid and environment uses."""
    return Path(os.fsdecode(socket_path(os.environb, os.geteuid())))


def server_pid(path: Path) -> int:
    """The pid of the live command server listening on ``path``, else 0: the
    pid its lock file names, if that process is a command server."""
    try:
        pid = int(Path(f"{path}.lock").read_text().strip() or 0)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().split(b"\0")
    except (OSError, ValueError):
        return 0
    return pid if b"cli.cmdserver" in cmdline else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="barque-cli-server")
    parser.add_argument("--socket", required=True, help="unix socket path to listen on")
    parser.add_argument("--idle-exit", type=float, default=IDLE_EXIT, help="seconds idle before exiting")
    args = parser.parse_args(argv)
    serve(Path(args.socket), args.idle_exit)
    os._exit(0)  # nothing to tear down: skip the interpreter's slow exit


if __name__ == "__main__":
    main()
