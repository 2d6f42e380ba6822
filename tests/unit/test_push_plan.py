"""services.images.push over a real content store and metadata db in a temp
dir, with a fake registry target that records the calls: what is asked,
uploaded, mounted, in which order the progress comes, what is recorded."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest

from client.errors import NotFound
from client.imagespec import Descriptor, MediaType, Platform, sha256_digest
from services.common.content import ContentStore
from services.images.metadata import ImageRecord, MetadataDB
from services.images.push import UPLOAD_WORKERS, BlobUpload, push_image

REG = "reg.example:5000"


class FakeTarget:
    def __init__(self, present: set[str] = frozenset(), proxy_cache: set[str] = frozenset(),
                 mountable: set[str] = frozenset()) -> None:
        self.present = set(present)
        self.proxy_cache = set(proxy_cache)
        self.mountable = set(mountable)
        self.calls: list[tuple] = []
        self.bytes_sent: dict[str, bytes] = {}
        self.manifests: list[tuple[str, str, str, bytes]] = []
        self.tags: dict[tuple[str, str], str] = {}
        self.lock = threading.Lock()

    def blob_exists(self, repository: str, digest: str) -> bool:
        with self.lock:
            self.calls.append(("head", repository, digest))
        return digest in self.present

    def push_blob(self, repository, desc, chunks, mount_from) -> Iterator[BlobUpload]:
        with self.lock:
            self.calls.append(("push", repository, desc.digest, chunks is None, tuple(mount_from)))
        if chunks is None and desc.digest not in self.proxy_cache:
            raise NotFound(f"blob {desc.digest} is not in the proxy's cache")
        if mount_from and desc.digest in self.mountable:
            yield BlobUpload(desc.size, desc.size, "mounted", mount_from[0])
            return
        data = b"".join(chunks) if chunks is not None else b""
        if chunks is not None:
            assert sha256_digest(data) == desc.digest
            self.bytes_sent[desc.digest] = data
        yield BlobUpload(desc.size // 2, desc.size)
        yield BlobUpload(desc.size, desc.size, "uploaded")

    def put_manifest(self, repository: str, tag: str, media_type: str, content: bytes) -> str:
        self.manifests.append((repository, tag, media_type, content))
        if tag:
            self.tags[(repository, tag)] = sha256_digest(content)
        return sha256_digest(content)

    def tag_digest(self, repository: str, tag: str) -> str:
        with self.lock:
            self.calls.append(("tag", repository, tag))
        return self.tags.get((repository, tag), "")


def _put(content: ContentStore, data: bytes) -> Descriptor:
    digest = sha256_digest(data)
    if not content.has(digest):
        with content.writer(digest, len(data)) as w:
            w.write(data)
    return Descriptor(MediaType.DOCKER_LAYER_GZIP, digest, len(data))


def _store(tmp_path: Path, layers: int = 2, repo_digests: tuple[str, ...] = ()):
    content = ContentStore(tmp_path / "content")
    db = MetadataDB(tmp_path / "metadata.json")
    descs = [_put(content, f"layer {i}".encode() * 100) for i in range(layers)]
    diff_ids = [sha256_digest(f"diff {i}".encode()) for i in range(layers)]
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_desc = Descriptor(MediaType.DOCKER_CONFIG, _put(content, config).digest, len(config))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MediaType.DOCKER_MANIFEST,
                           "config": {"mediaType": config_desc.media_type, "digest": config_desc.digest,
                                      "size": config_desc.size},
                           "layers": [{"mediaType": d.media_type, "digest": d.digest, "size": d.size}
                                      for d in descs]}).encode()
    manifest_desc = Descriptor(MediaType.DOCKER_MANIFEST, _put(content, manifest).digest, len(manifest))
    record = ImageRecord(id=config_desc.digest, target=manifest_desc, manifest=manifest_desc, config=config_desc,
                         layers=descs, diff_ids=diff_ids, chain_id="", created="", size=0,
                         platform=Platform("linux", "amd64"), repo_digests=list(repo_digests))
    db.images[record.id] = record
    db.names[f"{REG}/app:latest"] = record.id
    db.save()
    return SimpleNamespace(content=content, db=db), record, manifest


def test_push_uploads_missing_blobs_from_the_store_after_asking_the_proxy(tmp_path):
    store, record, manifest = _store(tmp_path)
    target = FakeTarget(present={record.layers[0].digest})
    events = list(push_image(store, target, f"{REG}/app"))
    assert events[0].message == f"The push refers to repository [{REG}/app]"
    ids = [d[7:19] for d in reversed(record.diff_ids)]
    assert [e.id for e in events if e.status == "preparing"] == ids  # top layer first
    final = {e.id: e.status for e in events if e.status in ("pushed", "exists", "mounted")}
    assert final == {ids[0]: "pushed", ids[1]: "exists"}
    assert any(e.status == "pushing" and e.id == ids[0] for e in events)
    # the proxy's cache is tried first (no bytes), then the content store's bytes
    pushes = [c for c in target.calls if c[0] == "push" and c[2] == record.layers[1].digest]
    assert [c[3] for c in pushes] == [True, False]
    assert set(target.bytes_sent) == {record.layers[1].digest, record.config.digest}
    assert target.manifests == [(f"{REG}/app", "latest", MediaType.DOCKER_MANIFEST, manifest)]
    done = events[-1]
    assert done.status == "tag_done" and done.message == f"latest: digest: {sha256_digest(manifest)} size: {len(manifest)}"
    assert f"{REG}/app@{sha256_digest(manifest)}" in store.db.images[record.id].repo_digests
    assert store.db.name_digests[f"{REG}/app:latest"] == sha256_digest(manifest)


def test_cached_copy_in_the_proxy_sends_no_bytes(tmp_path):
    store, record, _ = _store(tmp_path)
    target = FakeTarget(proxy_cache={d.digest for d in record.layers} | {record.config.digest})
    list(push_image(store, target, f"{REG}/app:latest"))
    assert target.bytes_sent == {}


def test_mounts_offered_from_repositories_of_the_same_registry_only(tmp_path):
    store, record, _ = _store(tmp_path, repo_digests=(f"{REG}/library/base@sha256:{'a' * 64}",
                                                      f"other.example/library/base@sha256:{'b' * 64}",
                                                      f"{REG}/app@sha256:{'c' * 64}"))
    target = FakeTarget(mountable={d.digest for d in record.layers})
    events = list(push_image(store, target, f"{REG}/app"))
    offered = {c[4] for c in target.calls if c[0] == "push"}
    assert offered == {(f"{REG}/library/base",)}
    assert {e.message for e in events if e.status == "mounted"} == {"Mounted from library/base"}


def test_layers_past_the_upload_concurrency_wait(tmp_path):
    store, record, _ = _store(tmp_path, layers=UPLOAD_WORKERS + 2)
    events = list(push_image(store, FakeTarget(), f"{REG}/app"))
    ids = [d[7:19] for d in reversed(record.diff_ids)]
    assert [e.id for e in events if e.status == "waiting"] == ids[UPLOAD_WORKERS:]


def test_no_such_tag_is_dockers_error_after_the_repository_line(tmp_path):
    store, _, _ = _store(tmp_path)
    events = push_image(store, FakeTarget(), f"{REG}/app:v2")
    assert next(events).message == f"The push refers to repository [{REG}/app]"
    with pytest.raises(NotFound, match=f"^An image does not exist locally with the tag: {REG}/app$"):
        next(events)


def test_all_tags_pushes_each_tag_in_order(tmp_path):
    store, record, _ = _store(tmp_path)
    store.db.names[f"{REG}/app:b"] = record.id
    store.db.names[f"{REG}/app:a"] = record.id
    store.db.names[f"{REG}/other:z"] = record.id
    target = FakeTarget()
    events = list(push_image(store, target, f"{REG}/app", all_tags=True))
    assert [e.tag for e in events if e.status == "tag_done"] == ["a", "b", "latest"]
    with pytest.raises(Exception, match="tag can't be used with --all-tags"):
        list(push_image(store, target, f"{REG}/app:a", all_tags=True))


class FakeSource:
    def __init__(self, blobs: dict[str, bytes], holder: str) -> None:
        self.blobs, self.holder, self.asked = blobs, holder, []

    def fetch_blob(self, repository, digest, offset=0, size=None):
        self.asked.append(repository)
        if repository != self.holder or digest not in self.blobs:
            raise NotFound(f"blob {digest} in {repository}")
        yield self.blobs[digest]


def test_a_layer_never_downloaded_is_fetched_from_where_the_image_came_from(tmp_path):
    """A pull skips the blob of a layer whose snapshot exists: push fetches it first."""
    store, record, _ = _store(tmp_path, repo_digests=(f"{REG}/gone@sha256:{'a' * 64}",
                                                      f"{REG}/origin@sha256:{'b' * 64}"))
    layer = record.layers[0]
    data = store.content.read_bytes(layer.digest)
    store.content.delete(layer.digest)
    store.source = FakeSource({layer.digest: data}, f"{REG}/origin")
    target = FakeTarget()
    events = list(push_image(store, target, f"{REG}/app"))
    assert events[-1].status == "tag_done"
    assert target.bytes_sent[layer.digest] == data
    assert store.content.has(layer.digest)  # kept for the next push
    assert store.source.asked == [f"{REG}/gone", f"{REG}/origin"]


def test_an_index_whose_every_manifest_is_kept_is_pushed_whole(tmp_path):
    store, record, manifest = _store(tmp_path)
    index = json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": [
        {"mediaType": MediaType.DOCKER_MANIFEST, "digest": record.manifest.digest, "size": record.manifest.size,
         "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    index_desc = _put(store.content, index)
    record.target = Descriptor(MediaType.OCI_INDEX, index_desc.digest, len(index))
    target = FakeTarget()
    events = list(push_image(store, target, f"{REG}/app"))
    assert [(m[1], m[2], m[3]) for m in target.manifests] == [
        ("", MediaType.DOCKER_MANIFEST, manifest), ("latest", MediaType.OCI_INDEX, index)]
    assert events[-1].digest == sha256_digest(index)
    # one manifest of the index missing: the platform manifest alone, as docker 20.10
    store.content.delete(record.manifest.digest)
    other = json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": [
        {"mediaType": MediaType.DOCKER_MANIFEST, "digest": "sha256:" + "c" * 64, "size": 10}]}).encode()
    record.target = Descriptor(MediaType.OCI_INDEX, _put(store.content, other).digest, len(other))
    _put(store.content, manifest)
    target = FakeTarget()
    list(push_image(store, target, f"{REG}/app"))
    assert [(m[1], m[2]) for m in target.manifests] == [("latest", MediaType.DOCKER_MANIFEST)]


def test_a_tag_already_naming_the_manifest_costs_one_check(tmp_path):
    """A second push asks where the tag points (one HEAD of the manifest) and,
    finding this manifest, sends nothing: every layer "Layer already exists"."""
    store, record, manifest = _store(tmp_path)
    target = FakeTarget()
    list(push_image(store, target, f"{REG}/app"))
    target.calls.clear()
    events = list(push_image(store, target, f"{REG}/app"))
    assert target.calls == [("tag", f"{REG}/app", "latest")]
    assert len(target.manifests) == 1
    ids = [d[7:19] for d in reversed(record.diff_ids)]
    assert [(e.id, e.status) for e in events if e.status == "exists"] == [(i, "exists") for i in ids]
    assert events[-1].status == "tag_done" and events[-1].digest == sha256_digest(manifest)
    # a tag pointing elsewhere is a full push again
    target.tags[(f"{REG}/app", "latest")] = "sha256:" + "0" * 64
    target.calls.clear()
    list(push_image(store, target, f"{REG}/app"))
    assert ("tag", f"{REG}/app", "latest") in target.calls and any(c[0] == "head" for c in target.calls)
    assert len(target.manifests) == 2
