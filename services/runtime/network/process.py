"""A long-lived helper process of the runtime's, known by its pid file: the
network helper and the DNS responder. Started in a session of its own with
``python -m MODULE ...`` (so it outlives a restart of the service and the
gRPC server never forks into it), recognised by its command line (a reused
pid is not taken for it), stopped with SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
import time

__all__ = ["HelperProcess", "SOURCE_ROOT"]

#: the directory holding the ``services`` package, where ``python -m`` finds it
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class HelperProcess:
    def __init__(self, module: str, pid_file: str, marker: str, python: str = sys.executable) -> None:
        """``marker``: a string its command line holds (its socket or table path)."""
        self.module = module
        self.pid_file = pid_file
        self._marker = marker.encode()
        self._python = python
        self.launcher: subprocess.Popen | None = None

    def pid(self) -> int | None:
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, ValueError):
            return None
        return pid if self.module.encode() in cmdline and self._marker in cmdline else None

    def spawn(self, *args: str) -> subprocess.Popen:
        self.launcher = subprocess.Popen(
            [self._python, "-m", self.module, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=None, close_fds=True, start_new_session=True, cwd=SOURCE_ROOT)
        return self.launcher

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
