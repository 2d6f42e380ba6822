"""Dropping what a failed pull, load or import made, so a refused image leaves nothing.

An operation notes each blob and snapshot it is about to make (only those
absent when noted: what was there before is never its to drop). When it
fails, :meth:`Undo.run` deletes them, top-most snapshot first, except what an
image record names, an active snapshot sits on, or another operation in
progress protects by its lease (:mod:`services.images.leases`): a concurrent
pull of the same layer keeps it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from client.errors import NotFound
from services.common.log import get_logger
from services.images.leases import Lease
from services.images.snapshots import chain_ids

if TYPE_CHECKING:
    from services.images.core import ImageStore

__all__ = ["Undo"]

log = get_logger()


class Undo:
    """The blobs and snapshots one operation made, in the order it made them."""

    def __init__(self, store: ImageStore, what: str, lease: Lease | None = None) -> None:
        """``lease``: the operation's own, whose protection does not keep what it made."""
        self.store = store
        self.what = what
        self.lease = lease
        self.blobs: list[str] = []
        self.chains: list[str] = []

    def note_blobs(self, *digests: str) -> None:
        """Note the blobs among ``digests`` the store lacks now."""
        for digest in digests:
            if digest and digest not in self.blobs and not self.store.content.has(digest):
                self.blobs.append(digest)

    def note_chains(self, *chains: str) -> None:
        """Note the snapshots among ``chains`` the store lacks now."""
        for chain in chains:
            if chain and chain not in self.chains and not self.store.snapshots.exists(chain):
                self.chains.append(chain)

    def made_blob(self, digest: str) -> None:
        """Record a blob this operation wrote (whatever was there when it began)."""
        if digest not in self.blobs:
            self.blobs.append(digest)

    def made_chain(self, chain: str) -> None:
        if chain not in self.chains:
            self.chains.append(chain)

    def run(self) -> None:
        """Drop what was noted, unless an image, an active snapshot or another lease holds it."""
        store = self.store
        dropped_blobs = dropped_chains = 0
        with store.db.lock:
            held = store.leases.protected(excluding=self.lease)
            used_chains: set[str] = set(store.snapshots.active().values()) | held
            used = set(held)
            for r in store.db.images.values():
                used.update([r.manifest.digest, r.config.digest, r.target.digest, *r.extra_blobs,
                             *(x.digest for x in r.layers)])
                used_chains.update(chain_ids(r.diff_ids))
            for digest in self.blobs:
                if digest in used:
                    continue
                try:
                    store.content.delete(digest)
                    dropped_blobs += 1
                except NotFound:
                    pass
            for chain in reversed(self.chains):
                if chain in used_chains or not store.snapshots.exists(chain):
                    continue
                try:
                    store.snapshots.remove_committed(chain)
                    dropped_chains += 1
                except Exception:  # logged, not raised over the operation's own error: gc takes it later
                    log.exception("images.undo_failed", what=self.what, chain=chain)
        log.info("images.undone", what=self.what, blobs=dropped_blobs, snapshots=dropped_chains)
        self.blobs.clear()
        self.chains.clear()
