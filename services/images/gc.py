"""The image-store's garbage collection: what no image and no container holds goes.

An image record stays while a name points at it, a container's snapshot
holds it, the build cache's index holds it, or ``docker commit`` made it
(docker keeps a commit's ``<none>``); the others are dropped first. Then
every blob no kept record names and every committed snapshot outside the
kept images' chains and the active snapshots' parents is deleted, top-most
first (a parent goes only once its children are gone). Call with the db's
lock held or let :func:`collect_garbage` take it.
"""

from __future__ import annotations

from client.errors import FailedPrecondition, NotFound
from services.common.content import ContentStore
from services.images.metadata import MetadataDB
from services.images.snapshots import Snapshotter, chain_ids

__all__ = ["collect_garbage"]


def collect_garbage(db: MetadataDB, content: ContentStore, snapshots: Snapshotter) -> tuple[list[str], int]:
    """Returns the snapshots deleted and the bytes freed (blob sizes plus the
    snapshots' disk usage)."""
    with db.lock:
        kept = (set(db.names.values()) | set(db.holders.values()) | set(db.build_cache.values())
                | {i for i, r in db.images.items() if r.committed})
        for image_id in [i for i in db.images if i not in kept]:
            del db.images[image_id]
        db.save()
        keep_blobs: set[str] = set()
        keep_chains: set[str] = set()
        for r in db.images.values():
            keep_blobs.update([r.manifest.digest, r.config.digest, r.target.digest, *r.extra_blobs])
            keep_blobs.update(layer.digest for layer in r.layers)
            keep_chains.update(chain_ids(r.diff_ids))
        keep_chains.update(snapshots.active().values())
        freed = 0
        for digest in list(content.list()):
            if digest not in keep_blobs:
                try:
                    freed += content.size(digest)
                except NotFound:
                    pass
                content.delete(digest)
        deleted: list[str] = []
        pending = [c for c in snapshots.committed() if c not in keep_chains]
        progress = True
        while pending and progress:
            progress = False
            for chain in list(pending):
                try:
                    usage = snapshots.usage(chain)
                    snapshots.remove_committed(chain)
                except FailedPrecondition:
                    continue
                pending.remove(chain)
                deleted.append(chain)
                freed += usage
                progress = True
        return deleted, freed
