"""The RPCs a ``barque build`` step drives, against the real services: a
metadata commit on scratch (no container), a container created (not
started) from that zero-layer image, CopyTo with make_parents and the tar's
ownership kept, and the commit of it: a one-layer image whose file tree is
exactly what was copied. Commits with a fixed time and clamped mtimes give
identical ids; the build cache's lookup, replace and prune, with the blobs
and snapshots checked on disk; make_parents through a symlink that points
out of the root stays inside it, in a created and in a running container."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from barque.images.v1 import images_pb2
from barque.runtime.v1 import runtime_pb2
from client.errors import InvalidArgument

pytestmark = [pytest.mark.integration, pytest.mark.root]

CREATED = 1_700_000_000_000_000_000
EPOCH = 1_600_000_000


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _info(name: str, kind: bytes = tarfile.REGTYPE, *, mode: int = 0o644, uid: int = 0, gid: int = 0,
          mtime: int = EPOCH, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.mtime, info.size, info.linkname = (
        kind, mode, uid, gid, mtime, size, link)
    return info


def _file(name: str, data: bytes, **kw) -> tuple[tarfile.TarInfo, bytes]:
    return _info(name, size=len(data), **kw), data


def _copy_to(rt, cid: str, path: str, data: bytes, **header) -> None:
    def messages():
        yield runtime_pb2.CopyToRequest(header=runtime_pb2.CopyToHeader(id=cid, path=path, **header))
        yield runtime_pb2.CopyToRequest(data=data)
    rt.CopyTo(messages(), timeout=60)


def _create(rt, image: str, cmd: list[str]) -> str:
    return rt.Create(runtime_pb2.CreateRequest(config=runtime_pb2.ContainerConfig(image=image, cmd=cmd)),
                     timeout=60).id


def _members(engine, digest: str) -> list[tarfile.TarInfo]:
    raw = (engine.state("images") / "content" / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw))) as tar:
        return tar.getmembers()


def _blobs(engine) -> set[str]:
    return {"sha256:" + n for n in os.listdir(engine.state("images") / "content" / "blobs" / "sha256")}


def _chains(engine) -> set[str]:
    return {"sha256:" + n for n in os.listdir(engine.state("images") / "snapshots" / "snapshots")}


def _scratch(images, **kw) -> images_pb2.Image:
    fields = {"config_json": json.dumps({"Cmd": ["sh"]}).encode(), **kw}
    return images.Commit(images_pb2.CommitRequest(
        key="", parent="", empty_layer=True, created_by='/bin/sh -c #(nop)  CMD ["sh"]', created_nanos=CREATED,
        **fields), timeout=60).image


@pytest.fixture
def eng(clean, busybox):
    yield clean
    with clean.client("images") as images:
        images.PruneBuildCache(images_pb2.PruneBuildCacheRequest(), timeout=60)


def _copy_step(eng, base: str, tar: bytes, mtime_path: str = "/", **commit) -> images_pb2.CommitResponse:
    """A COPY step: create (not started), CopyTo with make_parents, commit, delete."""
    with eng.client("runtime") as rt, eng.client("images") as images:
        cid = _create(rt, base, ["/copy"])
        try:
            _copy_to(rt, cid, mtime_path, tar, copy_uid_gid=True, make_parents=True, parents_uid=7, parents_gid=8)
            return images.Commit(images_pb2.CommitRequest(key=cid, parent=base, created_by="COPY", **commit),
                                 timeout=120)
        finally:
            rt.Delete(runtime_pb2.DeleteRequest(id=cid, force=True), timeout=60)


def test_scratch_copy_commit_gives_exactly_the_copied_tree(eng) -> None:
    with eng.client("images") as images:
        base = _scratch(images)
        with pytest.raises(InvalidArgument):
            images.Commit(images_pb2.CommitRequest(key="", parent=""), timeout=30)
    assert list(base.layers) == [] and base.parent == "" and base.chain_id == ""
    assert json.loads(base.config_json)["rootfs"] == {"type": "layers", "diff_ids": []}
    tar = _tar([
        (_info("d", tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1001, mtime=EPOCH + 1), None),
        _file("d/f", b"data\n", mode=0o640, uid=1002, gid=1003, mtime=EPOCH + 2),
        (_info("d/l", tarfile.SYMTYPE, uid=1004, gid=1005, mtime=EPOCH + 3, link="f"), None),
        (_info("d/h", tarfile.LNKTYPE, link="d/f"), None),
    ])
    resp = _copy_step(eng, base.id, tar, "/app/sub")
    image = resp.image
    assert image.parent == base.id and len(image.layers) == 1 and len(image.diff_ids) == 1
    members = {m.name: m for m in _members(eng, resp.layer.digest)}
    assert sorted(members) == ["app", "app/sub", "app/sub/d", "app/sub/d/f", "app/sub/d/h", "app/sub/d/l"]
    # the parents make_parents created: 0755, parents_uid:parents_gid
    for name in ("app", "app/sub"):
        assert (members[name].mode, members[name].uid, members[name].gid) == (0o755, 7, 8)
    # copy_uid_gid: the tar's owner, mode and mtime on a directory, a file, a symlink and a hardlink
    d, f, link, hard = (members["app/sub/d"], members["app/sub/d/f"], members["app/sub/d/l"],
                        members["app/sub/d/h"])
    assert (d.isdir(), d.mode, d.uid, d.gid, d.mtime) == (True, 0o750, 1000, 1001, EPOCH + 1)
    assert (f.isfile(), f.mode, f.uid, f.gid, f.mtime) == (True, 0o640, 1002, 1003, EPOCH + 2)
    assert (link.issym(), link.linkname, link.uid, link.gid, link.mtime) == (True, "f", 1004, 1005, EPOCH + 3)
    assert hard.islnk() and hard.linkname == "app/sub/d/f"
    inspect = json.loads(eng.ok("image", "inspect", image.id).stdout)[0]
    assert inspect["Parent"] == base.id and inspect["RootFS"]["Layers"] == list(image.diff_ids)


def test_clamped_steps_with_a_fixed_time_are_identical(eng) -> None:
    with eng.client("images") as images:
        base = _scratch(images)
    results = []
    for delay in (0, 1.1):
        time.sleep(delay)
        now = int(time.time())
        tar = _tar([_file("x/y", b"same\n", mtime=now), (_info("x", tarfile.DIRTYPE, mode=0o755, mtime=now), None)])
        results.append(_copy_step(eng, base.id, tar, "/", created_nanos=CREATED, clamp_mtime=EPOCH))
    one, two = results
    assert one.layer.digest == two.layer.digest and one.image.id == two.image.id
    assert {m.mtime for m in _members(eng, one.layer.digest)} == {EPOCH}


def test_build_cache_lookup_replace_and_prune_on_disk(eng) -> None:
    with eng.client("images") as images:
        assert not images.LookupBuildCache(images_pb2.LookupBuildCacheRequest(key="K"), timeout=30).found
        base = _scratch(images, cache_key="K-base", config_json=b'{"Cmd":["cached"]}')
        first = _copy_step(eng, base.id, _tar([_file("one", b"1\n")]), cache_key="K")
        hit = images.LookupBuildCache(images_pb2.LookupBuildCacheRequest(key="K"), timeout=30)
        assert hit.found and hit.image.id == first.image.id and hit.image.cache_key == "K"
        # a garbage collection (the rmi of another image) keeps the cache's untagged images
        _scratch(images, reference="throwaway:1", config_json=b'{"Cmd":["other"]}')
        assert eng.ok("rmi", "throwaway:1").lines[-1].startswith("Deleted: sha256:")
        assert first.layer.digest in _blobs(eng)
        second = _copy_step(eng, base.id, _tar([_file("two", b"2\n")]), cache_key="K")
        hit = images.LookupBuildCache(images_pb2.LookupBuildCacheRequest(key="K"), timeout=30)
        assert hit.image.id == second.image.id
        kept = _copy_step(eng, base.id, _tar([_file("three", b"3\n")]), cache_key="K3", reference="kept-build:1")
        chains = _chains(eng)
        gone = {first.image.chain_id, second.image.chain_id}
        assert gone <= chains
        result = images.PruneBuildCache(images_pb2.PruneBuildCacheRequest(), timeout=60)
        assert result.entries == 3 and result.reclaimed_bytes > 0
        assert set(result.deleted) == {base.id, first.image.id, second.image.id}
        assert not images.LookupBuildCache(images_pb2.LookupBuildCacheRequest(key="K3"), timeout=30).found
        assert images.Inspect(images_pb2.InspectRequest(reference="kept-build:1"), timeout=30).image.parent == ""
    blobs = _blobs(eng)
    assert first.layer.digest not in blobs and second.layer.digest not in blobs
    assert kept.layer.digest in blobs and kept.image.config.digest in blobs
    assert not gone & _chains(eng) and kept.image.chain_id in _chains(eng)
    eng.ok("rmi", "kept-build:1")


def test_make_parents_through_a_symlink_out_of_the_root_stays_inside(eng, busybox, tmp_path: Path) -> None:
    outside = tmp_path / "host-side"
    outside.mkdir()
    links = _tar([(_info("out", tarfile.SYMTYPE, link=str(outside)), None),
                  (_info("rel", tarfile.SYMTYPE, link="../../../../../../.." + str(outside) + "/rel"), None)])
    payload = _tar([_file("f", b"in\n")])
    with eng.client("runtime") as rt:
        created = _create(rt, busybox, ["sleep", "60"])
        running = _create(rt, busybox, ["sleep", "60"])
        rt.Start(runtime_pb2.StartRequest(id=running), timeout=60)
        try:
            for cid in (created, running):
                _copy_to(rt, cid, "/", links)
                _copy_to(rt, cid, "/out/a/b", payload, make_parents=True, parents_uid=5, parents_gid=6)
                _copy_to(rt, cid, "/rel/c", payload, make_parents=True)
                for path in (f"{outside}/a/b/f", f"{outside}/rel/c/f"):
                    st = rt.StatPath(runtime_pb2.StatPathRequest(id=cid, path=path), timeout=30).stat
                    assert st.size == 3
                # an existing directory is left as it was
                _copy_to(rt, cid, "/tmp", payload, make_parents=True, parents_uid=5, parents_gid=6)
            assert os.listdir(outside) == []
            out = eng.ok("exec", running, "stat", "-c", "%u:%g %a", f"{outside}/a", f"{outside}/a/b", "/tmp").lines
            assert out == ["5:6 755", "5:6 755", "0:0 1777"]
        finally:
            for cid in (created, running):
                rt.Delete(runtime_pb2.DeleteRequest(id=cid, force=True), timeout=60)
