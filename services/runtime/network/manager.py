"""Container networks as the runtime's core uses them: the default bridge,
a container's endpoint on it (address lease, veth, published ports), and
reconciling after a restart.

Runs in the gRPC server process but never forks there: namespaces, links
and firewall rules go through the network helper (:mod:`.helper`). What
runs here is the bookkeeping (:mod:`.state`, under its file lock) and the
host-port reservations: a published port is DNATed by the kernel, no
process copies its traffic, and the runtime holds a bound socket on each
host port (as Docker's port mapper does when its userland proxy is off), so
no other program can take a published port, and one taken already is
refused before anything is set up.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from client.errors import FailedPrecondition, InvalidArgument
from services.common.log import get_logger
from services.runtime.network.helperclient import NetworkHelper
from services.runtime.network.state import (
    Bridge,
    Endpoint,
    NetworkStore,
    Port,
    first_free_subnet,
    mac_for,
    new_id,
)

__all__ = ["Networks", "NetworkSettings", "PortRequest", "chain_prefix"]

log = get_logger()


@dataclass(frozen=True)
class NetworkSettings:
    """What a Networks is configured with ([network] in barque.toml)."""

    bridge: str = "barque0"
    subnet: str = ""              # "" = the first free /16 from 172.18.0.0
    netns_dir: Path = Path("/run/barque/netns")


@dataclass(frozen=True)
class PortRequest:
    """A published port as asked: host_port 0 = any free one; with
    host_port_end, the first free one from host_port to host_port_end."""

    proto: str
    container_port: int
    host_ip: str
    host_port: int
    host_port_end: int = 0


def chain_prefix(bridge: str) -> str:
    """Names of the firewall chains of the engine whose bridge is ``bridge``:
    ``BARQUE`` for the default one, ``BQ-<bridge>`` for others (tests run
    engines of their own beside the host's)."""
    return "BARQUE" if bridge == "barque0" else f"BQ-{bridge}"


class Networks:
    def __init__(self, state_dir: Path, settings: NetworkSettings, helper: NetworkHelper) -> None:
        self.settings = settings
        self.store = NetworkStore(state_dir)
        self.helper = helper
        self._reserved: dict[str, list[socket.socket]] = {}
        self._guard = threading.Lock()
        self._bridge_ready = False

    # ---- the bridge ----------------------------------------------------------------

    def bridge(self) -> Bridge:
        """The default bridge, made (and its base rules set) when missing."""
        with self.store.locked() as state:
            if self._bridge_ready and state.bridge is not None:
                return state.bridge
            if state.bridge is None:
                subnet = self.settings.subnet or first_free_subnet(self.helper.call("host_networks"))
                net = ipaddress.IPv4Network(subnet)
                state.bridge = Bridge(self.settings.bridge, str(net), str(next(net.hosts())), new_id())
            b = state.bridge
            self.helper.call("ensure_bridge", name=b.name, gateway=b.gateway, prefix_len=b.prefix_len)
            self._apply_firewall(state)
            self._bridge_ready = True
            return b

    def _apply_firewall(self, state) -> None:
        """Barque's chains made exactly what ``state`` says (call holding its lock)."""
        assert state.bridge is not None
        ports = [{"proto": p.proto, "host_ip": p.host_ip, "host_port": p.host_port,
                  "container_ip": ip, "container_port": p.container_port} for ip, p in state.published()]
        self.helper.call("firewall", nets=[{"bridge": state.bridge.name, "subnet": state.bridge.subnet,
                                            "ports": ports}], chain_prefix=chain_prefix(state.bridge.name))

    # ---- endpoints -----------------------------------------------------------------

    def netns_path(self, container_id: str) -> str:
        return str(self.settings.netns_dir / container_id)

    def connect(self, container_id: str, name: str, ports: list[PortRequest]) -> Endpoint:
        """Put the container on the bridge: its lease, a namespace at
        :meth:`netns_path` with eth0, the host ports reserved and DNATed.
        On failure nothing of it is left, the lease included."""
        bridge = self.bridge()
        self.settings.netns_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.store.locked() as state:
            stale = state.endpoints.get(container_id)
        if stale is not None:  # a start after a crash that left it: start afresh
            self.disconnect(container_id)
        try:
            held = self._reserve(container_id, name, ports)
            with self.store.locked() as state:
                ip = state.lease(container_id)
                endpoint = Endpoint(container_id, ip, mac_for(ip), new_id(), host_if=f"bq{container_id[:12]}",
                                    netns=self.netns_path(container_id))
                state.endpoints[container_id] = endpoint
            self.helper.call("attach", netns=endpoint.netns, host_if=endpoint.host_if, bridge=bridge.name,
                             ip=endpoint.ip, prefix_len=bridge.prefix_len, gateway=bridge.gateway,
                             mac=endpoint.mac)
            with self.store.locked() as state:
                endpoint = state.endpoints[container_id]
                endpoint.active, endpoint.ports = True, held
                if held:
                    self._apply_firewall(state)
        except BaseException:
            self.disconnect(container_id)
            raise
        return endpoint

    def disconnect(self, container_id: str) -> None:
        """Undo :meth:`connect`: rules, reservations, veth and namespace, then
        the lease (last, so the address and its MAC never sit on two ports of
        the bridge at once). What is not there is skipped."""
        with self.store.locked() as state:
            endpoint = state.endpoints.get(container_id)
            if endpoint is not None:
                had_ports = endpoint.active and endpoint.ports
                endpoint.active, endpoint.ports = False, []
                if had_ports and state.bridge is not None:
                    self._apply_firewall(state)
        self._unreserve(container_id)
        if endpoint is None:
            return
        self.helper.call("detach", netns=endpoint.netns, host_if=endpoint.host_if)
        with self.store.locked() as state:
            state.endpoints.pop(container_id, None)

    def release(self, container_id: str) -> None:
        """The container is removed: whatever :meth:`disconnect` has not undone yet."""
        self.disconnect(container_id)

    def endpoint(self, container_id: str) -> tuple[Bridge, Endpoint] | None:
        state = self.store.read()
        endpoint = state.endpoints.get(container_id)
        if endpoint is None or state.bridge is None:
            return None
        return state.bridge, endpoint

    def reconcile(self, running: set[str]) -> None:
        """After a restart: endpoints of containers that stopped or went away
        meanwhile are disconnected (rules, veth, namespace, lease), and the
        running ones get their host ports reserved again; the rules are
        rewritten once (no duplicates)."""
        state = self.store.read()
        if state.bridge is None:
            return
        for cid, endpoint in state.endpoints.items():
            if cid not in running or not endpoint.active:
                self.disconnect(cid)
            else:
                try:
                    self._hold(cid, [(p.proto, p.host_ip, p.host_port) for p in endpoint.ports])
                except OSError as exc:
                    log.warning("network.port_reclaim_failed", id=cid, error=str(exc))
        self.bridge()

    # ---- host-port reservations ---------------------------------------------------

    def _reserve(self, container_id: str, name: str, ports: list[PortRequest]) -> list[Port]:
        """Bind each requested host port (a free one for port 0); Docker's
        error when one is taken, with every socket of this call closed."""
        held: list[socket.socket] = []
        out: list[Port] = []
        try:
            for req in ports:
                sock = _bind_any(req, name, container_id)
                held.append(sock)
                out.append(Port(req.proto, req.container_port, req.host_ip, sock.getsockname()[1]))
        except BaseException:
            for sock in held:
                sock.close()
            raise
        with self._guard:
            self._reserved.setdefault(container_id, []).extend(held)
        return out

    def _hold(self, container_id: str, ports: list[tuple[str, str, int]]) -> None:
        self._reserve(container_id, container_id, [PortRequest(p, 0, ip, port) for p, ip, port in ports])

    def _unreserve(self, container_id: str) -> None:
        with self._guard:
            held = self._reserved.pop(container_id, [])
        for sock in held:
            sock.close()


def _bind_any(req: PortRequest, name: str, endpoint_id: str) -> socket.socket:
    """A socket bound to the requested host port, or to the first free one of its range."""
    if not req.host_port_end:
        return _bind(req.proto, req.host_ip, req.host_port, name, endpoint_id)
    for port in range(req.host_port, req.host_port_end + 1):
        try:
            return _bind(req.proto, req.host_ip, port, name, endpoint_id)
        except FailedPrecondition:
            if port == req.host_port_end:
                raise
    raise AssertionError("unreachable")


def _bind(proto: str, host_ip: str, host_port: int, name: str, endpoint_id: str) -> socket.socket:
    if proto not in ("tcp", "udp"):
        raise InvalidArgument(f"publishing {proto} ports is not supported: use tcp or udp")
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.set_inheritable(False)
        sock.bind((host_ip or "0.0.0.0", host_port))
    except OSError as exc:
        sock.close()
        where = f"{host_ip or '0.0.0.0'}:{host_port}"
        reason = "port is already allocated" if exc.errno == 98 else (exc.strerror or str(exc))
        raise FailedPrecondition(
            f"driver failed programming external connectivity on endpoint {name} ({endpoint_id}): "
            f"Bind for {where} failed: {reason}") from exc
    return sock
