"""``barque-oci exec`` run by the warm zygote, behind the part of
:class:`subprocess.Popen` an exec session uses.

:func:`spawn_warm` makes the pipes (or opens /dev/null) as ``Popen`` would,
hands the child's ends to the zygote (:meth:`Zygote.exec_oci`), closes them
here, and returns a :class:`WarmProcess` once the relay named the worker's pid.
The gRPC process forks nothing: the zygote forks the relay, the relay the worker
(:mod:`services.runtime.shim.execrelay`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from typing import IO

from client.errors import Internal
from services.runtime.shim.client import Zygote

__all__ = ["WarmProcess", "spawn_warm"]

#: how long the relay may take to name the worker
START_TIMEOUT = 30.0
#: a reply line longer than this breaks the protocol
_MAX_LINE = 4096


class WarmProcess:
    """A worker of the zygote: ``pid``, ``stdin``/``stdout``/``stderr`` (file
    objects or None), ``poll``, ``wait``, ``send_signal``, ``kill``, ``terminate``
    and ``returncode`` as ``subprocess.Popen`` has them.

    A thread reads the relay's status line; a relay that hangs up without one
    (it was killed) counts as a worker killed by SIGKILL.
    """

    def __init__(self, sock: socket.socket, args: list[str], stdin: IO[bytes] | None = None,
                 stdout: IO[bytes] | None = None, stderr: IO[bytes] | None = None) -> None:
        self.args = args
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.returncode: int | None = None
        self._sock: socket.socket | None = sock
        self._buf = b""
        self._lock = threading.Lock()
        self._done = threading.Event()
        sock.settimeout(START_TIMEOUT)
        try:
            reply = self._reply()
            self.pid = int(reply["pid"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            sock.close()
            raise Internal(f"the zygote did not start barque-oci exec: {exc or 'no reply'}") from exc
        sock.settimeout(None)
        threading.Thread(target=self._await_status, daemon=True, name=f"exec-relay-{self.pid}").start()

    def _reply(self) -> dict:
        """The relay's next JSON line (ValueError at EOF or when it says it failed)."""
        assert self._sock is not None
        while b"\n" not in self._buf:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise ValueError("the relay hung up")
            self._buf += chunk
            if len(self._buf) > _MAX_LINE:
                raise ValueError("the relay's reply is too long")
        line, _, self._buf = self._buf.partition(b"\n")
        doc = json.loads(line)
        if not isinstance(doc, dict):
            raise ValueError(f"the relay sent {line[:80]!r}")
        if "error" in doc:
            raise ValueError(str(doc["error"]))
        return doc

    def _await_status(self) -> None:
        try:
            code = int(self._reply()["status"])
        except (OSError, ValueError, KeyError, TypeError):
            code = -signal.SIGKILL
        with self._lock:
            self.returncode = code
            if self._sock is not None:
                self._sock.close()
                self._sock = None
        self._done.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)  # type: ignore[arg-type]
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        """Signal the worker through its relay (which has not reaped it yet, so the
        pid names it); nothing once it ended."""
        with self._lock:
            if self.returncode is not None or self._sock is None:
                return
            try:
                self._sock.sendall(json.dumps({"signal": int(sig)}).encode() + b"\n")
            except OSError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def spawn_warm(zygote: Zygote, args: list[str], *, stdin: bool, stdout: bool,
               stderr: bool) -> WarmProcess:
    """``barque-oci ARGS`` (no program name) in a worker of ``zygote``, each
    stream a pipe when asked for (our end a file object, as Popen's) else /dev/null."""
    theirs: list[int] = []  # the worker's ends, closed here once the zygote has copies
    ours: dict[str, IO[bytes]] = {}
    stdio: list[int] = []
    try:
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        theirs.append(null)
        for name, wanted in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)):
            if not wanted:
                stdio.append(null)
                continue
            r, w = os.pipe()  # close-on-exec: the worker gets its end only by SCM_RIGHTS
            theirs.append(r if name == "stdin" else w)
            ours[name] = open(w, "wb") if name == "stdin" else open(r, "rb")
            stdio.append(theirs[-1])
        sock = zygote.exec_oci(args, (stdio[0], stdio[1], stdio[2]))
        try:
            return WarmProcess(sock, args, **ours)
        except BaseException:
            sock.close()
            raise
    except BaseException:
        for f in ours.values():
            f.close()
        raise
    finally:
        for fd in theirs:
            os.close(fd)
