"""What a failed operation drops (services/images/undo.py): only what it made,
and not what an image record names or another operation's lease protects."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from client.imagespec import Descriptor, Platform, sha256_digest
from services.common.content import ContentStore
from services.images.leases import Leases
from services.images.metadata import ImageRecord, MetadataDB
from services.images.undo import Undo


@dataclass
class _Snapshots:
    """The snapshotter's surface Undo uses: committed chains in a set."""

    committed: set[str] = field(default_factory=set)
    removed: list[str] = field(default_factory=list)

    def exists(self, chain: str) -> bool:
        return chain in self.committed

    def active(self) -> dict[str, str]:
        return {}

    def remove_committed(self, chain: str) -> None:
        self.committed.discard(chain)
        self.removed.append(chain)


@dataclass
class _Store:
    content: ContentStore
    snapshots: _Snapshots
    db: MetadataDB
    leases: Leases


def _store(tmp_path: Path) -> _Store:
    return _Store(ContentStore(tmp_path / "content"), _Snapshots(), MetadataDB(tmp_path / "metadata.json"), Leases())


def _put(store: _Store, data: bytes) -> str:
    digest = sha256_digest(data)
    with store.content.writer(digest, len(data)) as w:
        w.write(data)
    return digest


def test_drops_what_it_made_and_nothing_that_was_there(tmp_path: Path) -> None:
    store = _store(tmp_path)
    old = _put(store, b"there before")
    new_blob, chain_a, chain_b = sha256_digest(b"made"), "sha256:" + "a" * 64, "sha256:" + "b" * 64
    store.snapshots.committed.add(chain_a)
    with store.leases.hold("pull x") as lease:
        undo = Undo(store, "pull x", lease=lease)  # type: ignore[arg-type]
        undo.note_blobs(old, new_blob)
        undo.note_chains(chain_a, chain_b)
        assert undo.blobs == [new_blob] and undo.chains == [chain_b]
        lease.protect(new_blob, chain_b)  # its own lease protects nothing from its undo
        _put(store, b"made")
        store.snapshots.committed.add(chain_b)
        undo.run()
    assert store.content.has(old) and not store.content.has(new_blob)
    assert store.snapshots.committed == {chain_a} and store.snapshots.removed == [chain_b]


def test_keeps_what_another_lease_or_an_image_holds(tmp_path: Path) -> None:
    store = _store(tmp_path)
    shared, named, mine = sha256_digest(b"shared"), sha256_digest(b"named"), sha256_digest(b"mine")
    chain = "sha256:" + "c" * 64
    with store.leases.hold("pull other") as other:
        other.protect(shared, chain)
        undo = Undo(store, "pull x")  # type: ignore[arg-type]  # its own lease: none here
        undo.note_blobs(shared, named, mine)
        undo.note_chains(chain)
        for data in (b"shared", b"named", b"mine"):
            _put(store, data)
        store.snapshots.committed.add(chain)
        layer = Descriptor("application/vnd.oci.image.layer.v1.tar", named, 5)
        config = Descriptor("application/vnd.oci.image.config.v1+json", sha256_digest(b"cfg"), 3)
        store.db.images[config.digest] = ImageRecord(id=config.digest, target=config, manifest=config, config=config,
                                                     layers=[layer], diff_ids=[], chain_id="", created="", size=0,
                                                     platform=Platform("linux", "amd64", ""))
        undo.run()
    assert store.content.has(shared) and store.content.has(named) and not store.content.has(mine)
    assert store.snapshots.committed == {chain}
