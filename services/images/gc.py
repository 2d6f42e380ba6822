"""The image-store's garbage collection: what no image, container, build
cache entry or operation in progress holds goes.

An image record stays while a name points at it, a container's snapshot
holds it, the build cache's index holds it, ``docker commit`` made it
(docker keeps a commit's ``<none>``), it has a repo digest (pulled by
digest, or the old image of a tag a pull moved: docker keeps it as a
dangling ``<none>``, for ``image prune`` to take) or a lease protects its
id; the others are dropped first. Then every blob no kept record names and every committed
snapshot outside the kept images' chains and the active snapshots' parents
is deleted, top-most first (a parent goes only once its children are gone)
-- except what a held lease keeps (:mod:`services.images.leases`): what it
protects by digest, and what was written since the oldest held lease began.
Call with the db's lock held or let :func:`collect_garbage` take it.
"""

from __future__ import annotations

import os

from client.errors import DataLoss, FailedPrecondition, NotFound
from services.common.content import ContentStore
from services.common.log import get_logger
from services.images.leases import Leases
from services.images.metadata import MetadataDB
from services.images.snapshots import Snapshotter, chain_ids

__all__ = ["collect_garbage", "kept_images"]

log = get_logger()


def kept_images(db: MetadataDB, protected: set[str], since_ns: int | None = None) -> set[str]:
    """Ids of the image records garbage collection keeps. With ``since_ns``
    (the oldest held lease's start), also every record stored since: as the
    blobs and layers written since are kept, so is an image a build just
    committed, in the moment before its client holds it."""
    recent = set() if since_ns is None else {i for i, r in db.images.items() if r.pulled_at * 1e9 >= since_ns}
    return (set(db.names.values()) | set(db.holders.values()) | set(db.build_cache.values())
            | {i for i, r in db.images.items() if r.committed or r.repo_digests} | (protected & set(db.images))
            | recent)


def _mtime_ns(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return 0


def collect_garbage(db: MetadataDB, content: ContentStore, snapshots: Snapshotter,
                    leases: Leases | None = None) -> tuple[list[str], int]:
    """Returns the snapshots deleted and the bytes freed (blob sizes plus the
    snapshots' disk usage)."""
    with db.lock:
        protected = leases.protected() if leases is not None else set()
        since = leases.oldest_ns() if leases is not None else None
        kept = kept_images(db, protected, leases.oldest_ns(slack=0) if leases is not None else None)
        recent_only = kept - kept_images(db, protected)
        for image_id in [i for i in db.images if i not in kept]:
            del db.images[image_id]
        db.save()
        keep_blobs: set[str] = set(protected)
        keep_chains: set[str] = set(protected)
        for r in db.images.values():
            keep_blobs.update([r.manifest.digest, r.config.digest, r.target.digest, *r.extra_blobs])
            keep_blobs.update(layer.digest for layer in r.layers)
            keep_chains.update(chain_ids(r.diff_ids))
        keep_chains.update(snapshots.active().values())
        freed = 0
        leased = 0
        for digest in list(content.list()):
            if digest in keep_blobs:
                continue
            if since is not None and _mtime_ns(str(content.path(digest))) >= since:
                leased += 1
                continue
            try:
                freed += content.size(digest)
                content.delete(digest)
            except NotFound:
                pass
        deleted: list[str] = []
        pending = []
        for chain in snapshots.committed():
            if chain in keep_chains:
                continue
            if since is not None and _new_snapshot(snapshots, chain, since):
                leased += 1
                continue
            pending.append(chain)
        progress = True
        while pending and progress:
            progress = False
            for chain in list(pending):
                try:
                    usage = snapshots.usage(chain)
                    snapshots.remove_committed(chain)
                except FailedPrecondition:
                    continue
                except NotFound:
                    pending.remove(chain)
                    continue
                pending.remove(chain)
                deleted.append(chain)
                freed += usage
                progress = True
        if leased or recent_only:
            log.info("gc.leased_kept", count=leased, images=len(recent_only),
                     leases=leases.held() if leases is not None else [])
            if leases is not None:
                leases.defer()  # collected once no lease holds them back
        return deleted, freed


def _new_snapshot(snapshots: Snapshotter, chain: str, since: int) -> bool:
    """True when the layer's own directory changed since ``since`` (an unpack under a lease)."""
    try:
        fs = snapshots.lowerdirs(chain)[0]
    except (NotFound, DataLoss, IndexError):
        return False
    return max(_mtime_ns(fs), _mtime_ns(os.path.dirname(fs))) >= since
