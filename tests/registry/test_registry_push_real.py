"""The registry-proxy's push side against Debian's real ``docker-registry``.

Blobs go through :class:`BlobPusher` (the cache first, verified, then the
upload) to the session registries, most of them through the recording
:class:`Forwarder` so that each test can say which requests the registry saw:
HEAD only for a blob it has, a mount POST and nothing else for a mount, PATCH
chunks with their Content-Range, one PUT for a small blob. What arrived is read
back from the registry itself.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3

from client.config import Config
from client.errors import DigestMismatch, NotFound, PermissionDenied, Unauthenticated
from client.imagespec import MediaType, sha256_digest
from services.common.content import SizeMismatch
from services.registry.core import RegistryProxy
from services.registry.push import BlobUpload, PushOutcome, PushProgress
from tests.conftest import AUTH_PASSWORD, AUTH_USER
from tests.registry.forwarder import Forwarder, read_body
from tests.registry.test_registry_proxy_faults import bearer_app

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("docker-registry") is None, reason="docker-registry not installed"),
]


@pytest.fixture
def proxy(tmp_path):
    p = RegistryProxy(tmp_path / "state", Config(state_dir=tmp_path / "state"))
    yield p
    p.close()


@pytest.fixture
def front(registry):
    fwd = Forwarder(registry.host)
    yield fwd
    fwd.stop()


def repo(host: str) -> str:
    return f"{host}/push/{uuid.uuid4().hex[:12]}"


def push(proxy: RegistryProxy, repository: str, data: bytes, **kw) -> list[PushProgress]:
    upload = BlobUpload(repository, sha256_digest(data), len(data), **kw)
    proxy.pusher.receive(upload, [data[i:i + 65536] for i in range(0, len(data), 65536)])
    return list(proxy.pusher.push(upload))


def registry_blob(host: str, repository: str, digest: str, auth: dict | None = None) -> bytes:
    path = repository.split("/", 1)[1]
    resp = urllib3.request("GET", f"http://{host}/v2/{path}/blobs/{digest}", headers=auth or {},
                           retries=urllib3.Retry(redirect=3, total=3))
    assert resp.status == 200, resp.data
    return resp.data


def test_small_blob_is_one_put_then_exists_without_upload(proxy, front, registry):
    name = repo(front.host)
    data = os.urandom(3 * 1024 * 1024 + 7)
    digest = sha256_digest(data)
    assert proxy.pusher.blob_exists(name, digest, for_push=True) == (False, 0)
    front.seen.clear()
    progress = push(proxy, name, data)
    assert progress[-1] == PushProgress(len(data), len(data), PushOutcome.UPLOADED, "", 0)
    assert front.methods() == ["HEAD", "POST", "PUT"]
    put = front.seen[-1]
    assert parse_qs(urlsplit(put.path).query)["digest"] == [digest]
    assert put.headers["content-length"] == str(len(data))
    assert proxy.cache.has(digest) and proxy.cache.ingest_files() == []
    assert registry_blob(registry.host, name, digest) == data
    assert proxy.pusher.blob_exists(name, digest, for_push=True) == (True, len(data))

    # the second push: a HEAD, and the registry is asked for no upload at all
    front.seen.clear()
    again = push(proxy, name, data)
    assert again == [PushProgress(len(data), len(data), PushOutcome.EXISTS, "", 0)]
    assert front.methods() == ["HEAD"]
    # and from the cache, with no bytes sent to the proxy
    front.seen.clear()
    upload = BlobUpload(name, digest, len(data))
    proxy.pusher.require_cached(upload)
    assert [p.outcome for p in proxy.pusher.push(upload)] == [PushOutcome.EXISTS]
    assert front.methods() == ["HEAD"]


def test_chunked_upload_patches_in_order(proxy, front, registry):
    name = repo(front.host)
    data = os.urandom(1024 * 1024 + 123)
    chunk = 256 * 1024
    front.seen.clear()
    progress = push(proxy, name, data, chunk_size=chunk)
    assert front.methods() == ["HEAD", "POST"] + ["PATCH"] * 5 + ["PUT"]
    ranges = [s.headers["content-range"] for s in front.seen if s.method == "PATCH"]
    assert ranges == [f"{i}-{min(i + chunk, len(data)) - 1}" for i in range(0, len(data), chunk)]
    assert front.seen[-1].headers.get("content-length") == "0"
    assert [p.uploaded for p in progress] == [256 << 10, 512 << 10, 768 << 10, 1 << 20, len(data),
                                              len(data)]
    assert all(p.total == len(data) for p in progress)
    assert progress[-1].outcome is PushOutcome.UPLOADED
    assert [p.outcome for p in progress[:-1]] == [None] * 5
    assert registry_blob(registry.host, name, sha256_digest(data)) == data


def test_large_blob_without_chunk_size_goes_in_default_chunks(proxy, front, registry):
    name = repo(front.host)
    data = os.urandom(9 * 1024 * 1024)
    front.seen.clear()
    push(proxy, name, data)
    ranges = [s.headers["content-range"] for s in front.seen if s.method == "PATCH"]
    assert ranges == [f"0-{(8 << 20) - 1}", f"{8 << 20}-{len(data) - 1}"]
    assert registry_blob(registry.host, name, sha256_digest(data)) == data


def test_cross_repository_mount(proxy, front, registry):
    source, target, other = repo(front.host), repo(front.host), repo(front.host)
    data = os.urandom(200_000)
    digest = sha256_digest(data)
    push(proxy, source, data)
    front.seen.clear()
    # a repository that lacks the blob answers 202 (an upload opened instead); a
    # later candidate that has it mounts, and the opened upload is cancelled
    progress = push(proxy, target, data, mount_from=(other, source))
    assert progress == [PushProgress(len(data), len(data), PushOutcome.MOUNTED, source, 0)]
    assert front.methods() == ["HEAD", "POST", "POST", "DELETE"]
    posts = [parse_qs(urlsplit(s.path).query) for s in front.seen if s.method == "POST"]
    assert posts == [{"mount": [digest], "from": [other.split("/", 1)[1]]},
                     {"mount": [digest], "from": [source.split("/", 1)[1]]}]
    assert registry_blob(registry.host, target, digest) == data

    # no candidate has it: the upload the registry opened is the one used
    fresh = os.urandom(50_000)
    last = repo(front.host)
    front.seen.clear()
    progress = push(proxy, last, fresh, mount_from=(other,))
    assert progress[-1].outcome is PushOutcome.UPLOADED
    assert front.methods() == ["HEAD", "POST", "PUT"]
    assert registry_blob(registry.host, last, sha256_digest(fresh)) == fresh


@pytest.mark.parametrize("media_type,config_type,layer_type", [
    (MediaType.OCI_MANIFEST, MediaType.OCI_CONFIG, MediaType.OCI_LAYER_GZIP),
    (MediaType.DOCKER_MANIFEST, MediaType.DOCKER_CONFIG, MediaType.DOCKER_LAYER_GZIP),
], ids=["oci", "docker"])
def test_put_manifest_then_get_by_tag(proxy, front, registry, media_type, config_type, layer_type):
    name = repo(front.host)
    layer = os.urandom(300_000)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer)]}}).encode()
    push(proxy, name, layer, chunk_size=100_000)
    push(proxy, name, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": layer_type, "digest": sha256_digest(layer), "size": len(layer)}],
    }, indent=3).encode()
    front.seen.clear()
    digest = proxy.pusher.put_manifest(name, "v1", media_type, manifest)
    assert digest == sha256_digest(manifest)
    assert front.methods() == ["PUT"]
    assert front.seen[0].headers["content-type"] == media_type
    path = name.split("/", 1)[1]
    resp = urllib3.request("GET", f"http://{registry.host}/v2/{path}/manifests/v1",
                           headers={"Accept": media_type})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == media_type
    assert resp.headers["Docker-Content-Digest"] == digest
    assert resp.data == manifest
    # by digest only, and the proxy resolves what it pushed
    assert proxy.pusher.put_manifest(name, "", media_type, manifest) == digest
    resolved = proxy.resolve(f"{name}:v1")
    assert (resolved.top.digest, resolved.top.media_type) == (digest, media_type)


def test_manifest_referencing_a_missing_blob_is_refused(proxy, front):
    name = repo(front.host)
    config = b"{}"
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST,
        "config": {"mediaType": MediaType.OCI_CONFIG, "digest": sha256_digest(config), "size": 2},
        "layers": [],
    }).encode()
    with pytest.raises(Exception) as info:
        proxy.pusher.put_manifest(name, "v1", MediaType.OCI_MANIFEST, manifest)
    assert "MANIFEST_BLOB_UNKNOWN" in str(info.value) or "blob unknown" in str(info.value)
    assert f"manifest {name}:v1" in str(info.value)


def test_digest_mismatch_is_data_loss_and_nothing_is_cached(proxy, front):
    name = repo(front.host)
    data = os.urandom(100_000)
    digest = sha256_digest(data)
    front.seen.clear()
    upload = BlobUpload(name, digest, len(data))
    with pytest.raises(DigestMismatch) as info:
        proxy.pusher.receive(upload, [data[:-1] + b"!"])
    assert digest in str(info.value)
    with pytest.raises(SizeMismatch):
        proxy.pusher.receive(upload, [data, b"x"])
    with pytest.raises(SizeMismatch):
        proxy.pusher.receive(upload, [data[:-1]])
    assert not proxy.cache.has(digest)
    assert proxy.cache.ingest_files() == []
    with pytest.raises(NotFound):
        proxy.pusher.require_cached(upload)
    assert front.seen == []


def test_basic_auth_push_with_login(proxy, auth_registry):
    name = repo(auth_registry.host)
    data = os.urandom(70_000)
    with pytest.raises(Unauthenticated) as info:
        push(proxy, name, data)
    assert auth_registry.host in str(info.value)
    proxy.login(auth_registry.host, AUTH_USER, AUTH_PASSWORD)
    assert push(proxy, name, data, chunk_size=30_000)[-1].outcome is PushOutcome.UPLOADED
    assert push(proxy, name, data)[-1].outcome is PushOutcome.EXISTS
    assert registry_blob(auth_registry.host, name, sha256_digest(data), auth_registry.auth_header()) == data
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST,
                           "config": {"mediaType": MediaType.OCI_CONFIG, "digest": sha256_digest(data),
                                      "size": len(data)}, "layers": []}).encode()
    assert proxy.pusher.put_manifest(name, "latest", MediaType.OCI_MANIFEST, manifest) == \
        sha256_digest(manifest)


def test_forbidden_push_is_permission_denied(proxy, front):
    name = repo(front.host)

    def deny(h) -> bool:
        if h.command != "POST":
            return False
        read_body(h)
        h.reply(403, b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
                {"Content-Type": "application/json"})
        return True

    front.fault = deny
    with pytest.raises(PermissionDenied) as info:
        push(proxy, name, os.urandom(1000))
    assert "DENIED: requested access to the resource is denied" in str(info.value)
    assert front.host in str(info.value)


def test_bearer_token_asks_push_scope_and_mount_scope(proxy, registry):
    front = Forwarder(registry.host)
    try:
        app, issued = bearer_app(front, front._app)
        front.serve(app)
        source, target = repo(front.host), repo(front.host)
        data = os.urandom(40_000)
        assert push(proxy, source, data)[-1].outcome is PushOutcome.UPLOADED
        assert push(proxy, target, data, mount_from=(source,))[-1].outcome is PushOutcome.MOUNTED
        scopes = [i["query"]["scope"] for i in issued]
        src, dst = source.split("/", 1)[1], target.split("/", 1)[1]
        assert [f"repository:{src}:push,pull"] in scopes
        assert [f"repository:{dst}:push,pull", f"repository:{src}:pull"] in scopes
        assert all(i["query"]["service"] == ["fault.test"] for i in issued)
    finally:
        front.stop()


def test_empty_blob(proxy, front, registry):
    name = repo(front.host)
    assert push(proxy, name, b"")[-1].outcome is PushOutcome.UPLOADED
    assert registry_blob(registry.host, name, sha256_digest(b"")) == b""
    assert push(proxy, name, b"")[-1].outcome is PushOutcome.EXISTS
