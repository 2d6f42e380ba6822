"""Overlay snapshotter: verified unpack, chains, real overlay mounts, concurrency, removal (root)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from client.errors import AlreadyExists, DigestMismatch, FailedPrecondition, InvalidArgument, NotFound
from services.common.safetar.apply import UnsafeLayer
from services.images.snapshots import Mounts, Snapshotter, chain_ids
from tests.support.host import is_mounted
from tests.support.layers import (
    base_layer,
    build_tar,
    file_entry,
    hardlink_layer,
    symlink_escape_layer,
    whiteout_layer,
)

pytestmark = [
    pytest.mark.root,
]


def _diff(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _leftovers(root: Path) -> list[str]:
    return sorted(os.listdir(root / "tmp"))


@pytest.fixture
def snap(tmp_path: Path) -> Snapshotter:
    return Snapshotter(tmp_path / "store")


def _unpack_chain(snap: Snapshotter, layers: list[bytes]) -> list[str]:
    chain = chain_ids([_diff(raw) for raw in layers])
    parent = None
    for chain_id, raw in zip(chain, layers):
        snap.unpack(chain_id, parent, _diff(raw), io.BytesIO(raw))
        parent = chain_id
    return chain


def test_chain_ids_follow_the_oci_formula() -> None:
    a, b, c = ("sha256:" + ch * 64 for ch in "abc")
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert chain_ids([a, b, c]) == [a, ab, abc]
    assert chain_ids([]) == []
    with pytest.raises(InvalidArgument):
        chain_ids(["sha256:nothex"])


def test_overlay_options_shape() -> None:
    m = Mounts(["/s/b/fs", "/s/a/fs"], "/a/k/upper", "/a/k/work")
    assert m.overlay_options() == ["lowerdir=/s/b/fs:/s/a/fs", "upperdir=/a/k/upper", "workdir=/a/k/work"]


def test_unpack_chain_and_lowerdirs(snap: Snapshotter, tmp_path: Path) -> None:
    chain = _unpack_chain(snap, [base_layer(), whiteout_layer()])
    store = tmp_path / "store"
    assert snap.committed() == sorted(chain)
    assert snap.lowerdirs(chain[1]) == [str(store / "snapshots" / c.split(":")[1] / "fs") for c in reversed(chain)]
    assert (store / "snapshots" / chain[1].split(":")[1] / "parent").read_text() == chain[0]
    assert (store / "snapshots" / chain[0].split(":")[1] / "fs/etc/os-release").exists()
    assert snap.usage(chain[0]) > 0
    assert _leftovers(store) == []


def test_diff_id_mismatch_leaves_nothing(snap: Snapshotter, tmp_path: Path) -> None:
    raw = base_layer()
    wrong = "sha256:" + "0" * 64
    with pytest.raises(DigestMismatch, match="tar hashed to " + _diff(raw)):
        snap.unpack(wrong, None, wrong, io.BytesIO(raw))
    assert snap.committed() == [] and _leftovers(tmp_path / "store") == []


def test_hostile_layer_leaves_nothing(snap: Snapshotter, tmp_path: Path) -> None:
    raw = symlink_escape_layer(str(tmp_path))
    with pytest.raises(UnsafeLayer):
        snap.unpack(_diff(raw), None, _diff(raw), io.BytesIO(raw))
    assert snap.committed() == [] and _leftovers(tmp_path / "store") == []
    assert not (tmp_path / "pwned").exists()


def test_missing_parent_and_inconsistent_chain(snap: Snapshotter) -> None:
    raw = hardlink_layer()
    parent = "sha256:" + "1" * 64
    child = chain_ids([parent, _diff(raw)])[1]
    with pytest.raises(FailedPrecondition, match="parent"):
        snap.unpack(child, parent, _diff(raw), io.BytesIO(raw))
    with pytest.raises(InvalidArgument, match="does not match"):
        snap.unpack(_diff(raw), parent, _diff(raw), io.BytesIO(raw))


class _Unreadable(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        raise AssertionError("an existing snapshot must not read its stream")


def test_existing_snapshot_is_not_read_again(snap: Snapshotter) -> None:
    raw = base_layer()
    [chain] = _unpack_chain(snap, [raw])
    stats = snap.unpack(chain, None, _diff(raw), _Unreadable())
    assert stats.files == 0


class _SlowStream(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = io.BytesIO(data)
        self.reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        self.reads += 1
        time.sleep(0.05)
        return self._data.readinto(b)


def test_concurrent_unpack_of_one_chain_extracts_once(snap: Snapshotter) -> None:
    raw = build_tar([file_entry(f"f{i}", b"x" * 2000) for i in range(50)])
    diff = _diff(raw)
    streams = [_SlowStream(raw), _SlowStream(raw)]
    results: list = [None, None]
    barrier = threading.Barrier(2)

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = snap.unpack(diff, None, diff, streams[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(s.reads > 0 for s in streams) == [False, True]
    assert sorted(r.files for r in results) == [0, 50]
    assert snap.committed() == [diff]


def test_overlay_mount_hides_whiteouts_and_opaque(snap: Snapshotter, tmp_path: Path) -> None:
    chain = _unpack_chain(snap, [base_layer(), whiteout_layer()])
    mounts = snap.prepare("ctr-1", chain[1])
    assert snap.mounts("ctr-1") == mounts and snap.active() == {"ctr-1": chain[1]}
    target = tmp_path / "rootfs"
    target.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", ",".join(mounts.overlay_options()), str(target)],
                   check=True)
    try:
        assert (target / "data/keep").read_text() == "keep\n"
        assert not (target / "data/gone").exists()  # whiteout hides the lower file
        assert os.listdir(target / "data/opaque") == ["new"]  # opaque hides lower children
        assert sorted(os.listdir(target / "data/dir")) == ["a", "b"]
        (target / "written").write_text("upper")
    finally:
        subprocess.run(["umount", str(target)], check=True)
    assert not is_mounted(target)
    assert (Path(mounts.upperdir) / "written").read_text() == "upper"
    snap.remove("ctr-1")
    assert not Path(mounts.upperdir).exists() and snap.active() == {}
    assert _leftovers(tmp_path / "store") == []


def test_single_layer_prepare_mounts_as_overlay(snap: Snapshotter, tmp_path: Path) -> None:
    [chain] = _unpack_chain(snap, [hardlink_layer()])
    mounts = snap.prepare("one", chain)
    assert len(mounts.lowerdirs) == 1
    target = tmp_path / "rootfs"
    target.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", ",".join(mounts.overlay_options()), str(target)],
                   check=True)
    try:
        assert (target / "hard/link").read_text() == "linked content\n"
    finally:
        subprocess.run(["umount", str(target)], check=True)
    assert not is_mounted(target)
    snap.remove("one")


def test_active_key_rules(snap: Snapshotter) -> None:
    [chain] = _unpack_chain(snap, [hardlink_layer()])
    for bad in ["", "-x", "a/b", "..", "x" * 129, ".hidden"]:
        with pytest.raises(InvalidArgument):
            snap.prepare(bad, chain)
    with pytest.raises(NotFound):
        snap.prepare("k", "sha256:" + "2" * 64)
    snap.prepare("k", chain)
    with pytest.raises(AlreadyExists):
        snap.prepare("k", chain)
    snap.remove("k")
    for call in (snap.mounts, snap.remove):
        with pytest.raises(NotFound):
            call("k")


def test_remove_committed_guards_children_and_users(snap: Snapshotter, tmp_path: Path) -> None:
    chain = _unpack_chain(snap, [base_layer(), whiteout_layer()])
    with pytest.raises(FailedPrecondition, match="parent of"):
        snap.remove_committed(chain[0])
    snap.prepare("user", chain[1])
    with pytest.raises(FailedPrecondition, match="in use"):
        snap.remove_committed(chain[1])
    snap.remove("user")
    snap.remove_committed(chain[1])
    snap.remove_committed(chain[0])
    assert snap.committed() == []
    with pytest.raises(NotFound):
        snap.remove_committed(chain[0])
    with pytest.raises(NotFound):
        snap.lowerdirs(chain[0])
    assert _leftovers(tmp_path / "store") == []


def test_clean_tmp_drops_half_unpacked(snap: Snapshotter, tmp_path: Path) -> None:
    half = tmp_path / "store/tmp/deadbeef.123/fs/usr"
    half.mkdir(parents=True)
    (tmp_path / "store/tmp/stray").write_text("x")
    snap.clean_tmp()
    assert _leftovers(tmp_path / "store") == []


def test_durable_unpack_and_root_validation(tmp_path: Path) -> None:
    durable = Snapshotter(tmp_path / "durable", durable=True)
    assert _unpack_chain(durable, [hardlink_layer()])[0] in durable.committed()
    with pytest.raises(InvalidArgument, match="must not contain"):
        Snapshotter(tmp_path / "a:b")
