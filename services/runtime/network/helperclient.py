"""The runtime's side of the network helper (:mod:`.helper`): starts it when
none answers, sends it one request per connection, stops it by its pid."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from client.errors import CATEGORIES, Internal, Unavailable
from services.runtime.shim.served import ServedProcess
from services.runtime.shim.unixsock import recv_line

__all__ = ["NetworkHelper"]

_BY_CODE = {category.code_name: category for category in CATEGORIES}
_MODULE = "services.runtime.network.helper"


class NetworkHelper:
    def __init__(self, directory: str, python: str = sys.executable) -> None:
        self.directory = directory
        self.socket_path = os.path.join(directory, "helper.sock")
        pid_file = os.path.join(directory, "helper.pid")
        self.process = ServedProcess([python, "-m", _MODULE, "--socket", self.socket_path, "--pid-file", pid_file],
                                     pid_file, (_MODULE, self.socket_path), socket_path=self.socket_path)

    def pid(self) -> int | None:
        return self.process.pid()

    def ensure(self, timeout: float = 15.0) -> int:
        """The helper's pid, starting one if none is serving."""
        return self.process.ensure("network helper", Unavailable, timeout)

    def call(self, op: str, timeout: float = 60.0, **args: Any) -> Any:
        """Run ``op`` in a helper child; its result, or the error it raised
        (same category, same one-line message)."""
        try:
            sock = self.process.connect(timeout)
        except OSError:
            self.ensure()
            sock = self.process.connect(timeout)
        with sock:
            sock.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
            data = recv_line(sock)
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
