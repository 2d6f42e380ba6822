"""The runtime's side of the embedded DNS responder (:mod:`.dns`): the name
table it serves, written from the network state on every change, and the
process, started in a session of its own when the first user-defined
network exists and stopped with the runtime (its pid file names it)."""

from __future__ import annotations

import json
import os
import sys
import time

from services.common.atomic import write_atomic
from services.runtime.network.etc_files import host_nameservers
from services.runtime.network.state import NetworkState
from services.runtime.shim.served import ServedProcess

__all__ = ["DnsResponder", "name_table"]

_MODULE = "services.runtime.network.dns"


def name_table(state: NetworkState, upstream: list[str]) -> dict:
    """The table :mod:`.dnstable` reads: the user-defined networks and their
    running containers' names (the default bridge has no name resolution)."""
    networks = {n.id: {"name": n.name, "gateway": n.gateway, "internal": n.internal}
                for n in state.networks.values() if not n.builtin}
    endpoints = [{"network": ep.network_id, "container": ep.container_id, "ip": ep.ip, "names": ep.names}
                 for ep in state.endpoints.values() if ep.network_id in networks and ep.active and ep.names]
    return {"upstream": upstream, "networks": networks, "endpoints": endpoints}


class DnsResponder:
    def __init__(self, directory: str, resolv_source: str, port: int = 53, python: str = sys.executable) -> None:
        self.directory = directory
        self.table = os.path.join(directory, "table.json")
        self.resolv_source = resolv_source
        self.port = port
        pid_file = os.path.join(directory, "dns.pid")
        self.process = ServedProcess([python, "-m", _MODULE, "--table", self.table, "--pid-file", pid_file,
                                      "--port", str(port)], pid_file, (_MODULE, self.table))

    def update(self, state: NetworkState) -> None:
        """Write the table; start the responder when a user network needs it."""
        doc = name_table(state, host_nameservers(self.resolv_source))
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        write_atomic(self.table, json.dumps(doc, indent=1).encode(), mode=0o600)
        if doc["networks"] and self.process.pid() is None:
            self._start()

    def _start(self, timeout: float = 15.0) -> None:
        launcher = self.process.spawn()
        deadline = time.monotonic() + timeout
        while self.process.pid() is None and time.monotonic() < deadline:
            if launcher.poll() is not None:
                return  # it logged why; the next change tries again
            time.sleep(0.01)

    def stop(self, timeout: float = 5.0) -> None:
        self.process.stop(timeout)
