"""The ``barque`` command as installed: a tiny client of the warm command
server (:mod:`cli.cmdserver`), as Mercurial's ``chg`` is of ``hg``.

Starting Python with grpc and the contracts takes a few hundred milliseconds;
a command's own work takes a few. This file starts with ``python -IS`` and
imports only built-in C modules (``_socket``, ``_signal``, ``posix``), so it
is running in about 10 ms. It hands the command to a warm server of the
caller's own uid over a unix socket: argv, working directory, umask and
environment, with stdin, stdout and stderr passed as descriptors
(SCM_RIGHTS). The server forks a worker that runs :func:`cli.main.main` on
those descriptors. The launcher relays the signals a terminal or a caller
sends it (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1/2, SIGTSTP and
SIGCONT) to the worker, and exits with the worker's status, or dies of the worker's signal.

Who starts and stops the server: the first call that finds none starts one
(in the background, running this command in-process meanwhile), as ``chg``
does; it exits after :data:`cli.cmdserver.IDLE_EXIT` seconds without a
command, when its code on disk changes (``make install``), or on SIGTERM
(``make down``). A dead server is replaced by the next call.

Without a server (``BARQUE_CLI_SERVER=0``, or any failure to reach one) the
command runs in-process, exactly as ``python -m cli``.

Wire format, one request per connection: the launcher sends a 4-byte
big-endian length and a payload of NUL-separated fields, ``barque-cli/1``,
cwd, umask (octal), argc, argv..., env ``KEY=VALUE``..., with fds 0, 1 and 2
attached to the first byte. The server answers lines: ``P<pid>`` once the
worker runs, then ``X<code>`` (exit status) or ``K<signal>`` (killed); or
only ``R`` (refused: stale code, bad request), which makes the launcher run
the command in-process.
"""

import _signal
import _socket
import posix
import sys

PROTOCOL = b"barque-cli/1"
#: signals relayed to the worker; a terminal sends them to the launcher
RELAYED = tuple(getattr(_signal, name) for name in (
    "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGWINCH", "SIGUSR1", "SIGUSR2", "SIGCONT"))


def socket_path(env, uid: int) -> bytes:
    """Where the server of ``uid`` listens: ``$BARQUE_CLI_SOCKET``, else
    /run/barque/cli.sock for root, else a directory of the user's own."""
    if env.get(b"BARQUE_CLI_SOCKET"):
        return env[b"BARQUE_CLI_SOCKET"]
    if uid == 0:
        return b"/run/barque/cli.sock"
    base = env.get(b"XDG_RUNTIME_DIR") or b"/tmp"
    return base + b"/barque-cli-" + str(uid).encode() + b"/cli.sock"


def encode_request(cwd: bytes, umask: int, argv: list, env) -> bytes:
    fields = [PROTOCOL, cwd, b"%o" % umask, str(len(argv)).encode(), *argv]
    fields += [k + b"=" + v for k, v in env.items()]
    payload = b"\0".join(fields)
    return len(payload).to_bytes(4, "big") + payload


def _in_process(argv: list) -> None:
    """Run the full CLI in this process's place (``python -m cli``)."""
    exe = sys.executable
    posix.execv(exe, [exe, "-m", "cli", *argv])


def _start_server(path: bytes) -> None:
    """Start a server for ``path`` in its own session, stdio on /dev/null;
    it takes a lock, so of racing starts one survives."""
    null = posix.open("/dev/null", posix.O_RDWR)
    exe = sys.executable
    try:
        posix.posix_spawn(exe, [exe, "-m", "cli.cmdserver", "--socket", path.decode("utf-8", "surrogateescape")],
                          posix.environ, file_actions=[(posix.POSIX_SPAWN_DUP2, null, 0),
                                                       (posix.POSIX_SPAWN_DUP2, null, 1),
                                                       (posix.POSIX_SPAWN_DUP2, null, 2)],
                          setsid=True)
    except OSError:
        pass
    finally:
        posix.close(null)


class _Lines:
    """The server's answer, line by line: ``P`` and ``X`` may arrive in one read."""

    def __init__(self, sock) -> None:
        self.sock = sock
        self.buffer = b""

    def next(self) -> bytes:
        while b"\n" not in self.buffer:
            try:
                chunk = self.sock.recv(64)
            except InterruptedError:
                continue
            if not chunk:
                return b""
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"


def _die_of(signum: int) -> None:
    """Leave as the worker left: killed by ``signum``."""
    _signal.signal(signum, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_UNBLOCK, [signum])
    posix.kill(posix.getpid(), signum)
    posix._exit(128 + signum)


def run(argv: list) -> int:
    """Run ``argv`` through the server; never returns when it falls back."""
    env = posix.environ
    if env.get(b"BARQUE_CLI_SERVER") == b"0":
        _in_process(argv)
    path = socket_path(env, posix.geteuid())
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        _start_server(path)
        _in_process(argv)
    try:
        for fd in (0, 1, 2):
            posix.fstat(fd)
        umask = posix.umask(0o22)
        posix.umask(umask)
        request = encode_request(posix.getcwdb(), umask,
                                 [a.encode("utf-8", "surrogateescape") for a in argv], env)
        fds = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2))
        sock.sendmsg([request[:1]], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        sock.sendall(request[1:])
        answer = _Lines(sock)
        first = answer.next()
    except (OSError, ValueError, UnicodeError):
        first = b""
    if not first.startswith(b"P"):
        sock.close()
        if first.startswith(b"R"):  # a stale server let go of the socket: start its successor
            _start_server(path)
        _in_process(argv)
    worker = int(first[1:])

    def relay(signum, frame):
        try:
            posix.kill(worker, signum)
        except OSError:
            pass

    def suspend(signum, frame):  # Ctrl-Z: stop the worker, then ourselves; SIGCONT resumes both
        relay(_signal.SIGTSTP, frame)
        _signal.signal(_signal.SIGTSTP, _signal.SIG_DFL)
        posix.kill(posix.getpid(), _signal.SIGTSTP)
        _signal.signal(_signal.SIGTSTP, suspend)

    for signum in RELAYED:
        _signal.signal(signum, relay)
    _signal.signal(_signal.SIGTSTP, suspend)
    result = answer.next()
    if result.startswith(b"K"):
        _die_of(int(result[1:]))
    if result.startswith(b"X"):
        return int(result[1:])
    sys.stderr.write("barque: the command server went away\n")
    return 125


def main() -> None:
    posix._exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
