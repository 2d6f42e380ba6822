"""The network subpackage's persisted state: the networks (the predefined
``bridge`` and the user-defined ones) and one endpoint per container and
network it is attached to while it runs (its address lease, MAC, ids,
interface, aliases and, on its first network, its published ports).

One JSON file, ``<root>/network/state.json``, changed only under an
exclusive ``flock`` of ``<root>/network/lock`` and replaced atomically: the
runtime's threads, the network helper's children and a runtime restarted
after a SIGKILL all see one consistent document, so an address is never
handed out twice. An endpoint and its lease live while the container runs
(as Docker's do), from before its interface is made until after its veth is
gone; ``active`` says whether its plumbing (interface, rules) is complete.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from client.errors import FailedPrecondition, InvalidArgument

__all__ = ["Network", "Endpoint", "Port", "NetworkState", "NetworkStore", "mac_for", "first_free_subnet",
           "new_id", "DEFAULT_NETWORK"]

#: the predefined bridge network's name, as Docker's
DEFAULT_NETWORK = "bridge"


@dataclass(frozen=True)
class Port:
    """One published port: ``host_ip`` "" means every local address."""

    proto: str
    container_port: int
    host_ip: str
    host_port: int


@dataclass(frozen=True)
class Network:
    """A bridge network: the predefined ``bridge`` or a user-defined one."""

    id: str           # 64 hex, as Docker's network ids
    name: str
    bridge: str       # the Linux bridge
    subnet: str       # "172.18.0.0/16"
    gateway: str      # "172.18.0.1", the bridge's address
    ip_range: str = ""          # where containers' addresses come from ("" = the subnet)
    internal: bool = False
    labels: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    created: str = ""
    builtin: bool = False       # the predefined bridge: no name resolution, cannot be removed
    driver: str = "bridge"      # "host" and "null" only for the predefined host and none networks

    @property
    def prefix_len(self) -> int:
        return ipaddress.IPv4Network(self.subnet).prefixlen


@dataclass
class Endpoint:
    container_id: str
    network_id: str
    ip: str
    mac: str
    endpoint_id: str
    host_if: str
    netns: str
    ifname: str = "eth0"
    aliases: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)   # what the network's DNS answers for it
    active: bool = False
    ports: list[Port] = field(default_factory=list)

    @property
    def key(self) -> str:
        return endpoint_key(self.container_id, self.network_id)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Endpoint":
        data = dict(data)
        data["ports"] = [Port(**p) for p in data.get("ports", [])]
        return cls(**data)


def endpoint_key(container_id: str, network_id: str) -> str:
    return f"{container_id}/{network_id}"


@dataclass
class NetworkState:
    networks: dict[str, Network] = field(default_factory=dict)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"networks": {nid: asdict(n) for nid, n in sorted(self.networks.items())},
                "endpoints": {key: ep.to_json() for key, ep in sorted(self.endpoints.items())}}

    @classmethod
    def from_json(cls, data: dict) -> "NetworkState":
        networks = {nid: Network(**n) for nid, n in (data.get("networks") or {}).items()}
        endpoints = {}
        for key, ep in (data.get("endpoints") or {}).items():
            endpoint = Endpoint.from_json(ep)
            endpoints[endpoint.key] = endpoint
        return cls(networks, endpoints)

    # ---- lookups ----------------------------------------------------------------

    def default(self) -> Network | None:
        return next((n for n in self.networks.values() if n.builtin), None)

    def find(self, ref: str) -> Network:
        """By full id, name, or unique id prefix; Docker's "not found" otherwise."""
        if ref in self.networks:
            return self.networks[ref]
        for net in self.networks.values():
            if net.name == ref:
                return net
        matches = [n for n in self.networks.values() if ref and n.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidArgument(f"network {ref} is ambiguous ({len(matches)} matches found on name)")
        from client.errors import NotFound

        raise NotFound(f"network {ref} not found")

    def of_container(self, container_id: str) -> list[Endpoint]:
        """The container's endpoints, its first network first (eth0, eth1, ...)."""
        found = [ep for ep in self.endpoints.values() if ep.container_id == container_id]
        return sorted(found, key=lambda ep: int(ep.ifname[3:] or 0))

    def on_network(self, network_id: str) -> list[Endpoint]:
        return [ep for ep in self.endpoints.values() if ep.network_id == network_id]

    # ---- addresses -----------------------------------------------------------------

    def lease(self, network: Network, container_id: str, wanted: str = "") -> str:
        """The container's address on ``network``: its lease, ``wanted`` when
        free (a static --ip), else the lowest free one of the range (never the
        network, the gateway or the broadcast address)."""
        key = endpoint_key(container_id, network.id)
        if key in self.endpoints:
            return self.endpoints[key].ip
        taken = {ep.ip for ep in self.on_network(network.id)} | {network.gateway}
        subnet = ipaddress.IPv4Network(network.subnet)
        if wanted:
            try:
                addr = ipaddress.IPv4Address(wanted)
            except ValueError as exc:
                raise InvalidArgument(f"invalid IPv4 address: {wanted}") from exc
            if addr not in subnet or addr in (subnet.network_address, subnet.broadcast_address):
                raise InvalidArgument(f"Address {wanted} does not belong to any of this network's subnets")
            if wanted in taken:
                raise FailedPrecondition(f"Address already in use: {wanted}")
            return wanted
        pool = ipaddress.IPv4Network(network.ip_range) if network.ip_range else subnet
        for host in pool.hosts():
            if str(host) not in taken and host not in (subnet.network_address, subnet.broadcast_address):
                return str(host)
        raise FailedPrecondition(f"no available IPv4 addresses on this network's address pools: "
                                 f"{network.name} ({network.ip_range or network.subnet})")

    def published(self) -> list[tuple[str, Port]]:
        """(container address, port) of every active endpoint's published ports."""
        return [(ep.ip, port) for ep in self.endpoints.values() if ep.active for port in ep.ports]


def mac_for(ip: str) -> str:
    """Docker's MAC for an IPv4 address: 02:42 and the address's four bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def first_free_subnet(used: list[str], start: str = "172.18.0.0/16") -> str:
    """The first /16 from ``start`` upward (within 172.16.0.0/12, then
    10.x) that overlaps none of ``used`` (the host's routes and addresses,
    the engine's networks)."""
    taken = [ipaddress.IPv4Network(u, strict=False) for u in used]
    begin = ipaddress.IPv4Network(start)
    pools = [ipaddress.IPv4Network("172.16.0.0/12"), ipaddress.IPv4Network("10.0.0.0/8")]
    for pool in pools:
        for candidate in pool.subnets(new_prefix=16):
            if pool.overlaps(begin) and candidate < begin:
                continue
            if not any(candidate.overlaps(t) for t in taken if t.prefixlen > 0):
                return str(candidate)
    raise FailedPrecondition("could not find an available, non-overlapping IPv4 address pool among the defaults "
                             "to assign to the network")


def new_id() -> str:
    return secrets.token_hex(32)


def _upgrade(data: dict) -> dict:
    """The first layout (one ``bridge`` and endpoints by container id) as the current one."""
    if "bridge" not in data:
        return data
    bridge = data.get("bridge")
    networks, endpoints = {}, {}
    if bridge:
        nid = bridge["network_id"]
        networks[nid] = {"id": nid, "name": DEFAULT_NETWORK, "bridge": bridge["name"], "subnet": bridge["subnet"],
                         "gateway": bridge["gateway"], "builtin": True}
        for cid, ep in (data.get("endpoints") or {}).items():
            endpoints[endpoint_key(cid, nid)] = {**ep, "network_id": nid}
    return {"networks": networks, "endpoints": endpoints}


class NetworkStore:
    """``state.json`` under its lock: ``with store.locked() as state:`` reads,
    lets the caller change ``state``, and writes it back atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._path = root / "state.json"
        self._lock = root / "lock"

    @contextmanager
    def locked(self) -> Iterator[NetworkState]:
        from services.common.atomic import write_atomic

        fd = os.open(self._lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = self._read()
            before = state.to_json()
            yield state
            after = state.to_json()
            if after != before:
                write_atomic(self._path, json.dumps(after, indent=1).encode(), mode=0o600)
        finally:
            os.close(fd)  # releases the lock

    def read(self) -> NetworkState:
        """A snapshot, without holding the lock afterwards."""
        with self.locked() as state:
            return state

    def _read(self) -> NetworkState:
        try:
            data = json.loads(self._path.read_bytes())
        except FileNotFoundError:
            return NetworkState()
        return NetworkState.from_json(_upgrade(data))
