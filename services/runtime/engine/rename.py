"""``docker rename``: a container's new name, with moby's rules, errors and
event; the names the networks' DNS answers follow at once (a running
container is renamed in place), and the old name is free for reuse.

A mixin of :class:`~services.runtime.core.RuntimeService`.
"""

from __future__ import annotations

from client.errors import InvalidArgument
from services.runtime.engine.runtimestate import RuntimeState

__all__ = ["Renaming"]


class Renaming(RuntimeState):
    def rename(self, ref: str, new_name: str) -> None:
        """Rename ``ref`` (id, prefix or name) to ``new_name`` (a leading "/" allowed)."""
        if not ref or not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        record = self.store.find(ref)
        name = new_name.removeprefix("/")
        with self._lock(record.id):
            old = record.name
            if name == old:
                raise InvalidArgument("Renaming a container with the same name as its current name")
            self.store.rename(record, name)
            self._rename_endpoints(record.id, old, name)
        self.events.emit("rename", record.id, name=name, oldName=f"/{old}")

    def _rename_endpoints(self, container_id: str, old: str, new: str) -> None:
        """The container's endpoints answer to ``new`` instead of ``old`` (the
        first of their names), and the DNS responder's table follows."""
        with self.networks.store.locked() as state:
            endpoints = state.of_container(container_id)
            for ep in endpoints:
                ep.names = [new if i == 0 and n == old else n for i, n in enumerate(ep.names)]
            if endpoints:
                self.dns.update(state)
