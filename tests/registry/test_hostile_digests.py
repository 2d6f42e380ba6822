"""CVE-2024-3727 at the registry-proxy: a hostile registry's digests are never
used as paths (no root, no containers).

The registry is the fault server (tests/registry/test_registry_proxy_faults.py),
serving documents that name the corpus's bad digests
(tests/support/hostilecorpus.py ``BAD_DIGESTS``: ``..``, short, long,
uppercase, an unknown algorithm, a ``/``). Every one is refused with "invalid
digest" before any request for it is made, and the proxy's state directory
holds nothing but what it held (no file named by it, anywhere).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.config import Config
from client.errors import BarqueError
from client.imagespec import MediaType, sha256_digest
from services.registry.core import RegistryProxy
from tests.registry.test_registry_proxy_faults import FaultServer, _Handler
from tests.support.hostilecorpus import BAD_DIGESTS

REPO = "ns/hostile"


@pytest.fixture
def hostile() -> Iterator[FaultServer]:
    srv = FaultServer()
    yield srv
    srv.stop()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[RegistryProxy]:
    state = tmp_path / "state"
    p = RegistryProxy(state, Config(state_dir=state))
    yield p
    p.close()


def _files(root: Path) -> set[str]:
    return {str(Path(d, f).relative_to(root)) for d, _, files in os.walk(root) for f in files}


def _serve_index(server: FaultServer, child: str) -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": [{
        "mediaType": MediaType.OCI_MANIFEST, "digest": child, "size": 2,
        "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()

    def app(h: _Handler) -> None:
        if h.path == f"/v2/{REPO}/manifests/latest":
            h.reply(200, body, {"Content-Type": MediaType.OCI_INDEX, "Docker-Content-Digest": sha256_digest(body)})
        else:
            h.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
    server.serve(app)


@pytest.mark.parametrize("name", sorted(BAD_DIGESTS))
def test_an_index_naming_a_bad_digest_is_refused(hostile: FaultServer, proxy: RegistryProxy, tmp_path: Path,
                                                  name: str) -> None:
    digest = BAD_DIGESTS[name]
    _serve_index(hostile, digest)
    before = _files(tmp_path)
    with pytest.raises(BarqueError, match="invalid digest"):
        proxy.resolve(f"{hostile.host}/{REPO}:latest")
    assert all("manifests/latest" in p for p in hostile.paths()), hostile.paths()
    new = _files(tmp_path) - before
    assert all("/blobs/sha256/" in p for p in new), new  # the index itself, by its own digest at most
    assert not any(digest.split(":", 1)[1] in p for p in _files(tmp_path))


@pytest.mark.parametrize("name", sorted(BAD_DIGESTS))
def test_a_bad_digest_asked_for_is_refused_before_any_request(hostile: FaultServer, proxy: RegistryProxy,
                                                              tmp_path: Path, name: str) -> None:
    digest = BAD_DIGESTS[name]
    before = _files(tmp_path)
    with pytest.raises(BarqueError, match="invalid digest"):
        proxy.get_manifest(f"{hostile.host}/{REPO}", digest)
    with pytest.raises(BarqueError, match="invalid digest"):
        list(proxy.fetch_blob(f"{hostile.host}/{REPO}", digest))
    with pytest.raises(BarqueError, match="invalid digest"):
        proxy.blob_size(f"{hostile.host}/{REPO}", digest)
    assert hostile.paths() == []
    assert _files(tmp_path) == before
