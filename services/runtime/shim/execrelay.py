"""The zygote's ``exec_oci`` request: ``barque-oci exec`` run warm, streaming.

The runtime service sends barque-oci's arguments and three descriptors (the
exec's stdin, stdout and stderr: pipe ends or /dev/null) with SCM_RIGHTS. The
zygote forks a relay for the request and goes back to accepting at once; the
relay forks the worker, which makes the descriptors its fds 0, 1 and 2, closes
every other one and runs barque-oci's main in-process (no interpreter start-up,
no imports: the zygote has them). The process's output flows straight through
the pipes to the runtime, never through the relay.

On the connection, one JSON line each way at a time::

    relay -> runtime  {"pid": N}      at once: the worker's pid
    runtime -> relay  {"signal": S}   any number: signal S to the worker, if it
                                      has not been reaped (its pid cannot have
                                      been reused then)
    relay -> runtime  {"status": C}   last: the worker's exit code, or -SIG when a
                                      signal killed it (as Popen.returncode)

When the runtime hangs up first, the relay stops reading and still waits for
the worker, as a subprocess of a departed parent would run on; it exits once
the worker did, so nothing outlives the exec. The relay holds no descriptor
of the exec's stdio: an end of file on the pipes means the worker and the
container's process closed them.
"""

from __future__ import annotations

import _signal
import json
import os
import select
import sys

from .ocirun import run_oci_inproc

__all__ = ["STDIO_FDS", "relay"]

#: descriptors an exec_oci request carries: stdin, stdout, stderr
STDIO_FDS = 3
#: longest run of signal requests without a newline the relay reads
_MAX_PENDING = 4096


def relay(conn, args: list[str], stdio: list[int]) -> None:
    """In the zygote's forked child: run the worker, report its pid and its
    status on ``conn``, exit. ``stdio`` are the received descriptors."""
    try:
        pid = os.fork()
    except OSError as exc:
        _close(stdio)
        _reply(conn, {"error": f"fork: {exc.strerror}"})
        os._exit(1)
    if pid == 0:
        _worker(conn, args, stdio)
    _close(stdio)
    _reply(conn, {"pid": pid})
    _reply(conn, {"status": _wait(conn, pid)})
    os._exit(0)


def _worker(conn, args: list[str], stdio: list[int]) -> None:
    """In the relay's child: barque-oci on ``stdio``; never returns."""
    code = 1
    try:
        for target, fd in enumerate(stdio):  # received fds are >= 3: 0-2 are open in the zygote
            os.dup2(fd, target)
        conn.close()
        from services.runtime.oci.syscalls import close_fds_from  # preloaded by the zygote

        close_fds_from(3)  # the zygote's listener copy is gone; no other connection may leak in
        code = run_oci_inproc(args)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    except BaseException:
        try:
            sys.excepthook(*sys.exc_info())  # as a fresh interpreter would: a traceback, status 1
        except BaseException:
            pass
    os._exit(code)


def _wait(conn, pid: int) -> int:
    """Wait for the worker, serving signal requests meanwhile; its returncode."""
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    cfd = conn.fileno()
    poller.register(cfd, select.POLLIN)
    pending = b""
    try:
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if pidfd in ready:
                break
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            pending += data
            if not data or len(pending) > _MAX_PENDING:
                poller.unregister(cfd)  # the runtime hung up (or broke the protocol): only wait
                continue
            *lines, pending = pending.split(b"\n")
            for line in lines:
                _signal_worker(pid, line)
    finally:
        os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _signal_worker(pid: int, line: bytes) -> None:
    try:
        sig = json.loads(line)["signal"]
        if isinstance(sig, int) and not isinstance(sig, bool) and 0 < sig < _signal.NSIG:
            os.kill(pid, sig)
    except (ValueError, TypeError, KeyError, OSError):
        pass


def _reply(conn, doc: dict) -> None:
    try:
        conn.sendall(json.dumps(doc).encode() + b"\n")
    except OSError:
        pass  # the runtime is gone; the worker is waited for all the same


def _close(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
