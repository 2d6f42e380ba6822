"""The engine's side of a container's networks: which networks HostConfig
and NetworkingConfig put it on (checked at create), its namespace in the
spec, its name-resolution files, connecting it at start and disconnecting
it at exit, ``network connect``/``disconnect`` while it runs or not, and
the live endpoints that inspect and list show.

A container's configured networks live on its record (``networks``: name ->
static address and aliases, the first one its primary, which carries the
published ports and the default route); its live endpoints (addresses,
interfaces, leases) in the network state (:mod:`services.runtime.network.state`).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from barque.runtime.v1.runtime_pb2 import HostConfig, NetworkingConfig
from client.config import NetworkConfig
from client.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from services.runtime.engine.containers import ContainerRecord, ContainerStore
from services.runtime.engine.status import refresh
from services.runtime.network.etc_files import EtcSettings, write_etc_files
from services.runtime.network.manager import Networks
from services.runtime.network.modes import network_kind, port_requests
from services.runtime.network.state import DEFAULT_NETWORK, Endpoint, Network
from services.runtime.spec.options import applies

__all__ = ["ContainerNetworks", "LiveEndpoint"]


@dataclass(frozen=True)
class LiveEndpoint:
    """A running container's endpoint on one network, as inspect and list show it."""

    network: Network
    endpoint: Endpoint


class ContainerNetworks:
    def __init__(self, networks: Networks, store: ContainerStore, container_dir: Callable[[ContainerRecord], Path],
                 config: NetworkConfig) -> None:
        self.networks = networks
        self.store = store
        self._dir = container_dir
        self.config = config

    # ---- create ------------------------------------------------------------------------

    @applies("HostConfig.network_mode", "NetworkingConfig.endpoints_config")
    def plan(self, host: HostConfig, networking: NetworkingConfig | None) -> tuple[str, ContainerRecord | None, dict]:
        """(kind, the peer of ``container:``, the configured networks) of a new
        container, with Docker's refusals; ``host.network_mode`` is stored
        as Docker stores it (``container:<full id>``)."""
        kind = network_kind(host.network_mode)
        peer = None
        if kind == "container":
            peer = self.store.find(host.network_mode.split(":", 1)[1])
            host.network_mode = f"container:{peer.id}"
            if host.port_bindings or host.publish_all_ports:
                raise InvalidArgument("conflicting options: port publishing and the container type network mode")
        configs = dict(networking.endpoints_config) if networking is not None else {}
        if len(configs) > 1:
            raise InvalidArgument(f"Container cannot be connected to network endpoints: {', '.join(sorted(configs))}")
        if kind in ("none", "host", "container"):
            return kind, peer, {}
        net = self.networks.find(DEFAULT_NETWORK if kind == "bridge" else host.network_mode)
        settings = next(iter(configs.values()), None)
        ip = settings.ipam_config.ipv4_address if settings is not None and settings.HasField("ipam_config") else ""
        aliases = list(settings.aliases) if settings is not None else []
        if net.builtin and ip:
            raise InvalidArgument("user specified IP address is supported on user defined networks only")
        if net.builtin and aliases:
            raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
        return kind, None, {net.name: {"ip": ip, "aliases": aliases}}

    def spec_network(self, cid: str, kind: str, peer: ContainerRecord | None) -> str:
        """The spec's network: a namespace of its own (none), the host's, or
        one to join by path (a bridge network's, made at start; a peer's, named at start)."""
        if kind in ("bridge", "custom"):
            return self.networks.netns_path(cid)
        if peer is not None:
            return f"/proc/{peer.pid or 1}/ns/net"
        return kind

    def etc_files(self, record: ContainerRecord, kind: str, peer: ContainerRecord | None) -> dict[str, str]:
        """The name files at create: the peer's for ``container:``, else ours
        (rewritten at start with the address)."""
        if peer is not None:  # Docker shares the joined container's files
            return {path: str(self._dir(peer) / "etc" / path.rsplit("/", 1)[1])
                    for path in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")}
        return write_etc_files(self._dir(record) / "etc", self._etc_settings(record, kind))

    @applies("HostConfig.dns", "HostConfig.dns_search", "HostConfig.dns_options", "HostConfig.extra_hosts")
    def _etc_settings(self, record: ContainerRecord, kind: str, address: str = "", gateway: str = "",
                      embedded_dns: str = "") -> EtcSettings:
        host = record.host_config
        if not gateway and any(e.endswith(":host-gateway") for e in host.extra_hosts):
            gateway = self.networks.default().gateway
        return EtcSettings(
            hostname=record.hostname, address=address, gateway=gateway, extra_hosts=tuple(host.extra_hosts),
            dns=tuple(host.dns), dns_search=tuple(host.dns_search), dns_options=tuple(host.dns_options),
            host_network=kind == "host", resolv_source=self.config.resolv_conf, embedded_dns=embedded_dns)

    # ---- start and exit --------------------------------------------------------------

    def join_peer(self, record: ContainerRecord, cdir: Path) -> None:
        """``container:`` mode: point the spec at the peer's namespace as it runs now."""
        peer = self.store.find(record.host_config.network_mode.split(":", 1)[1])
        with self.store.lock:
            running = refresh(peer, self._dir(peer) / "shim")
        if not running:
            raise FailedPrecondition(f"cannot join network of a non running container: {peer.id}")
        spec = json.loads((cdir / "config.json").read_text())
        for ns in spec["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = f"/proc/{peer.pid}/ns/net"
            elif ns["type"] == "user" and ns.get("path"):  # a remapped container shares the peer's too
                ns["path"] = f"/proc/{peer.pid}/ns/user"
        (cdir / "config.json").write_text(json.dumps(spec, indent=1))

    def connect(self, record: ContainerRecord, cdir: Path) -> None:
        """Every configured network, the primary first (with the published
        ports and the default route), then the name files with its address.
        On failure no endpoint stays."""
        host = record.host_config
        if not record.networks and network_kind(host.network_mode) in ("bridge", "custom"):
            self.networks.namespace(record.id)  # disconnected from every one: lo only, as Docker's
            return
        try:
            first: tuple[Network, Endpoint] | None = None
            for name, cfg in record.networks.items():
                net = self.networks.find(name)
                ports = port_requests(host.port_bindings, host.publish_all_ports,
                                      list(record.config.exposed_ports)) if first is None else []
                endpoint = self.networks.connect(record.id, record.name, net, ports=ports, ip=cfg.get("ip", ""),
                                                 aliases=cfg.get("aliases", []))
                if first is None:
                    first = (net, endpoint)
            if first is not None:
                net, endpoint = first
                dns = "" if net.builtin else net.gateway
                write_etc_files(cdir / "etc", self._etc_settings(record, network_kind(host.network_mode),
                                                                 endpoint.ip, net.gateway, dns))
        except BaseException:
            self.networks.disconnect(record.id)
            raise

    def disconnect(self, record: ContainerRecord) -> None:
        """Every endpoint of the container goes (at exit, removal, a failed start)."""
        self.networks.disconnect(record.id)

    # ---- network connect / disconnect ---------------------------------------------------

    def attach(self, record: ContainerRecord, running: bool, ref: str, ip: str, aliases: list[str]) -> Network:
        """``network connect``: configured on the record; connected now when it runs."""
        kind = network_kind(record.host_config.network_mode)
        if kind == "host":
            raise FailedPrecondition("container cannot be disconnected from host network or connected to host network")
        if kind in ("none", "container"):
            raise FailedPrecondition("container sharing network namespace with another container or host "
                                     "cannot be connected to any other network" if kind == "container" else
                                     "container cannot be connected to multiple networks with one of the "
                                     "networks in private (none) mode")
        net = self.networks.find(ref)
        if net.name in record.networks:
            raise AlreadyExists(f"endpoint with name {record.name} already exists in network {net.name}")
        if net.builtin and (ip or aliases):
            raise InvalidArgument("user specified IP address is supported on user defined networks only" if ip
                                  else "network-scoped alias is supported only for containers in user defined "
                                       "networks")
        if running:
            self.networks.connect(record.id, record.name, net, ip=ip, aliases=aliases, running=True)
        record.networks[net.name] = {"ip": ip, "aliases": list(aliases)}
        return net

    def detach(self, record: ContainerRecord, running: bool, ref: str, force: bool) -> Network:
        """``network disconnect``: off the record, and its endpoint goes now."""
        net = self.networks.find(ref)
        if net.name not in record.networks and not force:
            raise FailedPrecondition(f"container {record.id} is not connected to network {net.name}")
        if running or force:
            self.networks.disconnect(record.id, net.id)
        record.networks.pop(net.name, None)
        return net

    # ---- what inspect and list show --------------------------------------------------------

    def live(self, container_id: str) -> list[LiveEndpoint]:
        return [LiveEndpoint(net, ep) for net, ep in self.networks.endpoints(container_id)]

    def live_all(self) -> dict[str, list[LiveEndpoint]]:
        """Every container's live endpoints, from one read of the state."""
        out: dict[str, list[LiveEndpoint]] = {}
        for net, ep in self.networks.all_endpoints():
            out.setdefault(ep.container_id, []).append(LiveEndpoint(net, ep))
        return out


def hostname_for(kind: str, peer: ContainerRecord | None, asked: str, cid: str) -> str:
    """Docker's hostname: the flag's, the peer's for ``container:``, the host's on the host network, the short id."""
    return asked or (peer.hostname if peer is not None else "") or (socket.gethostname() if kind == "host" else cid[:12])
