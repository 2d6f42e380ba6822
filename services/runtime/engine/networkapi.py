"""The network half of the runtime's API, as Docker's ``/networks``: create,
list, inspect, remove and prune networks, connect and disconnect a
container, each with Docker's network event."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Iterable

from client.errors import FailedPrecondition, NotFound
from services.common.log import get_logger
from services.common.prunefilter import PruneFilter, parse_created
from services.runtime.engine.containers import ContainerRecord, ContainerStore
from services.common.events import EventLog
from services.runtime.engine.networking import ContainerNetworks
from services.runtime.engine.status import refresh
from services.runtime.network.document import network_json
from services.runtime.network.listing import filter_networks, predefined
from services.runtime.network.manager import NetworkRequest, Networks
from services.runtime.network.state import Network

__all__ = ["NetworkAPI"]

log = get_logger()


class NetworkAPI:
    def __init__(self, networks: Networks, netglue: ContainerNetworks, store: ContainerStore, events: EventLog,
                 root: Path, lock: Callable[[str], threading.Lock],
                 container_dir: Callable[[ContainerRecord], Path]) -> None:
        """``lock`` is the runtime's per-container lock; ``root`` its state
        root, where the predefined host and none networks keep their ids."""
        self.networks = networks
        self.netglue = netglue
        self.store = store
        self.events = events
        self.root = root
        self._lock = lock
        self._dir = container_dir

    def create(self, req: NetworkRequest) -> Network:
        net = self.networks.create(req)
        self.events.emit("create", net.id, event_type="network", name=net.name, type=net.driver)
        log.info("network.created", id=net.id, name=net.name, subnet=net.subnet)
        return net

    def remove(self, ref: str) -> Network:
        if ref in ("host", "none"):
            raise FailedPrecondition(f"{ref} is a pre-defined network and cannot be removed")
        net = self.networks.remove(ref)
        self.events.emit("destroy", net.id, event_type="network", name=net.name, type=net.driver)
        return net

    def prune(self, wanted: PruneFilter) -> list[str]:
        """Every user-defined network no running container is on, that
        ``wanted`` lets through (``until=``, ``label=``, ``label!=``); their names."""
        removed = []
        for net, count in self.networks.listing():
            if net.builtin or count or not wanted.include(parse_created(net.created), net.labels):
                continue
            try:
                removed.append(self.remove(net.id).name)
            except (FailedPrecondition, NotFound):
                continue  # used or gone meanwhile
        return removed

    def listing(self, filters: list[str]) -> list[tuple[Network, int]]:
        nets = self.networks.listing() + [(predefined(self.root, name), 0) for name in ("host", "none")]
        return sorted(filter_networks(nets, filters), key=lambda nc: nc[0].name)

    def inspect(self, ref: str) -> tuple[Network, dict]:
        net = predefined(self.root, ref) if ref in ("host", "none") else self.networks.find(ref)
        names = {r.id: r.name for r in self.store.all()}
        on = [(names.get(ep.container_id, ""), ep) for n, ep in self.networks.all_endpoints() if n.id == net.id]
        return net, network_json(net, on)

    def endpoint_events(self, action: str, record: ContainerRecord, endpoints: Iterable) -> None:
        """connect or disconnect events for a container's live endpoints (at its start and exit)."""
        for live in endpoints:
            self.events.emit(action, live.network.id, event_type="network", container=record.id,
                             name=live.network.name, type=live.network.driver)

    def connect(self, net_ref: str, ctr_ref: str, ip: str = "", aliases: list[str] | None = None) -> None:
        record = self.store.find(ctr_ref)
        with self._lock(record.id):
            with self.store.lock:
                running = refresh(record, self._dir(record) / "shim")
            net = self.netglue.attach(record, running, net_ref, ip, list(aliases or []))
            self.store.save(record)
        self.events.emit("connect", net.id, event_type="network", container=record.id, name=net.name,
                         type=net.driver)

    def disconnect(self, net_ref: str, ctr_ref: str, force: bool = False) -> None:
        record = self.store.find(ctr_ref)
        with self._lock(record.id):
            with self.store.lock:
                running = refresh(record, self._dir(record) / "shim")
            net = self.netglue.detach(record, running, net_ref, force)
            self.store.save(record)
        self.events.emit("disconnect", net.id, event_type="network", container=record.id, name=net.name,
                         type=net.driver)
