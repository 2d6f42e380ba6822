"""The image-store's side of ``barque build`` on a real filesystem and real
overlay mounts (root), through the store's domain core: metadata commits on
scratch (no snapshot), a zero-layer image's container rootfs, commits with
fixed times and clamped mtimes giving identical ids, and the build cache's
index (lookup, replace, garbage collection and prune, checked on disk)."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from client.errors import InvalidArgument, NotFound
from services.images.prune import candidates as prune_candidates
from client.imagespec import MediaType
from client.version import go_arch
from services.images.commit import CommitSpec
from services.images.core import ImageStore
from services.images.inspect import image_json
from tests.support.host import is_mounted

pytestmark = [pytest.mark.root]

CREATED = 1_700_000_000_123_456_789
EPOCH = 1_600_000_000


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    s = ImageStore(tmp_path / "store", source=None)  # type: ignore[arg-type]
    yield s
    s.close()


def _scratch(store: ImageStore, cmd: str = "sh", **kw) -> str:
    view, layer = store.commit(CommitSpec(key="", parent="", empty_layer=True, created_by=f"#(nop) CMD {cmd}",
                                          config_json=json.dumps({"Cmd": [cmd]}).encode(), **kw))
    assert layer is None
    return view.record.id


def _layer_members(store: ImageStore, digest: str) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(store.content.path(digest).read_bytes()))) as tar:
        return tar.getmembers()


def _blobs(store: ImageStore) -> set[str]:
    return set(store.content.list())


def _chains(store: ImageStore) -> set[str]:
    return set(store.snapshots.committed())


def test_metadata_commit_on_scratch_needs_no_snapshot(store: ImageStore) -> None:
    image_id = _scratch(store, created_nanos=CREATED)
    record = store.db.images[image_id]
    config = json.loads(store.content.read_bytes(record.config.digest))
    assert config["architecture"] == go_arch(os.uname().machine) and config["os"] == "linux"
    assert config["rootfs"] == {"type": "layers", "diff_ids": []}
    assert config["config"] == {"Cmd": ["sh"]}
    assert config["created"] == "2023-11-14T22:13:20.123456789Z"
    assert config["history"] == [{"created": config["created"], "created_by": "#(nop) CMD sh",
                                  "empty_layer": True}]
    assert record.manifest.media_type == MediaType.OCI_MANIFEST and record.layers == []
    assert record.parent == "" and record.chain_id == "" and record.committed
    assert image_json(store.inspect(image_id))["Parent"] == ""
    # a metadata step on it: its parent is recorded and shown
    child, _ = store.commit(CommitSpec(key="", parent=image_id, empty_layer=True, created_nanos=CREATED,
                                       created_by="#(nop) ENV A=1"))
    assert child.record.parent == image_id and child.parent == image_id
    assert image_json(child)["Parent"] == image_id


def test_commit_without_a_key_needs_empty_layer(store: ImageStore) -> None:
    with pytest.raises(InvalidArgument, match="snapshot key"):
        store.commit(CommitSpec(key="", parent=""))
    with pytest.raises(InvalidArgument, match="negative"):
        store.commit(CommitSpec(key="", parent="", empty_layer=True, clamp_mtime=-1))
    with pytest.raises(NotFound):
        store.commit(CommitSpec(key="", parent="sha256:" + "0" * 64, empty_layer=True))
    assert store.db.images == {} and _blobs(store) == set()


def _container_on(store: ImageStore, key: str, image_id: str, tmp_path: Path) -> Path:
    """Prepare ``key`` on the image, mount its overlay; the mount point."""
    mounts, _ = store.prepare_snapshot(key, image_id)
    target = tmp_path / f"rootfs-{key}"
    target.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", ",".join(mounts.overlay_options()), str(target)],
                   check=True)
    return target


def _unmount(target: Path) -> None:
    subprocess.run(["umount", str(target)], check=True)
    assert not is_mounted(target)


def test_zero_layer_image_container_commits_one_layer(store: ImageStore, tmp_path: Path) -> None:
    base = _scratch(store)
    root = _container_on(store, "c1", base, tmp_path)
    try:
        assert sorted(os.listdir(root)) == sorted(os.listdir(store.snapshots.mounts("c1").lowerdirs[0]))
        (root / "app").mkdir()
        (root / "app" / "hello").write_text("hi\n")
    finally:
        _unmount(root)
    assert [c.path for c in store.changes("c1")] == ["/app", "/app/hello"]
    view, layer = store.commit(CommitSpec(key="c1", parent=base, created_by="COPY hello /app/"))
    store.remove_snapshot("c1")
    assert layer is not None and view.record.parent == base and len(view.record.layers) == 1
    assert [m.name for m in _layer_members(store, layer.digest)] == ["app", "app/hello"]
    # the new image's snapshot holds exactly that tree
    fs = Path(store.snapshots.lowerdirs(view.record.chain_id)[0])
    assert sorted(str(p.relative_to(fs)) for p in fs.rglob("*")) == ["app", "app/hello"]


def test_zero_layer_prepare_without_init_has_the_empty_lower(store: ImageStore) -> None:
    base = _scratch(store)
    mounts = store.snapshots.prepare("bare", store.db.images[base].chain_id)
    assert len(mounts.lowerdirs) == 1 and os.listdir(mounts.lowerdirs[0]) == []
    assert store.snapshots.image_lowerdirs("bare") == []
    store.snapshots.remove("bare")


def _commit_tree(store: ImageStore, base: str, key: str, tmp_path: Path, mtime: int, **kw):
    root = _container_on(store, key, base, tmp_path)
    try:
        # made in an order that is not the sorted one
        for name in ("zeta", "alpha", "mid/inner", "mid/a"):
            path = root / name
            path.parent.mkdir(exist_ok=True)
            path.write_text(name)
            os.utime(path, (mtime, mtime))
        os.utime(root / "mid", (mtime, mtime))
    finally:
        _unmount(root)
    try:
        return store.commit(CommitSpec(key=key, parent=base, created_by="COPY . /", **kw))
    finally:
        store.remove_snapshot(key)


def test_clamped_commits_of_the_same_content_are_identical(store: ImageStore, tmp_path: Path) -> None:
    base = _scratch(store, created_nanos=CREATED)
    later = EPOCH + 1000
    one, layer1 = _commit_tree(store, base, "k1", tmp_path, later, created_nanos=CREATED, clamp_mtime=EPOCH)
    two, layer2 = _commit_tree(store, base, "k2", tmp_path, later + 500, created_nanos=CREATED, clamp_mtime=EPOCH)
    assert layer1 == layer2 and one.record.id == two.record.id
    members = _layer_members(store, layer1.digest)
    assert [m.name for m in members] == ["alpha", "mid", "mid/a", "mid/inner", "zeta"]
    assert {m.mtime for m in members} == {EPOCH}
    # the snapshot was applied from the same bytes: its files bear the clamp too
    fs = Path(store.snapshots.lowerdirs(one.record.chain_id)[0])
    assert os.stat(fs / "mid" / "inner").st_mtime == EPOCH
    # an earlier mtime is kept as it is
    three, layer3 = _commit_tree(store, base, "k3", tmp_path, EPOCH - 5, created_nanos=CREATED, clamp_mtime=EPOCH)
    assert {m.mtime for m in _layer_members(store, layer3.digest)} == {EPOCH - 5}
    # without the clamp the times differ, so do the digests
    four, layer4 = _commit_tree(store, base, "k4", tmp_path, later, created_nanos=CREATED)
    assert layer4 != layer1


def test_build_cache_lookup_replace_gc_and_prune(store: ImageStore, tmp_path: Path) -> None:
    assert store.lookup_build_cache("K") is None and store.lookup_build_cache("") is None
    base = _scratch(store, cache_key="K0")
    assert not store.db.images[base].committed
    first, layer1 = _commit_tree(store, base, "b1", tmp_path, EPOCH, cache_key="K")
    found = store.lookup_build_cache("K")
    assert found is not None and found.record.id == first.record.id and found.cache_key == "K"
    assert not first.record.committed
    # garbage collection keeps what the cache holds
    store.collect_garbage()
    assert first.record.id in store.db.images and layer1.digest in _blobs(store)
    # a newer commit under the key replaces the entry
    second, layer2 = _commit_tree(store, base, "b2", tmp_path, EPOCH + 7, cache_key="K")
    assert store.lookup_build_cache("K").record.id == second.record.id
    assert store.inspect(first.record.id).cache_key == ""
    # the index is saved with the db: a new store reads it back
    again = ImageStore(tmp_path / "store", source=None)  # type: ignore[arg-type]
    assert again.db.build_cache == {"K0": base, "K": second.record.id}
    again.close()
    # a tagged image survives the prune, with its blobs and snapshot
    third, layer3 = _commit_tree(store, base, "b3", tmp_path, EPOCH + 9, cache_key="K3", reference="kept:1")
    chains_before = _chains(store)
    result = store.prune_build_cache([])
    assert result.entries == 3
    assert set(result.deleted) == {base, first.record.id, second.record.id}
    assert result.reclaimed_bytes > 0
    assert set(store.db.images) == {third.record.id} and store.db.build_cache == {}
    blobs = _blobs(store)
    assert layer1.digest not in blobs and layer2.digest not in blobs and layer3.digest in blobs
    assert _chains(store) == {third.record.chain_id} and chains_before > _chains(store)
    assert store.inspect("kept:1").parent == ""  # its parent went with the cache
    assert store.prune_build_cache([]).entries == 0
    with pytest.raises(InvalidArgument, match="not supported"):
        store.prune_build_cache(["dangling=true"])
    with pytest.raises(InvalidArgument, match="expected name=value"):
        store.prune_build_cache(["until"])
    # until=: an entry committed now is younger than a day and stays
    fourth, _ = _commit_tree(store, third.record.id, "b4", tmp_path, EPOCH + 11, cache_key="K4")
    assert store.prune_build_cache(["until=24h"]).entries == 0
    assert store.lookup_build_cache("K4").record.id == fourth.record.id


def test_plain_commit_stays_and_a_held_image_survives_prune(store: ImageStore, tmp_path: Path) -> None:
    base = _scratch(store, cache_key="K0")
    plain, _ = _commit_tree(store, base, "p1", tmp_path, EPOCH)  # no cache key: docker commit's <none>
    assert plain.record.committed
    mounts, _ = store.prepare_snapshot("holder", base)
    result = store.prune_build_cache([])
    assert result.deleted == [] and base in store.db.images and plain.record.id in store.db.images
    store.remove_snapshot("holder")


def test_an_image_stored_while_a_lease_is_held_survives_prunes(store: ImageStore, tmp_path: Path) -> None:
    """A build commits, then holds what it committed: in between, a prune
    (the builder's, or ``image prune -a``) must not take the new image. What
    was stored before the oldest held lease began goes as before."""
    old = _scratch(store, cache_key="K-old")
    with store.leases.hold("build"):
        fresh, layer = _commit_tree(store, old, "f1", tmp_path, EPOCH, cache_key="K-new")
        assert store.prune_build_cache([]).deleted == [old]
        assert fresh.record.id in store.db.images and layer.digest in _blobs(store)
        with store.db.lock:
            assert fresh.record.id not in {r.id for r in prune_candidates(store, True, [])}
    # the lease ended: the collection it held back runs then, and what only it kept goes
    assert fresh.record.id not in store.db.images and layer.digest not in _blobs(store)
    assert fresh.record.chain_id not in _chains(store)
