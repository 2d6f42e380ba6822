"""The build cache: which image a build step made under a cache key.

A commit with a ``cache_key`` records ``key -> image id`` in the metadata
db's ``build_cache`` index (saved with the rest of the db, atomically; a
newer commit under the same key replaces the entry). An image the index
holds is never collected, tagged or not. :func:`lookup` answers a build
step's ``Using cache``; :func:`prune` (``docker builder prune``) drops every
entry, then collects what only the cache kept: images with no name, no
container holding them and not made by ``docker commit``, with their blobs
and snapshots. Tagged images survive, and so do the blobs and snapshots
they use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from client.errors import InvalidArgument
from services.common.log import get_logger

if TYPE_CHECKING:
    from services.images.core import ImageStore, ImageView

__all__ = ["PruneResult", "lookup", "prune"]

log = get_logger()


@dataclass(frozen=True)
class PruneResult:
    entries: int           # cache entries dropped
    deleted: list[str]     # image ids deleted with them
    reclaimed_bytes: int   # blob bytes plus snapshot disk usage freed


def lookup(store: ImageStore, key: str) -> ImageView | None:
    """The kept image recorded under ``key``, or None (no entry, or its image is gone)."""
    if not key:
        return None
    with store.db.lock:
        image_id = store.db.build_cache.get(key)
        record = store.db.images.get(image_id) if image_id else None
        return store._view(record) if record is not None else None


def prune(store: ImageStore, filters: list[str]) -> PruneResult:
    """Empty the index and collect what only it kept."""
    if filters:
        raise InvalidArgument(f"build cache prune filters are not supported yet: {', '.join(filters)}")
    with store.db.lock:
        entries = len(store.db.build_cache)
        before = set(store.db.images)
        store.db.build_cache.clear()
        store.db.save()
        _, freed = store.collect_garbage()
        deleted = sorted(before - set(store.db.images))
    for image_id in deleted:
        store.events.emit("delete", image_id, event_type="image", name=image_id)
    log.info("build_cache.pruned", entries=entries, deleted=len(deleted), reclaimed_bytes=freed)
    return PruneResult(entries, deleted, freed)
