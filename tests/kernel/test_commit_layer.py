"""Commit's layer and diff's rules on real overlay forms (root: whiteout char
devices, trusted.overlay.* xattrs): the OCI tar the writer hook makes, its
digests, its round trip through the pull's unpack path; docker diff's D rules;
the init layer's stubs; a failing commit leaves nothing behind."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import threading
from pathlib import Path

import pytest

from client.errors import DigestMismatch
from client.imagespec import Descriptor, MediaType, Platform, sha256_digest
from services.common.content import ContentStore
from services.common.safetar.apply import apply_layer
from services.images.changes import changes
from services.images.commit import CommitSpec
from services.images.core import ImageStore
from services.images.initlayer import make_init_layer
from services.images.layerwrite import write_layer
from services.images.metadata import ImageRecord
from tests.support.layers import base_layer

pytestmark = [pytest.mark.root]


def _whiteout(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def _opaque(path: Path) -> None:
    os.setxattr(path, "trusted.overlay.opaque", b"y")


def _upper(tmp_path: Path) -> Path:
    """An overlay upper dir: a new file, a whiteout, an opaque dir, a hardlink pair."""
    upper = tmp_path / "upper"
    (upper / "data" / "opaque").mkdir(parents=True)
    (upper / "data" / "new").write_text("new\n")
    os.setxattr(upper / "data" / "new", "trusted.overlay.origin", b"\x00fake")
    os.setxattr(upper / "data" / "new", "user.note", b"kept")
    _whiteout(upper / "data" / "gone")
    _opaque(upper / "data" / "opaque")
    (upper / "data" / "opaque" / "fresh").write_text("fresh\n")
    os.link(upper / "data" / "new", upper / "data" / "twin")
    return upper


def test_layer_tar_has_oci_whiteouts_and_verifies(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "content")
    blob = write_layer(_upper(tmp_path), store)
    raw = store.path(blob.digest).read_bytes()
    assert sha256_digest(raw) == blob.digest and len(raw) == blob.size
    tar_bytes = gzip.decompress(raw)
    assert sha256_digest(tar_bytes) == blob.diff_id and len(tar_bytes) == blob.tar_size
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tf:
        members = tf.getmembers()
        names = [m.name for m in members]
        assert names == ["data", "data/.wh.gone", "data/new", "data/opaque", "data/opaque/.wh..wh..opq",
                         "data/opaque/fresh", "data/twin"]
        by = {m.name: m for m in members}
        assert by["data/.wh.gone"].isreg() and by["data/.wh.gone"].size == 0
        assert by["data/opaque/.wh..wh..opq"].isreg()
        assert by["data/twin"].islnk() and by["data/twin"].linkname == "data/new"
        for m in members:
            assert not any(k.startswith("SCHILY.xattr.trusted.") for k in m.pax_headers), m.name
        assert by["data/new"].pax_headers.get("SCHILY.xattr.user.note") == "kept"
    assert blob.entries == 7 and blob.file_bytes == len("new\n") + len("fresh\n")
    assert os.listdir(store.ingest_dir) == []

    # the pull's unpack path reads it back into overlay form
    out = tmp_path / "applied"
    out.mkdir()
    apply_layer(io.BytesIO(tar_bytes), out)
    gone = os.lstat(out / "data" / "gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(out / "data" / "opaque", "trusted.overlay.opaque") == b"y"
    assert os.listdir(out / "data" / "opaque") == ["fresh"]


def test_empty_upper_makes_no_blob(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "content")
    (tmp_path / "upper").mkdir()
    blob = write_layer(tmp_path / "upper", store)
    assert blob.digest == "" and blob.entries == 0
    assert list(store.list()) == [] and os.listdir(store.ingest_dir) == []
    images = ImageStore(tmp_path / "store", source=None)  # type: ignore[arg-type]
    staged = write_layer(tmp_path / "upper", images.content, stage=images.snapshots.stage)
    assert staged.digest == "" and staged.staged is None and staged.diff_id == sha256_digest(b"")
    assert os.listdir(tmp_path / "store" / "snapshots" / "tmp") == [] and list(images.content.list()) == []


def test_diff_delete_rules(tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    (lower / "a" / "dir").mkdir(parents=True)
    (lower / "a" / "dir" / "old").write_text("o")
    (lower / "a" / "file").write_text("f")
    upper = tmp_path / "upper"
    (upper / "a").mkdir(parents=True)
    (upper / "b").mkdir()
    _whiteout(upper / "a" / "file")
    (upper / "a" / "dir").mkdir()
    _opaque(upper / "a" / "dir")              # rm -rf /a/dir && mkdir /a/dir
    (upper / "a" / "dir" / "new").write_text("n")
    (upper / "b" / "made").mkdir()
    _opaque(upper / "b" / "made")             # opaque but never in a lower: just added
    st = os.stat(lower / "a")
    os.utime(upper / "a", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert [str(c) for c in changes(upper, [str(lower)])] == [
        "C /a", "D /a/dir", "A /a/dir/new", "D /a/file", "A /b", "A /b/made"]
    # a lower that whited the directory out: recreating it is no delete
    top = tmp_path / "top"
    (top / "a").mkdir(parents=True)
    _whiteout(top / "a" / "dir")
    assert "D /a/dir" not in [str(c) for c in changes(upper, [str(top), str(lower)])]


def test_init_layer_makes_only_missing_mountpoints(tmp_path: Path) -> None:
    image = tmp_path / "image"
    (image / "etc").mkdir(parents=True)
    (image / "proc").mkdir()
    (image / "etc" / "hostname").write_text("img\n")
    os.chmod(image / "etc", 0o750)
    os.chown(image / "etc", 0, 42)
    os.utime(image / "etc", ns=(1_000_000_000, 1_000_000_000))
    init = tmp_path / "init"
    init.mkdir()
    made = make_init_layer(init, [str(image)])
    assert made == ["dev", "sys", "etc/hosts", "etc/resolv.conf"]
    st = os.stat(init / "etc")
    assert (stat.S_IMODE(st.st_mode), st.st_gid, st.st_mtime_ns) == (0o750, 42, 1_000_000_000)
    assert (init / "etc" / "hosts").read_bytes() == b"" and not (init / "etc" / "hostname").exists()
    full = tmp_path / "full"
    full.mkdir()
    assert make_init_layer(full, [str(init), str(image)]) == [] and os.listdir(full) == []


def _store_with_image(tmp_path: Path) -> tuple[ImageStore, str]:
    store = ImageStore(tmp_path / "store", source=None)  # type: ignore[arg-type]
    tar = base_layer()
    diff_id = sha256_digest(tar)
    store.snapshots.unpack(diff_id, None, diff_id, io.BytesIO(tar))
    gz = gzip.compress(tar)
    with store.content.writer(sha256_digest(gz), len(gz)) as w:
        w.write(gz)
    layer = Descriptor(MediaType.OCI_LAYER_GZIP, sha256_digest(gz), len(gz))
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                         "history": [{"created": "2000-01-01T00:00:00Z", "created_by": "base"}]}).encode()
    with store.content.writer(sha256_digest(config), len(config)) as w:
        w.write(config)
    cdesc = Descriptor(MediaType.OCI_CONFIG, sha256_digest(config), len(config))
    manifest = json.dumps({"schemaVersion": 2, "config": {"digest": cdesc.digest}}).encode()
    with store.content.writer(sha256_digest(manifest), len(manifest)) as w:
        w.write(manifest)
    mdesc = Descriptor(MediaType.OCI_MANIFEST, sha256_digest(manifest), len(manifest))
    record = ImageRecord(id=cdesc.digest, target=mdesc, manifest=mdesc, config=cdesc, layers=[layer],
                         diff_ids=[diff_id], chain_id=diff_id, created="2000-01-01T00:00:00Z", size=1,
                         platform=Platform())
    with store.db.lock:
        store.db.images[record.id] = record
        store.db.names["docker.io/library/base:latest"] = record.id
        store.db.save()
    return store, record.id


def test_failed_commit_leaves_nothing_and_a_good_one_runs(tmp_path: Path, monkeypatch) -> None:
    store, image_id = _store_with_image(tmp_path)
    mounts, _ = store.prepare_snapshot("ctr1", image_id)
    Path(mounts.upperdir, "added").write_text("hello\n")
    before = (sorted(store.content.list()), store.snapshots.committed(), sorted(store.db.images))

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.snapshots, "publish_staged", broken)
    with pytest.raises(OSError):
        store.commit(CommitSpec(key="ctr1", parent=image_id, reference="new:1", container_id="ctr1"))
    assert (sorted(store.content.list()), store.snapshots.committed(), sorted(store.db.images)) == before
    assert "docker.io/library/new:1" not in store.db.names and os.listdir(store.content.ingest_dir) == []
    assert os.listdir(tmp_path / "store" / "snapshots" / "tmp") == []  # the staged layer dropped
    monkeypatch.undo()

    view, layer = store.commit(CommitSpec(key="ctr1", parent=image_id, reference="new:1", comment="c",
                                          container_id="ctr1"))
    assert layer is not None and view.names == ["docker.io/library/new:1"]
    assert view.record.diff_sizes[-1] == len("hello\n") and len(view.record.diff_ids) == 2
    assert store.snapshots.exists(view.record.chain_id)
    # the new image is runnable at once: its snapshot holds the file
    new_mounts, _ = store.prepare_snapshot("ctr2", view.record.id)
    holders = [d for d in new_mounts.lowerdirs if Path(d, "added").exists()]
    assert len(holders) == 1 and Path(holders[0], "added").read_text() == "hello\n"
    assert [e.action for e in store.events.stream(1, lambda: True)] == ["commit", "tag"]
    assert hashlib.sha256(json.dumps(json.loads(view.config_json), separators=(",", ":")).encode()).hexdigest() \
        == view.record.id.removeprefix("sha256:")


def test_untagged_commit_survives_garbage_collection(tmp_path: Path) -> None:
    store, image_id = _store_with_image(tmp_path)
    mounts, _ = store.prepare_snapshot("ctr1", image_id)
    Path(mounts.upperdir, "kept").write_text("k\n")
    view, layer = store.commit(CommitSpec(key="ctr1", parent=image_id, container_id="ctr1"))
    store.remove_snapshot("ctr1")
    store._collect_garbage()  # what an rmi or a re-pull runs
    assert view.names == [] and store.find(view.record.id.removeprefix("sha256:")[:12]).id == view.record.id
    assert layer is not None and store.content.has(layer.digest)
    untagged, deleted = store.remove(view.record.id)
    assert untagged == [] and deleted[0] == view.record.id and not store.content.has(layer.digest)


def test_empty_layer_commit_adds_only_history(tmp_path: Path) -> None:
    store, image_id = _store_with_image(tmp_path)
    mounts, _ = store.prepare_snapshot("ctr1", image_id)
    Path(mounts.upperdir, "ignored").write_text("not in any layer\n")
    blobs = sorted(store.content.list())
    view, layer = store.commit(CommitSpec(key="ctr1", parent=image_id, created_by="ENV A=1", empty_layer=True))
    config = json.loads(view.config_json)
    assert layer is None and view.record.diff_ids == store.find(image_id).diff_ids
    assert view.record.chain_id == store.find(image_id).chain_id
    assert config["history"][-1]["empty_layer"] is True and config["history"][-1]["created_by"] == "ENV A=1"
    assert len(sorted(store.content.list())) == len(blobs) + 2  # config and manifest only


def test_layer_staged_in_the_same_pass_matches_the_blob(tmp_path: Path) -> None:
    """The snapshot applied beside the gzip holds what the blob holds, and its
    reader's hash is the blob's diff id."""
    store = ImageStore(tmp_path / "store", source=None)  # type: ignore[arg-type]
    upper = _upper(tmp_path)
    (upper / "big").write_bytes(os.urandom(3 << 20) + b"tail")  # several hand-offs, an odd size
    blob = write_layer(upper, store.content, stage=store.snapshots.stage)
    staged = blob.staged
    try:
        tar_bytes = gzip.decompress(store.content.path(blob.digest).read_bytes())
        assert sha256_digest(tar_bytes) == blob.diff_id == staged.diff_id and len(tar_bytes) == blob.tar_size
        fs = staged.path / "fs"
        assert (fs / "big").read_bytes() == (upper / "big").read_bytes()
        assert stat.S_ISCHR(os.lstat(fs / "data" / "gone").st_mode)
        assert os.getxattr(fs / "data" / "opaque", "trusted.overlay.opaque") == b"y"
        assert store.snapshots.publish_staged(staged, blob.diff_id, None, blob.diff_id) is True
        assert (Path(store.snapshots.lowerdirs(blob.diff_id)[0]) / "big").stat().st_size == (3 << 20) + 4
        # the same layer again: not published twice, the second staged tree dropped
        again = write_layer(upper, store.content, stage=store.snapshots.stage)
        assert again.diff_id == blob.diff_id
        assert store.snapshots.publish_staged(again.staged, blob.diff_id, None, blob.diff_id) is False
        assert not again.staged.path.exists()
    finally:
        staged.discard()
    assert os.listdir(tmp_path / "store" / "snapshots" / "tmp") == []


def test_staged_layer_with_another_diff_id_is_refused(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "store", source=None)  # type: ignore[arg-type]
    (tmp_path / "upper").mkdir()
    (tmp_path / "upper" / "f").write_text("x")
    blob = write_layer(tmp_path / "upper", store.content, stage=store.snapshots.stage)
    wrong = sha256_digest(b"not this layer")
    with pytest.raises(DigestMismatch):
        store.snapshots.publish_staged(blob.staged, wrong, None, wrong)
    assert store.snapshots.committed() == [] and not blob.staged.path.exists()


@pytest.mark.parametrize("broken", ["stage", "gzip", "publish"])
def test_failure_in_any_part_of_the_pass_leaves_nothing(tmp_path: Path, monkeypatch, broken: str) -> None:
    """A failing stage, a failing gzip/ingest, or a failing publish: no blob,
    no ingest file, no staged tree, no snapshot; the error is the one raised."""
    threads_before = set(threading.enumerate())  # the suite's own (grpc pollers...) are not the pass's
    store = ImageStore(tmp_path / "store", source=None)  # type: ignore[arg-type]
    (tmp_path / "upper").mkdir()
    (tmp_path / "upper" / "big").write_bytes(os.urandom(16 << 20))  # more than the hand-off queues hold
    real_stage = store.snapshots.stage

    def stage(stream):
        if broken == "stage":
            stream.read(1 << 20)  # fail mid-stream, the producer still sending
            raise OSError(28, "No space left on device")
        return real_stage(stream)

    if broken == "gzip":
        from services.common import content
        def bad_commit(self, *a, **k):
            raise OSError(5, "Input/output error")
        monkeypatch.setattr(content.Writer, "commit", bad_commit)
    with pytest.raises(OSError) as err:
        blob = write_layer(tmp_path / "upper", store.content, stage=stage)
        if broken == "publish":
            monkeypatch.setattr(store.snapshots, "_publish", lambda *a: (_ for _ in ()).throw(OSError(30, "ro")))
            store.snapshots.publish_staged(blob.staged, blob.diff_id, None, blob.diff_id)
    assert err.value.errno == {"stage": 28, "gzip": 5, "publish": 30}[broken]
    # a publish failing leaves the published blob to commit's undo (the test above)
    assert len(list(store.content.list())) == (broken == "publish") and os.listdir(store.content.ingest_dir) == []
    assert os.listdir(tmp_path / "store" / "snapshots" / "tmp") == [] and store.snapshots.committed() == []
    assert set(threading.enumerate()) - threads_before == set()  # the pass's worker threads ended
