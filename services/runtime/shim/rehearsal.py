"""A shim's life rehearsed inside the zygote, before it freezes and forks.

Running Python code for the first time in a process writes more than
running it again: the interpreter fills its attribute cache (and swaps the
names it holds references to), tags types with versions, fills free lists
and buffers. A shim forked from the zygote pays each of those writes with a
copied page, kept for the container's whole life. So the zygote runs the
shim's own code on a stand-in container, and every shim it forks finds
those caches warm: about 0.25 MiB less per shim (issue 10).

Once is not enough: CPython 3.11 counts a code object's first calls in the
code object itself, rewrites ("quickens") its bytecode on the 8th, and then
counts down in the bytecode's inline caches until each instruction is
specialised. Every one of those writes in a function a shim runs was a page
copied into every shim; rehearsed 16 times (the zygote's ``times``), the
shim's code reaches its steady state first: about 0.07 MiB less per shim
with 20 running than a single rehearsal.

The stand-in goes through the real :class:`Supervisor`: state dir, attach
socket and pipes, the setup worker, an attach client's handshake (as an
attaching client sends it), the container's exit, the final status.
Only the OCI runtime is left out: the worker's create and start return a
waiting child of the zygote as the container's init and a timestamp. The
zygote's signal dispositions, wakeup fd, working directory and open
descriptors are restored, and the scratch dir is removed. A rehearsal that
fails leaves the zygote as it was, only colder.
"""

from __future__ import annotations

import _signal
import _socket
import gc
import os
import time

from .logfile import format_timestamp
from .options import parse_args
from .protocol import encode_handshake
from .statedir import SOCKET_FILE
from .supervisor import Supervisor

__all__ = ["rehearse"]

_SIGNALS = (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP, _signal.SIGCHLD)


def rehearse(scratch: str, times: int = 1) -> bool:
    """Run a stand-in container through a Supervisor in this process, in the
    directory ``scratch`` (created, then removed), ``times`` over; whether
    every run reached its end (a failed run ends the rehearsal)."""
    for _ in range(times):
        if not _rehearse_once(scratch):
            return False
    return True


def _rehearse_once(scratch: str) -> bool:
    saved = {sig: _signal.getsignal(sig) for sig in _SIGNALS}
    cwd = os.getcwd()
    fds = _open_fds()
    hold_r, hold_w = os.pipe()
    init = os.fork()
    if init == 0:  # the stand-in container: waits until the rehearsal lets it exit
        os.close(hold_w)
        os.read(hold_r, 1)
        os._exit(0)
    os.close(hold_r)
    try:
        os.makedirs(scratch, 0o700, exist_ok=True)
        return _run(scratch, init, hold_w)
    except Exception:  # noqa: BLE001 - the zygote serves all the same, only colder
        return False
    finally:
        _signal.set_wakeup_fd(-1)
        for sig, handler in saved.items():
            _signal.signal(sig, handler)
        os.chdir(cwd)
        gc.collect()  # the supervisor's sockets and epoll close themselves, first
        for fd in _open_fds() - fds:  # then what raw descriptors a failure left
            os.close(fd)
        try:
            os.kill(init, _signal.SIGKILL)
            os.waitpid(init, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        _remove_tree(scratch)


def _run(scratch: str, init: int, hold_w: int) -> bool:
    opts = parse_args(["--id", "rehearsal", "--bundle", scratch, "--state-dir", scratch,
                       "--runtime", "rehearsal", "--runtime-root", scratch,
                       "--log-path", f"{scratch}/rehearsal.log", "--log-driver", "json-file"])
    sup = Supervisor(opts)
    # the OCI runtime is the one part left out (it runs in the setup worker anyway)
    sup._worker_steps = lambda: (  # type: ignore[method-assign]
        lambda: None, lambda: init, lambda pid: format_timestamp(time.time_ns()))
    sup.prepare()
    sup.create()
    client = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        client.connect(SOCKET_FILE)  # relative: prepare() entered the state dir
        client.sendall(encode_handshake(False, False, False))
        sup.wait_for_attach()
        sup.start()
        os.close(hold_w)  # the stand-in exits; its supervisor reaps it
        sup.supervise()
        sup.finish()
        return sup.exit == (0, None)
    finally:
        client.close()
        sup.ep.close()


def _open_fds() -> set[int]:
    """This process's open descriptors (not the one that listed them)."""
    listed = [int(fd) for fd in os.listdir("/proc/self/fd")]
    return {fd for fd in listed if _is_open(fd)}


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _remove_tree(path: str) -> None:
    """The scratch dir and the files the stand-in left in it."""
    try:
        for name in os.listdir(path):
            os.unlink(f"{path}/{name}")
        os.rmdir(path)
    except OSError:
        pass
