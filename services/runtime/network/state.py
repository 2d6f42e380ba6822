"""The network subpackage's persisted state: the bridge, and one endpoint per
container that was ever started on it (its address lease, MAC, ids, and
while it runs its published ports).

One JSON file, ``<root>/network/state.json``, changed only under an
exclusive ``flock`` of ``<root>/network/lock`` and replaced atomically: the
runtime's threads, the network helper's children and a runtime restarted
after a SIGKILL all see one consistent document, so an address is never
handed out twice. An endpoint and its lease live while the container runs
(as Docker's do), from before its namespace is made until after its veth is
gone; ``active`` says whether its plumbing (namespace, veth, rules) is complete.
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

from client.errors import FailedPrecondition
from services.common.atomic import write_atomic

__all__ = ["Bridge", "Endpoint", "Port", "NetworkState", "NetworkStore", "mac_for", "first_free_subnet"]


@dataclass(frozen=True)
class Port:
    """One published port: ``host_ip`` "" means every local address."""

    proto: str
    container_port: int
    host_ip: str
    host_port: int


@dataclass(frozen=True)
class Bridge:
    name: str
    subnet: str       # "172.18.0.0/16"
    gateway: str      # "172.18.0.1"
    network_id: str   # 64 hex, as Docker's network ids

    @property
    def prefix_len(self) -> int:
        return ipaddress.IPv4Network(self.subnet).prefixlen


@dataclass
class Endpoint:
    container_id: str
    ip: str
    mac: str
    endpoint_id: str
    host_if: str
    netns: str
    active: bool = False
    ports: list[Port] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Endpoint":
        data = dict(data)
        data["ports"] = [Port(**p) for p in data.get("ports", [])]
        return cls(**data)


@dataclass
class NetworkState:
    bridge: Bridge | None = None
    endpoints: dict[str, Endpoint] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"bridge": asdict(self.bridge) if self.bridge else None,
                "endpoints": {cid: ep.to_json() for cid, ep in sorted(self.endpoints.items())}}

    @classmethod
    def from_json(cls, data: dict) -> "NetworkState":
        bridge = Bridge(**data["bridge"]) if data.get("bridge") else None
        endpoints = {cid: Endpoint.from_json(ep) for cid, ep in (data.get("endpoints") or {}).items()}
        return cls(bridge, endpoints)

    def lease(self, container_id: str) -> str:
        """The container's address: its lease, else the lowest free one
        (neither the network, the gateway nor the broadcast address)."""
        if container_id in self.endpoints:
            return self.endpoints[container_id].ip
        assert self.bridge is not None
        taken = {ep.ip for ep in self.endpoints.values()} | {self.bridge.gateway}
        for host in ipaddress.IPv4Network(self.bridge.subnet).hosts():
            if str(host) not in taken:
                return str(host)
        raise FailedPrecondition(f"no free address left on {self.bridge.name} ({self.bridge.subnet})")

    def published(self) -> list[tuple[str, Port]]:
        """(container address, port) of every active endpoint's published ports."""
        return [(ep.ip, port) for ep in self.endpoints.values() if ep.active for port in ep.ports]


def mac_for(ip: str) -> str:
    """Docker's MAC for an IPv4 address: 02:42 and the address's four bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def first_free_subnet(used: list[str], start: str = "172.18.0.0/16") -> str:
    """The first /16 from ``start`` upward (within 172.16.0.0/12, then
    10.x) that overlaps none of ``used`` (the host's routes and addresses)."""
    taken = [ipaddress.IPv4Network(u, strict=False) for u in used]
    begin = ipaddress.IPv4Network(start)
    pools = [ipaddress.IPv4Network("172.16.0.0/12"), ipaddress.IPv4Network("10.0.0.0/8")]
    for pool in pools:
        for candidate in pool.subnets(new_prefix=16):
            if pool.overlaps(begin) and candidate < begin:
                continue
            if not any(candidate.overlaps(t) for t in taken if t.prefixlen > 0):
                return str(candidate)
    raise FailedPrecondition("no free /16 for the bridge in 172.16.0.0/12 or 10.0.0.0/8: set [network] bridge_subnet")


def new_id() -> str:
    return secrets.token_hex(32)


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
        return NetworkState.from_json(data)
