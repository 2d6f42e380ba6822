"""The runtime's side of the network helper (:mod:`.helper`): starts it when
none answers, sends it one request per connection, stops it by its pid."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from typing import Any

from client.errors import CATEGORIES, Internal, Unavailable
from services.runtime.network.process import HelperProcess

__all__ = ["NetworkHelper"]

_BY_CODE = {category.code_name: category for category in CATEGORIES}
_MODULE = "services.runtime.network.helper"


class NetworkHelper:
    def __init__(self, directory: str, python: str = sys.executable) -> None:
        self.directory = directory
        self.socket_path = os.path.join(directory, "helper.sock")
        self.process = HelperProcess(_MODULE, os.path.join(directory, "helper.pid"), self.socket_path, python)

    def pid(self) -> int | None:
        return self.process.pid()

    def _connect(self, timeout: float | None) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        return sock

    def _answering(self) -> int | None:
        pid = self.pid()
        if pid is None:
            return None
        try:
            self._connect(1.0).close()
        except OSError:
            return None
        return pid

    def ensure(self, timeout: float = 15.0) -> int:
        """The helper's pid, starting one if none is serving."""
        pid = self._answering()
        if pid is not None:
            return pid
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        launcher = self.process.spawn("--socket", self.socket_path, "--pid-file", self.process.pid_file)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if launcher.poll() is not None:
                raise Unavailable(f"network helper exited with status {launcher.returncode}")
            pid = self._answering()
            if pid is not None:
                return pid
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
        self.process.stop(timeout)
