"""The build cache: which image a build step made under a cache key.

A commit with a ``cache_key`` records ``key -> image id`` in the metadata
db's ``build_cache`` index (saved with the rest of the db, atomically; a
newer commit under the same key replaces the entry). An image the index
holds is never collected, tagged or not. :func:`lookup` answers a build
step's ``Using cache``; :func:`prune` (``docker builder prune``) drops every
entry (with ``until=``, those older), then collects what only the cache
kept: images with no name, no container holding them and not made by
``docker commit``, with their blobs and snapshots. Tagged images survive, and so do the blobs and snapshots
they use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from client.errors import InvalidArgument
from services.common.log import get_logger
from services.common.prunefilter import parse_until

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


def _older_than(filters: list[str]) -> float | None:
    """The instant before which entries go (``until=`` a time or duration,
    ``unused-for=`` a duration: the earliest wins, the fewest go), or None for every entry.
    ``label=``/``label!=`` are read and ignored, as moby's build cache does
    (``docker system prune --filter label=...`` passes them on); other keys
    are refused."""
    limit: float | None = None
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {f}")
        if key in ("label", "label!"):
            continue
        if key not in ("until", "unused-for"):
            raise InvalidArgument(f"build cache prune filter {key!r} is not supported: until= and unused-for= are")
        at = parse_until(value)
        limit = at if limit is None else min(limit, at)
    return limit


def prune(store: ImageStore, filters: list[str]) -> PruneResult:
    """Drop the index's entries (with ``until=``, those last used before
    it: their image's commit) and collect what only they kept."""
    older_than = _older_than(filters)
    with store.db.lock:
        before = set(store.db.images)
        doomed = [k for k, i in store.db.build_cache.items() if older_than is None or i not in store.db.images
                  or store.db.images[i].pulled_at <= older_than]
        entries = len(doomed)
        for key in doomed:
            del store.db.build_cache[key]
        store.db.save()
        _, freed = store.collect_garbage()
        deleted = sorted(before - set(store.db.images))
    for image_id in deleted:
        store.events.emit("delete", image_id, event_type="image", name=image_id)
    store.events.emit("prune", "", event_type="builder", reclaimed=str(freed))  # moby's builder prune event
    log.info("build_cache.pruned", entries=entries, deleted=len(deleted), reclaimed_bytes=freed)
    return PruneResult(entries, deleted, freed)
