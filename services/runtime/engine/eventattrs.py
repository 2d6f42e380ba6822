"""The attributes moby puts on a container's events (LogContainerEventWithAttributes):
the container's labels, then what the emitter gave (exitCode, signal,
oldName, execID...), then its ``image`` (as the user named it) and its
current ``name``. Network and volume events keep what their emitter gave.

A container's image and labels are remembered from its events, so its
"destroy", emitted once the record is gone, still carries them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from services.runtime.engine.containers import ContainerRecord

__all__ = ["ContainerAttributes"]


class ContainerAttributes:
    """An :data:`~services.common.events.Enricher` over the container store.

    ``lookup`` maps a full id to its record or None and must not block on
    a lock (an event may be emitted under any of the engine's locks)."""

    def __init__(self, lookup: Callable[[str], ContainerRecord | None]) -> None:
        self._lookup = lookup
        self._known: dict[str, tuple[str, str, dict[str, str]]] = {}  # id -> (image, name, labels)
        self._guard = threading.Lock()

    def __call__(self, event_type: str, action: str, actor_id: str, attributes: dict[str, str]) -> dict[str, str]:
        if event_type != "container":
            return attributes
        record = self._lookup(actor_id)
        with self._guard:
            if record is not None:
                known = (record.config.image, record.name, dict(record.config.labels))
                self._known[actor_id] = known
            else:
                known = self._known.get(actor_id, ("", "", {}))
            if attributes.get("name"):  # the emitter's name wins: a rename's new one, a destroy's last
                known = (known[0], attributes["name"], known[2])
            if action == "destroy":  # its last event
                self._known.pop(actor_id, None)
        image, name, labels = known
        out = {**labels, **attributes}
        if image:
            out["image"] = image
        if name:
            out["name"] = name
        return out
