"""``docker image prune [-a]``: remove the images nothing uses, and reclaim
the content and snapshots only they held (moby ``daemon/images/prune.go``).

Which images go:

- without ``all``, the dangling ones: no tag (digest references alone
  count as none); with ``all``, every image;
- never an image a container's snapshot holds, in any state (moby's
  ImageDelete refuses it without force, and prune skips the conflict);
- never one an operation in progress protects (:mod:`services.images.leases`:
  a pull's image before its client has it), nor one stored since the oldest
  lease held began (a build's commit before the build holds it);
- an image the build cache holds only loses its tags (with ``all``): the
  record is the cache's, for ``builder prune`` (which ``system prune`` runs
  next) to delete;
- never a nameless image another kept image is the parent of (a build's
  or commit's intermediate step: moby's "no references and children");
- only those ``until=``, ``label=`` and ``label!=`` let through
  (:class:`~services.common.prunefilter.PruneFilter`, on the image's
  created time and its config's labels).

Each image's removal reads as docker's: ``untagged`` per tag and repo
digest (familiar form), ``deleted`` for the image id and then for every
layer (chain id) freed with it; the space reclaimed is the bytes of blobs
and snapshots garbage collection freed. One ``prune`` event (type image)
carries it, as moby's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from client.errors import BarqueError, InvalidArgument
from client.reference import parse_reference
from services.common.log import get_logger
from services.common.prunefilter import PRUNE_KEYS, PruneFilter, parse_created
from services.images.gc import kept_images
from services.images.metadata import ImageRecord

if TYPE_CHECKING:
    from services.images.core import ImageStore

__all__ = ["PruneReport", "prune_images", "ACCEPTED_FILTERS"]

log = get_logger()

#: moby's acceptedImageFilterTags for prune
ACCEPTED_FILTERS = ("dangling", *PRUNE_KEYS)
MAX_CONFIG = 8 << 20


@dataclass(frozen=True)
class PruneReport:
    """``deleted``: ("untagged", name) and ("deleted", id) in docker's order."""

    deleted: list[tuple[str, str]]
    reclaimed: int


def _familiar(name: str) -> str:
    try:
        return parse_reference(name).familiar()
    except InvalidArgument:
        return name


def _labels(store: ImageStore, record: ImageRecord) -> dict[str, str]:
    try:
        config = json.loads(store.content.read_bytes(record.config.digest, max_size=MAX_CONFIG))
    except (BarqueError, OSError, ValueError):  # unreadable: no labels (label= keeps it, label!= lets it go)
        return {}
    labels = (config.get("config") or {}).get("Labels") or {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _dangling_only(all_: bool, wanted: PruneFilter) -> bool:
    """``all`` or ``dangling=false`` prunes every unused image; ``dangling=true`` (the CLI's default) dangling ones."""
    values = wanted.extra.get("dangling", [])
    for value in values:
        if value.lower() not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")
    if values:
        return values[-1].lower() in ("true", "1") and not all_
    return not all_


def candidates(store: ImageStore, all_: bool, filters: list[str]) -> list[ImageRecord]:
    """The images a prune would remove now, newest first; call with the db's lock held."""
    wanted = PruneFilter.parse(filters, ACCEPTED_FILTERS)
    dangling_only = _dangling_only(all_, wanted)
    db = store.db
    protected = store.leases.protected()
    since = store.leases.oldest_ns(slack=0)
    held = (set(db.holders.values()) | (protected & set(db.images))
            | ({i for i, r in db.images.items() if r.pulled_at * 1e9 >= since} if since is not None else set()))
    cached = set(db.build_cache.values())
    kept = kept_images(db, protected, since)
    parents = {r.parent for i, r in db.images.items() if r.parent and i in kept}
    out = []
    for record in sorted(db.images.values(), key=lambda r: (r.created, r.pulled_at), reverse=True):
        names = db.names_of(record.id)
        if record.id in held or (dangling_only and names) or (record.id in cached and not names):
            continue
        if not names and not record.repo_digests and record.id in parents:
            continue
        if not wanted.include(parse_created(record.created), _labels(store, record)):
            continue
        out.append(record)
    return out


def prune_images(store: ImageStore, all_: bool, filters: list[str]) -> PruneReport:
    """Remove :func:`candidates` one by one, each followed by a collection."""
    entries: list[tuple[str, str]] = []
    reclaimed = 0
    with store.db.lock:
        chosen = candidates(store, all_, filters)
        for record in chosen:
            if store.db.images.get(record.id) is not record:
                continue  # collected with an earlier one
            names = store.db.names_of(record.id)
            for name in names:
                del store.db.names[name]
            if record.id in store.db.build_cache.values():  # the cache's now: builder prune's to delete
                store.db.save()
                entries += [("untagged", _familiar(n)) for n in names]
                for _ in names:
                    store.events.emit("untag", record.id, event_type="image", name=record.id)
                continue
            untagged = [_familiar(n) for n in names + record.repo_digests]
            entries += [("untagged", n) for n in untagged]
            del store.db.images[record.id]
            store.db.save()
            chains, freed = store.collect_garbage()
            entries += [("deleted", record.id)] + [("deleted", c) for c in chains]
            reclaimed += freed
            for _ in untagged:
                store.events.emit("untag", record.id, event_type="image", name=record.id)
            store.events.emit("delete", record.id, event_type="image", name=record.id)
    store.events.emit("prune", "", event_type="image", reclaimed=str(reclaimed))
    log.info("images.pruned", all=all_, filters=filters, images=len(chosen), reclaimed_bytes=reclaimed)
    return PruneReport(entries, reclaimed)
