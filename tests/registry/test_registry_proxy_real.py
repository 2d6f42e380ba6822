"""RegistryProxy against Debian's real distribution registry (``docker-registry``).

Each test starts its own registry (``tests/support/registry.py``) on a free
loopback port with storage in a temp dir, pushes a small multi-platform image
through the Registry HTTP API, and stops the registry by PID at teardown.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from dataclasses import dataclass

import pytest
import urllib3

from client.config import Config
from client.errors import NotFound, Unauthenticated, Unavailable
from client.imagespec import MediaType, Platform, sha256_digest
from services.registry.core import RegistryProxy
from tests.support.registry import Registry, start_registry

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("docker-registry") is None, reason="docker-registry not installed"),
]

REPO = "barque/test"


@pytest.fixture
def registries(tmp_path):
    started: list[Registry] = []

    def start(user: str | None = None, password: str = "") -> Registry:
        reg = start_registry(tmp_path / f"registry{len(started)}", username=user, password=password)
        started.append(reg)
        return reg

    yield start
    for reg in started:
        reg.stop()
    assert all(reg.proc.poll() is not None for reg in started)


@pytest.fixture
def proxy(tmp_path):
    p = RegistryProxy(tmp_path / "state", Config(state_dir=tmp_path / "state"))
    yield p
    p.close()


# -- pushing through the HTTP API ---------------------------------------------

def _layer(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _push_blob(http: urllib3.PoolManager, reg: Registry, data: bytes) -> dict:
    digest = sha256_digest(data)
    resp = http.request("POST", f"http://{reg.host}/v2/{REPO}/blobs/uploads/", headers=reg.auth_header())
    assert resp.status == 202, resp.data
    location = resp.headers["Location"]
    if location.startswith("/"):
        location = f"http://{reg.host}{location}"
    sep = "&" if "?" in location else "?"
    resp = http.request("PUT", f"{location}{sep}digest={digest}", body=data,
                        headers={**reg.auth_header(), "Content-Type": "application/octet-stream"})
    assert resp.status == 201, resp.data
    return {"digest": digest, "size": len(data)}


def _push_manifest(http: urllib3.PoolManager, reg: Registry, ref: str, doc: dict) -> dict:
    body = json.dumps(doc).encode()
    resp = http.request("PUT", f"http://{reg.host}/v2/{REPO}/manifests/{ref}", body=body,
                        headers={**reg.auth_header(), "Content-Type": doc["mediaType"]})
    assert resp.status == 201, resp.data
    assert resp.headers["Docker-Content-Digest"] == sha256_digest(body)
    return {"mediaType": doc["mediaType"], "digest": sha256_digest(body), "size": len(body), "body": body}


@dataclass
class Pushed:
    index: dict
    amd64: dict
    arm64: dict
    layer: bytes
    layer_digest: str


def push_image(reg: Registry) -> Pushed:
    http = urllib3.PoolManager(retries=False, timeout=10.0)
    try:
        layer = _layer({"hello.txt": b"hello from barque\n" * 100000})
        layer_desc = _push_blob(http, reg, layer)
        manifests = {}
        for arch in ("amd64", "arm64"):
            config = json.dumps({"architecture": arch, "os": "linux",
                                 "rootfs": {"type": "layers", "diff_ids": []}}).encode()
            config_desc = _push_blob(http, reg, config)
            manifests[arch] = _push_manifest(http, reg, f"single-{arch}", {
                "schemaVersion": 2,
                "mediaType": MediaType.OCI_MANIFEST,
                "config": {"mediaType": MediaType.OCI_CONFIG, **config_desc},
                "layers": [{"mediaType": MediaType.OCI_LAYER_GZIP, **layer_desc}],
            })
        index = _push_manifest(http, reg, "multi", {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_INDEX,
            "manifests": [
                {"mediaType": MediaType.OCI_MANIFEST, "digest": manifests["arm64"]["digest"],
                 "size": manifests["arm64"]["size"],
                 "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {"mediaType": MediaType.OCI_MANIFEST, "digest": manifests["amd64"]["digest"],
                 "size": manifests["amd64"]["size"],
                 "platform": {"os": "linux", "architecture": "amd64"}},
            ],
        })
        return Pushed(index, manifests["amd64"], manifests["arm64"], layer, layer_desc["digest"])
    finally:
        http.clear()


# -- tests --------------------------------------------------------------------

def test_resolve_fetch_and_serve_from_cache_after_registry_stops(registries, proxy):
    reg = registries()
    pushed = push_image(reg)
    name = f"{reg.host}/{REPO}"

    resolved = proxy.resolve(f"{name}:multi")
    assert resolved.name == f"{name}:multi"
    assert (resolved.top.digest, resolved.top.media_type) == (pushed.index["digest"], MediaType.OCI_INDEX)
    assert resolved.manifest.digest == pushed.amd64["digest"]
    assert resolved.manifest.platform == Platform("linux", "amd64")

    arm = proxy.resolve(f"{name}:multi", Platform("linux", "arm64"))
    assert arm.manifest.digest == pushed.arm64["digest"]
    with pytest.raises(NotFound) as info:
        proxy.resolve(f"{name}:multi", Platform("linux", "s390x"))
    assert "linux/s390x" in str(info.value) and "linux/amd64" in str(info.value)

    single = proxy.resolve(f"{name}:single-amd64")
    assert single.top == single.manifest
    assert single.top.digest == pushed.amd64["digest"]
    assert single.top.media_type == MediaType.OCI_MANIFEST

    desc, body = proxy.get_manifest(name, pushed.amd64["digest"])
    assert body == pushed.amd64["body"]
    assert (desc.digest, desc.size) == (pushed.amd64["digest"], pushed.amd64["size"])

    assert proxy.blob_size(name, pushed.layer_digest) == len(pushed.layer)
    chunks = list(proxy.fetch_blob(name, pushed.layer_digest))
    assert b"".join(chunks) == pushed.layer
    assert proxy.cache.has(pushed.layer_digest)

    # zero upstream requests from here on: the registry is gone
    reg.stop()
    assert b"".join(proxy.fetch_blob(name, pushed.layer_digest)) == pushed.layer
    assert b"".join(proxy.fetch_blob(name, pushed.layer_digest, offset=100)) == pushed.layer[100:]
    assert proxy.blob_size(name, pushed.layer_digest) == len(pushed.layer)
    assert proxy.get_manifest(name, pushed.index["digest"])[1] == pushed.index["body"]
    pinned = proxy.resolve(f"{name}@{pushed.index['digest']}")
    assert pinned.manifest.digest == pushed.amd64["digest"]
    # a tag has to be asked upstream every time, so it fails now
    with pytest.raises(Unavailable) as info:
        proxy.resolve(f"{name}:multi")
    assert reg.host in str(info.value)


def test_unknown_tag_and_blob_are_not_found(registries, proxy):
    reg = registries()
    pushed = push_image(reg)
    name = f"{reg.host}/{REPO}"
    with pytest.raises(NotFound) as info:
        proxy.resolve(f"{name}:nope")
    assert f"{name}:nope" in str(info.value)
    with pytest.raises(NotFound):
        proxy.resolve(f"{reg.host}/other/repo:multi")
    missing = sha256_digest(b"not pushed")
    with pytest.raises(NotFound):
        b"".join(proxy.fetch_blob(name, missing))
    assert proxy.cache.ingest_files() == []
    with pytest.raises(NotFound):
        proxy.blob_size(name, missing)
    assert proxy.resolve(f"{name}:multi").top.digest == pushed.index["digest"]


def test_basic_auth_registry_and_login(registries, proxy):
    reg = registries("alice", "s3cret")
    pushed = push_image(reg)
    name = f"{reg.host}/{REPO}"
    auth_file = proxy.state_dir / "auth.json"

    with pytest.raises(Unauthenticated) as info:
        proxy.resolve(f"{name}:multi")
    assert reg.host in str(info.value)

    with pytest.raises(Unauthenticated):
        proxy.login(reg.host, "alice", "wrong")
    assert not auth_file.exists()

    assert proxy.login(reg.host, "alice", "s3cret") == reg.host
    assert auth_file.stat().st_mode & 0o777 == 0o600
    assert "alice" not in auth_file.read_text()  # base64, as Docker stores it
    resolved = proxy.resolve(f"{name}:multi")
    assert resolved.manifest.digest == pushed.amd64["digest"]
    assert b"".join(proxy.fetch_blob(name, pushed.layer_digest)) == pushed.layer

    assert proxy.logout(reg.host) is True
    with pytest.raises(Unauthenticated):
        proxy.resolve(f"{name}:multi")
    # cached content stays served without credentials or registry
    assert b"".join(proxy.fetch_blob(name, pushed.layer_digest)) == pushed.layer
