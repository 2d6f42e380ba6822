"""The runtime's side of the network helper (:mod:`.helper`): starts it when
none answers, sends it one request per connection, stops it by its pid."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from client.errors import CATEGORIES, Internal, Unavailable

__all__ = ["NetworkHelper"]

_BY_CODE = {category.code_name: category for category in CATEGORIES}
_MODULE = "services.runtime.network.helper"


class NetworkHelper:
    def __init__(self, directory: str, python: str = sys.executable) -> None:
        self.directory = directory
        self.socket_path = os.path.join(directory, "helper.sock")
        self.pid_file = os.path.join(directory, "helper.pid")
        self._python = python
        self._launcher: subprocess.Popen | None = None

    def pid(self) -> int | None:
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, ValueError):
            return None
        return pid if _MODULE.encode() in cmdline and self.socket_path.encode() in cmdline else None

    def _connect(self, timeout: float | None) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        return sock

    def ensure(self, timeout: float = 15.0) -> int:
        """The helper's pid, starting one if none is serving."""
        pid = self.pid()
        if pid is not None:
            try:
                self._connect(1.0).close()
                return pid
            except OSError:
                pass
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        source_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        self._launcher = subprocess.Popen(
            [self._python, "-m", _MODULE, "--socket", self.socket_path, "--pid-file", self.pid_file],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=None,
            close_fds=True, start_new_session=True, cwd=source_root,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._launcher.poll() is not None:
                raise Unavailable(f"network helper exited with status {self._launcher.returncode}")
            pid = self.pid()
            if pid is not None:
                try:
                    self._connect(1.0).close()
                    return pid
                except OSError:
                    pass
            time.sleep(0.01)
        raise Unavailable(f"network helper did not come up within {timeout:.0f}s")

    def call(self, op: str, timeout: float = 60.0, **args: Any) -> Any:
        """Run ``op`` in a helper child; its result, or the error it raised
        (same category, same one-line message)."""
        try:
            sock = self._connect(timeout)
        except OSError:
            self.ensure()
            sock = self._connect(timeout)
        with sock:
            sock.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        try:
            reply = json.loads(data)
        except ValueError as exc:
            raise Internal(f"network helper gave no answer to {op}") from exc
        if "error" in reply:
            raise _BY_CODE.get(reply.get("code"), Internal)(reply["error"])
        return reply.get("result")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the helper (containers' networks stay as they are)."""
        pid = self.pid()
        if pid is not None:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while self.pid() is not None and time.monotonic() < deadline:
                time.sleep(0.01)
        if self._launcher is not None:
            self._launcher.wait(timeout)
            self._launcher = None
