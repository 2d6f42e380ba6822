"""Container networks as the runtime's core uses them: the predefined
``bridge`` and user-defined bridge networks, a container's endpoints on them
(address lease, interface, aliases, published ports), the name table of the
embedded DNS, and reconciling after a restart.

Runs in the gRPC server process but never forks there: links, namespaces
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
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from client.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.common.log import get_logger
from services.runtime.network.helperclient import NetworkHelper
from services.runtime.network.state import (
    DEFAULT_NETWORK,
    Endpoint,
    Network,
    NetworkState,
    NetworkStore,
    Port,
    first_free_subnet,
    mac_for,
    new_id,
)

__all__ = ["Networks", "NetworkSettings", "PortRequest", "NetworkRequest", "chain_prefix", "PREDEFINED"]

log = get_logger()

#: networks every engine has, as Docker's: they cannot be created or removed
PREDEFINED = ("bridge", "host", "none")


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


@dataclass(frozen=True)
class NetworkRequest:
    """``network create``: Docker's NetworkCreate, one IPv4 pool at most."""

    name: str
    driver: str = "bridge"
    internal: bool = False
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    labels: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)


def chain_prefix(bridge: str) -> str:
    """Names of the firewall chains of the engine whose default bridge is
    ``bridge``: ``BARQUE`` for barque0, ``BQ-<bridge>`` for others (tests run
    engines of their own beside the host's). All of an engine's networks share them."""
    return "BARQUE" if bridge == "barque0" else f"BQ-{bridge}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Networks:
    def __init__(self, state_dir: Path, settings: NetworkSettings, helper: NetworkHelper,
                 on_change: Callable[[NetworkState], None] | None = None) -> None:
        self.settings = settings
        self.store = NetworkStore(state_dir)
        self.helper = helper
        self._on_change = on_change     # the DNS name table follows every change
        self._reserved: dict[str, list[socket.socket]] = {}
        self._guard = threading.Lock()
        self._ready: set[str] = set()  # bridges made (or checked) since this process started

    # ---- networks ----------------------------------------------------------------------

    def default(self) -> Network:
        """The predefined ``bridge`` network, made (and its rules set) when missing."""
        with self.store.locked() as state:
            net = state.default()
            if net is None:
                subnet = self.settings.subnet or self._free_subnet(state)
                hosts = ipaddress.IPv4Network(subnet)
                net = Network(new_id(), DEFAULT_NETWORK, self.settings.bridge, str(hosts), str(next(hosts.hosts())),
                              created=_now(), builtin=True)
                state.networks[net.id] = net
            self._ensure(state, net)
            return net

    def _ensure(self, state: NetworkState, net: Network) -> None:
        """The network's bridge exists (once per process; after a reboot it is gone) and the rules are set."""
        if net.bridge in self._ready:
            return
        self.helper.call("ensure_bridge", name=net.bridge, gateway=net.gateway, prefix_len=net.prefix_len)
        self._apply_firewall(state)
        self._ready.add(net.bridge)

    def _free_subnet(self, state: NetworkState) -> str:
        used = list(self.helper.call("host_networks")) + [n.subnet for n in state.networks.values()]
        return first_free_subnet(used)

    def find(self, ref: str) -> Network:
        """A network by id, id prefix or name (``bridge`` is made when missing)."""
        if ref == DEFAULT_NETWORK:
            return self.default()
        return self.store.read().find(ref)

    def listing(self) -> list[tuple[Network, int]]:
        """Every network of this engine with the number of containers on it."""
        self.default()
        state = self.store.read()
        return [(net, len(state.on_network(net.id))) for net in state.networks.values()]

    def create(self, req: NetworkRequest) -> Network:
        """A user-defined bridge network, its bridge up and its rules set."""
        if req.driver not in ("", "bridge"):
            raise NotFound(f'plugin "{req.driver}" not found')
        if req.name in PREDEFINED:
            raise FailedPrecondition(f"{req.name} is a pre-defined network and cannot be created")
        if not req.name:
            raise InvalidArgument("network name must not be empty")
        self.default()
        with self.store.locked() as state:
            if any(n.name == req.name for n in state.networks.values()):
                raise AlreadyExists(f"network with name {req.name} already exists")
            subnet, gateway, ip_range = self._pool(state, req)
            nid = new_id()
            net = Network(nid, req.name, f"bqbr{nid[:11]}", subnet, gateway, ip_range, req.internal,
                          dict(req.labels), dict(req.options), _now())
            state.networks[nid] = net
            try:
                self.helper.call("ensure_bridge", name=net.bridge, gateway=net.gateway, prefix_len=net.prefix_len)
                self._apply_firewall(state)
            except BaseException:
                del state.networks[nid]
                self.helper.call("remove_bridge", name=net.bridge)
                raise
            self._ready.add(net.bridge)
            self._changed(state)
        return net

    def _pool(self, state: NetworkState, req: NetworkRequest) -> tuple[str, str, str]:
        """(subnet, gateway, ip_range) as asked, checked as Docker's IPAM checks them."""
        if not req.subnet:
            if req.gateway or req.ip_range:
                raise InvalidArgument("ip-range and gateway need a subnet")
            subnet = ipaddress.IPv4Network(self._free_subnet(state))
        else:
            try:
                subnet = ipaddress.IPv4Network(req.subnet, strict=False)
            except ValueError as exc:
                raise InvalidArgument(f"invalid subnet {req.subnet}: {exc}") from exc
            if subnet.num_addresses < 4:
                raise InvalidArgument(f"subnet {req.subnet} is too small")
            for other in state.networks.values():
                if subnet.overlaps(ipaddress.IPv4Network(other.subnet)):
                    raise FailedPrecondition(f"Pool overlaps with other one on this address space")
        gateway = req.gateway or str(next(subnet.hosts()))
        try:
            if ipaddress.IPv4Address(gateway) not in subnet:
                raise InvalidArgument(f"no matching subnet for gateway {gateway}")
        except ValueError as exc:
            raise InvalidArgument(f"invalid gateway {gateway}") from exc
        ip_range = ""
        if req.ip_range:
            try:
                rng = ipaddress.IPv4Network(req.ip_range, strict=False)
            except ValueError as exc:
                raise InvalidArgument(f"invalid ip-range {req.ip_range}: {exc}") from exc
            if not rng.subnet_of(subnet):
                raise InvalidArgument(f"no matching subnet for range {req.ip_range}")
            ip_range = str(rng)
        return str(subnet), gateway, ip_range

    def remove(self, ref: str) -> Network:
        """A user-defined network no container is on: its bridge and rules go."""
        with self.store.locked() as state:
            net = state.find(ref)
            if net.builtin:
                raise FailedPrecondition(f"{net.name} is a pre-defined network and cannot be removed")
            if state.on_network(net.id):
                raise FailedPrecondition(
                    f"error while removing network: network {net.name} id {net.id} has active endpoints")
            del state.networks[net.id]
            self._apply_firewall(state)
            self.helper.call("remove_bridge", name=net.bridge)
            self._ready.discard(net.bridge)
            self._changed(state)
        return net

    def _apply_firewall(self, state: NetworkState) -> None:
        """Barque's chains made exactly what ``state`` says (call holding its lock)."""
        nets = []
        for net in sorted(state.networks.values(), key=lambda n: (not n.builtin, n.name)):
            ports = [{"proto": p.proto, "host_ip": p.host_ip, "host_port": p.host_port,
                      "container_ip": ep.ip, "container_port": p.container_port}
                     for ep in state.on_network(net.id) if ep.active for p in ep.ports]
            nets.append({"bridge": net.bridge, "subnet": net.subnet, "ports": ports, "internal": net.internal})
        self.helper.call("firewall", nets=nets, chain_prefix=chain_prefix(self.settings.bridge))

    def _changed(self, state: NetworkState) -> None:
        if self._on_change is not None:
            self._on_change(state)

    # ---- endpoints -----------------------------------------------------------------

    def netns_path(self, container_id: str) -> str:
        return str(self.settings.netns_dir / container_id)

    def namespace(self, container_id: str) -> None:
        """A namespace with only ``lo`` at :meth:`netns_path`, for a start
        with no network to connect (every one was disconnected)."""
        self.settings.netns_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.helper.call("namespace", netns=self.netns_path(container_id))

    def connect(self, container_id: str, name: str, net: Network, *, ports: Sequence[PortRequest] = (),
                ip: str = "", aliases: Sequence[str] = (), running: bool = False) -> Endpoint:
        """Put the container on ``net``: a lease, an interface (eth0 in a new
        namespace at :meth:`netns_path` on its first network at start, eth1...
        in that namespace after; ``running``: always in the namespace it has,
        which may have lost every endpoint), the host ports reserved and
        DNATed. On failure nothing of this endpoint is left, its lease included."""
        if net.builtin and (ip or aliases):
            raise InvalidArgument("user specified IP address is supported on user defined networks only" if ip
                                  else "network-scoped alias is supported only for containers in user defined "
                                       "networks")
        with self.store.locked() as state:
            self._ensure(state, net)
            stale = state.endpoints.get(f"{container_id}/{net.id}")
        if stale is not None:  # left by a crash: start afresh
            self.disconnect(container_id, net.id)
        self.settings.netns_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            held = self._reserve(container_id, name, list(ports))
            with self.store.locked() as state:
                others = state.of_container(container_id)
                address = state.lease(net, container_id, ip)
                index = 1 + max((int(ep.ifname[3:]) for ep in others), default=-1)
                endpoint = Endpoint(container_id, net.id, address, mac_for(address), new_id(),
                                    host_if=f"bq{container_id[:10]}{index:x}"[:15],
                                    netns=self.netns_path(container_id), ifname=f"eth{index}",
                                    aliases=list(aliases), names=[name, *aliases, container_id[:12]])
                state.endpoints[endpoint.key] = endpoint
            self.helper.call("attach", netns=endpoint.netns, host_if=endpoint.host_if, bridge=net.bridge,
                             ip=endpoint.ip, prefix_len=net.prefix_len, gateway=net.gateway, mac=endpoint.mac,
                             ifname=endpoint.ifname, new_namespace=not others and not running,
                             default_route=not others)
            with self.store.locked() as state:
                endpoint = state.endpoints[endpoint.key]
                endpoint.active, endpoint.ports = True, held
                if held:
                    self._apply_firewall(state)
                self._changed(state)
        except BaseException:
            self.disconnect(container_id, net.id)
            raise
        return endpoint

    def disconnect(self, container_id: str, network_id: str | None = None) -> None:
        """Undo :meth:`connect` for one network, or every one: rules,
        reservations, interfaces (and, for every one, the namespace's
        binding: a running container disconnected from one network after
        another keeps its namespace, with ``lo``), then the leases (last, so
        an address and its MAC never sit on two ports of a bridge at once).
        What is not there is skipped."""
        with self.store.locked() as state:
            mine = state.of_container(container_id)
            going = [ep for ep in mine if network_id is None or ep.network_id == network_id]
            had_ports = any(ep.active and ep.ports for ep in going)
            for ep in going:
                ep.active, ep.ports = False, []
            if had_ports:
                self._apply_firewall(state)
        if network_id is None or had_ports:
            self._unreserve(container_id)
        for ep in going:
            self.helper.call("detach", netns=ep.netns, host_if=ep.host_if, unbind=False)
        netns = self.netns_path(container_id)
        if network_id is None and os.path.lexists(netns):
            self.helper.call("detach", netns=netns, host_if="", unbind=True)
        if not going:
            return
        with self.store.locked() as state:
            for ep in going:
                state.endpoints.pop(ep.key, None)
            self._changed(state)

    def all_endpoints(self) -> list[tuple[Network, Endpoint]]:
        """Every active endpoint, each container's in interface order."""
        if not self.store.root.joinpath("state.json").exists():
            return []
        state = self.store.read()
        return [(state.networks[ep.network_id], ep) for cid in sorted({e.container_id for e in state.endpoints.values()})
                for ep in state.of_container(cid) if ep.network_id in state.networks and ep.active]

    def endpoints(self, container_id: str) -> list[tuple[Network, Endpoint]]:
        if not self.store.root.joinpath("state.json").exists():
            return []
        state = self.store.read()
        return [(state.networks[ep.network_id], ep) for ep in state.of_container(container_id)
                if ep.network_id in state.networks and ep.active]

    def reconcile(self, running: set[str]) -> None:
        """After a restart: endpoints of containers that stopped or went away
        meanwhile are disconnected (rules, interfaces, namespace, leases), the
        running ones get their host ports reserved again, every bridge is
        made again if a reboot took it, and the rules are rewritten once (no duplicates)."""
        state = self.store.read()
        if not state.networks:
            return
        for cid in {ep.container_id for ep in state.endpoints.values()}:
            if cid not in running:
                self.disconnect(cid)
                continue
            for ep in state.of_container(cid):
                if not ep.active:  # a connect cut short
                    self.disconnect(cid, ep.network_id)
                    continue
                try:
                    self._hold(cid, [(p.proto, p.host_ip, p.host_port) for p in ep.ports])
                except FailedPrecondition as exc:
                    log.warning("network.port_reclaim_failed", id=cid, error=str(exc))
        with self.store.locked() as state:
            for net in state.networks.values():
                self.helper.call("ensure_bridge", name=net.bridge, gateway=net.gateway, prefix_len=net.prefix_len)
                self._ready.add(net.bridge)
            self._apply_firewall(state)
            self._changed(state)

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
