"""A long-lived helper process of the runtime's, known by its pid file: the
zygote, the network helper and the DNS responder.

Each is started in a session of its own (so it outlives a restart of the
service, and the gRPC server never forks into it), recognised by its command
line (a reused pid is not taken for it), reached on its unix socket when it
has one, and stopped with SIGTERM. Imports only the standard library: the
zygote's client is on the path of every container start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

__all__ = ["ServedProcess", "SOURCE_ROOT"]

#: the directory holding the ``services`` package, where ``python -m`` finds it
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class ServedProcess:
    def __init__(self, argv: list[str], pid_file: str, markers: tuple[str, ...], *,
                 socket_path: str = "", cwd: str = SOURCE_ROOT, quiet: bool = False) -> None:
        """``argv`` starts it; ``markers`` are strings its command line holds
        (its module and its socket or table path); ``quiet`` sends its
        stderr to /dev/null instead of the service's."""
        self.argv = argv
        self.pid_file = pid_file
        self.socket_path = socket_path
        self._markers = [m.encode() for m in markers]
        self._cwd = cwd
        self._quiet = quiet
        self.launcher: subprocess.Popen | None = None

    def pid(self) -> int | None:
        """Its pid while it runs, from the pid file and checked against /proc."""
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, ValueError):
            return None
        return pid if all(m in cmdline for m in self._markers) else None

    def spawn(self) -> subprocess.Popen:
        self.launcher = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL if self._quiet else None, close_fds=True, start_new_session=True,
            cwd=self._cwd)
        return self.launcher

    def connect(self, timeout: float | None) -> socket.socket:
        """A connection to its socket (OSError when nothing listens)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        return sock

    def answering(self) -> int | None:
        """Its pid if it runs and accepts connections."""
        pid = self.pid()
        if pid is None:
            return None
        try:
            self.connect(1.0).close()
        except OSError:
            return None
        return pid

    def ensure(self, what: str, failed: type[Exception], timeout: float, poll: float = 0.01) -> int:
        """Its pid, starting it when none answers; ``failed(message)`` is
        raised when the one started exits or does not answer in time."""
        pid = self.answering()
        if pid is not None:
            return pid
        os.makedirs(os.path.dirname(self.pid_file), mode=0o700, exist_ok=True)
        launcher = self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if launcher.poll() is not None:
                raise failed(f"{what} exited with status {launcher.returncode}")
            pid = self.answering()
            if pid is not None:
                return pid
            time.sleep(poll)
        raise failed(f"{what} did not come up within {timeout:.0f}s")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM it and wait for it to go (what it serves stays as it is)."""
        pid = self.pid()
        if pid is not None:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while self.pid() is not None and time.monotonic() < deadline:
                time.sleep(0.01)
        if self.launcher is not None:
            try:
                self.launcher.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            self.launcher = None
