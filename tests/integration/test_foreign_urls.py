"""A layer descriptor's ``urls`` are never followed.

A loopback HTTP server the test runs stands for the "foreign" host a
non-distributable layer's ``urls`` name, and counts every request it gets.
The image is pushed to a registry of the module's own, configured as a
registry that takes non-distributable layers is (``validation.manifests.urls
.allow``: it then keeps manifests whose foreign layers name loopback urls,
without checking the layer is there):

* the layer's blob in the registry: the pull takes it from the registry by
  digest, and the urls host gets no request;
* the blob not in the registry: the pull fails with one line naming the
  layer, keeps nothing, and the urls host still gets no request;
* docker's foreign layer type: refused as a type barque does not pull, no
  request either.

(The registry-proxy has no code that reads ``urls``: descriptors are read
into :class:`client.imagespec.Descriptor`, which has no such field, and blobs
are fetched only from ``/v2/<repo>/blobs/<digest>`` of the registry or its
mirrors.)
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from client.imagespec import MediaType
from tests.support.archives import store_state
from tests.support.engine import Engine
from tests.support.images import RegistryClient
from tests.support.layers import marker_layer
from tests.support.registry import Registry, start_registry

pytestmark = [pytest.mark.integration]

DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"


class _Counting(BaseHTTPRequestHandler):
    requests: list[str] = []

    def _answer(self) -> None:
        type(self).requests.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = _answer

    def log_message(self, *args) -> None:  # quiet: the list is the record
        pass


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry that accepts foreign layers naming loopback urls (this module's ``registry``)."""
    reg = start_registry(tmp_path_factory.mktemp("foreign-registry"), extra_config=(
        "validation:\n  manifests:\n    urls:\n      allow:\n        - '^http://127\\.0\\.0\\.1:'\n"))
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def foreign_host() -> Iterator[tuple[str, list[str]]]:
    """``(url of a blob on it, the requests it got)``: a loopback server counting every request."""
    requests: list[str] = []
    handler = type("Handler", (_Counting,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="foreign-host", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/layers/blob.tar.gz", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _push(registry, repo: str, layer_type: str, url: str, *, upload_layer: bool,
          manifest_type: str = MediaType.OCI_MANIFEST) -> str:
    """Push an image of one gzip layer whose descriptor carries ``urls: [url]``; its reference."""
    http = RegistryClient(registry)
    tar = marker_layer(f"foreign {repo}")
    blob = gzip.compress(tar, mtime=0)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    if upload_layer:
        http.upload_blob(repo, blob)
    config_type = MediaType.OCI_CONFIG if manifest_type == MediaType.OCI_MANIFEST else MediaType.DOCKER_CONFIG
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}},
                        sort_keys=True).encode()
    manifest = {"schemaVersion": 2, "mediaType": manifest_type,
                "config": {"mediaType": config_type, "digest": http.upload_blob(repo, config), "size": len(config)},
                "layers": [{"mediaType": layer_type, "digest": digest, "size": len(blob), "urls": [url]}]}
    http.put_manifest(repo, "latest", json.dumps(manifest).encode(), manifest_type)
    return f"{registry.host}/{repo}:latest"


def test_layer_in_the_registry_is_pulled_from_it(engine: Engine, registry, foreign_host) -> None:
    url, requests = foreign_host
    ref = _push(registry, "foreign/present", MediaType.OCI_LAYER_NONDIST_GZIP, url, upload_layer=True)
    engine.ok("pull", ref)
    assert engine.ok("images", "--format", "{{.Repository}}").lines.count(ref.rsplit(":", 1)[0]) == 1
    engine.ok("rmi", ref)
    assert requests == []


def test_layer_missing_from_the_registry_fails_without_following(engine: Engine, registry, foreign_host) -> None:
    url, requests = foreign_host
    ref = _push(registry, "foreign/missing", MediaType.OCI_LAYER_NONDIST_GZIP, url, upload_layer=False)
    before = store_state(engine)
    res = engine.cli("pull", ref)
    assert res.returncode != 0, res.stdout
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "blob" in res.stderr.lower() or "not found" in res.stderr.lower() or "unknown" in res.stderr.lower(), \
        res.stderr
    assert store_state(engine) == before
    assert requests == []


def test_docker_foreign_layer_type_refused_without_following(engine: Engine, registry, foreign_host) -> None:
    url, requests = foreign_host
    ref = _push(registry, "foreign/docker", DOCKER_FOREIGN, url, upload_layer=True,
                manifest_type=MediaType.DOCKER_MANIFEST)
    before = store_state(engine)
    res = engine.cli("pull", ref)
    assert res.returncode != 0, res.stdout
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "unsupported media type" in res.stderr, res.stderr
    assert store_state(engine) == before
    assert requests == []
