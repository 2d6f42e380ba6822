"""The image-store's side of ``docker system df`` (moby ``daemon/images``
``LayerDiskUsage`` and the image summaries' ``SharedSize``, BuildKit's
build cache records).

Sizes are disk bytes of unpacked snapshots (:meth:`Snapshotter.usage`),
each layer counted once for the store (``layers_size``), and per image:

- ``size``: its layers' sum (what ``docker images`` shows);
- ``shared_size``: the part in layers another image uses too;
- ``unique_size``: the rest;
- ``containers``: how many containers' snapshots sit on it.

The build cache lists one record per cache entry: its own top layer's
bytes (0 for a step that added none), ``in_use`` while a name or a
container also holds the image, ``shared`` while an image outside the
cache uses that layer too (so a prune of the cache would not free it). ``content_size`` is the
content store's blobs (compressed layers, manifests, configs), which docker
does not keep and so does not show.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from client.errors import NotFound
from services.images.snapshots import chain_ids

if TYPE_CHECKING:
    from services.images.core import ImageStore, ImageView

__all__ = ["ImageUsage", "CacheUsage", "DiskUsage", "disk_usage"]

MAX_CONFIG = 8 << 20


@dataclass(frozen=True)
class ImageUsage:
    view: ImageView
    size: int
    shared_size: int
    unique_size: int
    containers: int


@dataclass(frozen=True)
class CacheUsage:
    id: str
    size: int
    created: str
    last_used: str
    in_use: bool
    shared: bool
    description: str


@dataclass(frozen=True)
class DiskUsage:
    images: list[ImageUsage]
    layers_size: int
    build_cache: list[CacheUsage]
    content_size: int


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if seconds else ""


def _created_by(view: ImageView) -> str:
    try:
        history = json.loads(view.config_json).get("history") or []
    except ValueError:
        return ""
    return str(history[-1].get("created_by") or "") if history and isinstance(history[-1], dict) else ""


def disk_usage(store: ImageStore) -> DiskUsage:
    """What the store keeps now, under the db's lock (a consistent view)."""
    with store.db.lock:
        views = store.images()
        usage: dict[str, int] = {}

        def size_of(chain: str) -> int:
            if chain not in usage:
                try:
                    usage[chain] = store.snapshots.usage(chain)
                except NotFound:
                    usage[chain] = 0
            return usage[chain]

        chains_of = {v.record.id: chain_ids(v.record.diff_ids) for v in views}
        users = Counter(c for chains in chains_of.values() for c in set(chains))
        holders = Counter(store.db.holders.values())
        images = []
        for v in views:
            chains = set(chains_of[v.record.id])
            size = sum(size_of(c) for c in chains)
            shared = sum(size_of(c) for c in chains if users[c] > 1)
            images.append(ImageUsage(v, size, shared, size - shared, holders.get(v.record.id, 0)))
        layers_size = sum(size_of(c) for c in store.snapshots.committed())
        cached = set(store.db.build_cache.values())
        outside = {c for i, chains in chains_of.items() if i not in cached for c in chains}
        cache = []
        by_id = {v.record.id: v for v in views}
        for key, image_id in sorted(store.db.build_cache.items()):
            view = by_id.get(image_id)
            if view is None:
                continue
            own = chains_of[image_id][-1] if chains_of[image_id] else ""
            parent_chains = chains_of.get(view.parent, []) if view.parent else []
            size = size_of(own) if own and own not in parent_chains else 0
            cache.append(CacheUsage(
                id=key, size=size, created=view.record.created, last_used=_rfc3339(view.record.pulled_at),
                in_use=bool(view.names) or holders.get(image_id, 0) > 0,
                shared=bool(own) and own in outside,
                description=_created_by(view)))
        content_size = 0
        for digest in store.content.list():
            try:
                content_size += store.content.size(digest)
            except NotFound:
                pass
    return DiskUsage(images, layers_size, cache, content_size)
