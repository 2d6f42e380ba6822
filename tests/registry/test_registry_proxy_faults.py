"""RegistryProxy against a small misbehaving registry (http.server on 127.0.0.1).

Each test scripts the server's answers and checks what the proxy does with
them over real HTTP: digest mismatch, dropped connections and Range resume,
bearer tokens, 5xx retries, redirects without credentials, schema 1 and
oversized manifests, mirror fallback, single download per digest, blobs that
run past (or stop short of) their descriptor's size. The last tests pull
through barque's services as processes from such a registry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from client.config import Config, RegistryHostConfig
from client.errors import (
    DigestMismatch,
    FailedPrecondition,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from client.imagespec import MediaType, sha256_digest
from services.common.content import SizeMismatch
from services.registry.auth import Credentials
from services.registry.core import RegistryProxy
from tests.support.engine import Engine
from tests.support.host import process_status

pytestmark = pytest.mark.integration

REPO = "ns/img"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format, *args):  # noqa: A002 - silence stderr access log
        pass

    def _dispatch(self) -> None:
        self.server.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        try:
            self.server.app(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = _dispatch
    do_HEAD = _dispatch

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        hdrs = {"Content-Length": str(len(body)), **(headers or {})}
        for key, value in hdrs.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[Seen]
    app: Callable[[_Handler], None]


class FaultServer:
    def __init__(self) -> None:
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.seen = []
        self.httpd.app = lambda h: h.reply(404)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def seen(self) -> list[Seen]:
        return self.httpd.seen

    def serve(self, app: Callable[[_Handler], None]) -> None:
        self.httpd.app = app

    def paths(self, method: str | None = None) -> list[str]:
        return [s.path for s in self.seen if method is None or s.method == method]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    srv = FaultServer()
    yield srv
    srv.stop()


@pytest.fixture
def make_proxy(tmp_path):
    proxies = []

    def make(registries: dict[str, RegistryHostConfig] | None = None) -> RegistryProxy:
        state = tmp_path / f"state{len(proxies)}"
        proxy = RegistryProxy(state, Config(state_dir=state, registries=registries or {}))
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


def image_manifest(layer: bytes, config: bytes = b"{}") -> bytes:
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "config": {"mediaType": MediaType.OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": MediaType.OCI_LAYER_GZIP, "digest": sha256_digest(layer),
                    "size": len(layer)}],
    }).encode()


def manifest_app(tag: str, body: bytes, media_type: str = MediaType.OCI_MANIFEST):
    digest = sha256_digest(body)

    def app(h: _Handler) -> None:
        if h.path in (f"/v2/{REPO}/manifests/{tag}", f"/v2/{REPO}/manifests/{digest}"):
            h.reply(200, body, {"Content-Type": media_type, "Docker-Content-Digest": digest})
        else:
            h.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
    return app


def blob_of(size: int) -> bytes:
    return hashlib.sha256(b"seed").digest() * (size // 32) + b"x" * (size % 32)


def assert_cache_clean(proxy: RegistryProxy, digest: str) -> None:
    assert not proxy.cache.has(digest)
    assert proxy.cache.ingest_files() == []


# -- blobs --------------------------------------------------------------------

def test_blob_digest_mismatch_is_raised_and_nothing_kept(server, make_proxy):
    good = blob_of(3 * 1024 * 1024 + 17)
    digest = sha256_digest(good)
    bad = good[:-1] + b"!"
    server.serve(lambda h: h.reply(200, bad))
    proxy = make_proxy()
    chunks = []
    with pytest.raises(DigestMismatch) as info:
        for chunk in proxy.fetch_blob(f"{server.host}/{REPO}", digest):
            chunks.append(chunk)
    # every chunk was streamed before the verdict, and the verdict names both digests
    assert b"".join(chunks) == bad
    assert f"blob {digest}" in str(info.value)
    assert f"got {sha256_digest(bad)}" in str(info.value)
    assert_cache_clean(proxy, digest)
    assert len(proxy.cache.locks) == 0


def test_dropped_connection_resumes_with_range(server, make_proxy):
    blob = blob_of(2 * 1024 * 1024 + 5)
    digest = sha256_digest(blob)
    cut = 700_001

    def app(h: _Handler) -> None:
        rng = h.headers.get("Range")
        if rng is None:
            # promise everything, send part, hang up
            h.send_response(200)
            h.send_header("Content-Length", str(len(blob)))
            h.end_headers()
            h.wfile.write(blob[:cut])
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
            h.close_connection = True
            return
        start = int(rng.removeprefix("bytes=").rstrip("-"))
        part = blob[start:]
        h.reply(206, part, {"Content-Range": f"bytes {start}-{len(blob) - 1}/{len(blob)}"})

    server.serve(app)
    proxy = make_proxy()
    got = b"".join(proxy.fetch_blob(f"{server.host}/{REPO}", digest))
    assert got == blob
    ranges = [s.headers.get("range") for s in server.seen]
    assert ranges == [None, f"bytes={cut}-"]
    assert proxy.cache.has(digest)
    assert proxy.cache.ingest_files() == []


def test_resume_when_server_ignores_range(server, make_proxy):
    blob = blob_of(1_500_000)
    digest = sha256_digest(blob)
    calls = []

    def app(h: _Handler) -> None:
        calls.append(h.headers.get("Range"))
        if len(calls) == 1:
            h.send_response(200)
            h.send_header("Content-Length", str(len(blob)))
            h.end_headers()
            h.wfile.write(blob[:300_000])
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
            h.close_connection = True
        else:
            h.reply(200, blob)  # Range ignored: whole body again

    server.serve(app)
    proxy = make_proxy()
    assert b"".join(proxy.fetch_blob(f"{server.host}/{REPO}", digest, offset=10)) == blob[10:]
    assert calls == [None, "bytes=300000-"]
    assert proxy.cache.has(digest)


def test_blob_offset_and_cache_hit_without_upstream(server, make_proxy):
    blob = blob_of(2_500_000)
    digest = sha256_digest(blob)
    server.serve(lambda h: h.reply(200, blob))
    proxy = make_proxy()
    assert b"".join(proxy.fetch_blob(f"{server.host}/{REPO}", digest, offset=1_000_000)) == blob[1_000_000:]
    before = len(server.seen)
    chunks = list(proxy.fetch_blob(f"{server.host}/{REPO}", digest, offset=5))
    assert b"".join(chunks) == blob[5:]
    assert max(len(c) for c in chunks) <= 1 << 20
    assert proxy.blob_size(f"{server.host}/{REPO}", digest) == len(blob)
    assert len(server.seen) == before


def test_concurrent_fetches_download_once(server, make_proxy):
    blob = blob_of(3 * 1024 * 1024)
    digest = sha256_digest(blob)

    def app(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(blob)))
        h.end_headers()
        for i in range(0, len(blob), 256 * 1024):
            h.wfile.write(blob[i:i + 256 * 1024])
            h.wfile.flush()
            time.sleep(0.02)

    server.serve(app)
    proxy = make_proxy()
    results: list[bytes] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(b"".join(proxy.fetch_blob(f"{server.host}/{REPO}", digest)))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert results == [blob, blob, blob]
    assert server.paths("GET") == [f"/v2/{REPO}/blobs/{digest}"]


def test_abandoned_fetch_releases_lock_and_ingest(server, make_proxy):
    blob = blob_of(3 * 1024 * 1024)
    digest = sha256_digest(blob)
    server.serve(lambda h: h.reply(200, blob))
    proxy = make_proxy()
    stream = proxy.fetch_blob(f"{server.host}/{REPO}", digest)
    assert len(next(stream)) > 0
    stream.close()
    assert_cache_clean(proxy, digest)
    assert len(proxy.cache.locks) == 0
    assert b"".join(proxy.fetch_blob(f"{server.host}/{REPO}", digest)) == blob


def test_redirect_drops_authorization_for_other_host(server, make_proxy):
    storage = FaultServer()
    try:
        blob = blob_of(100_000)
        digest = sha256_digest(blob)
        storage.serve(lambda h: h.reply(200, blob))

        def app(h: _Handler) -> None:
            if h.headers.get("Authorization") != "Basic " + base64.b64encode(b"u:p").decode():
                h.reply(401, b"", {"WWW-Authenticate": 'Basic realm="fault"'})
            elif h.path == "/v2/":
                h.reply(200, b"{}")
            else:
                h.reply(307, b"", {"Location": f"http://{storage.host}/blob?sig=1"})

        server.serve(app)
        proxy = make_proxy()
        assert proxy.login(server.host, "u", "p") == server.host
        assert b"".join(proxy.fetch_blob(f"{server.host}/{REPO}", digest)) == blob
        assert [s.path for s in storage.seen] == ["/blob?sig=1"]
        assert "authorization" not in storage.seen[0].headers
        assert server.seen[-1].headers["authorization"].startswith("Basic ")
    finally:
        storage.stop()


def test_content_length_of_non_ascii_digits_is_not_a_number(server, make_proxy):
    """"\u00b2" passes str.isdigit but not int(): it is an unusable length, not a crash."""
    body = image_manifest(b"layer")
    manifest = manifest_app("v1", body)

    def app(h: _Handler) -> None:
        if h.command == "HEAD":
            h.send_response(200)
            h.send_header("Content-Length", "\u00b2")
            h.send_header("Content-Type", MediaType.OCI_MANIFEST)
            h.end_headers()
        else:
            manifest(h)

    server.serve(app)
    proxy = make_proxy()
    with pytest.raises(Unavailable) as info:
        proxy.blob_size(f"{server.host}/{REPO}", sha256_digest(b"blob"))
    assert "no usable Content-Length" in str(info.value)
    # a tag's HEAD with such a length is resolved by its GET
    assert proxy.resolve(f"{server.host}/{REPO}:v1").top.digest == sha256_digest(body)


#: an endless body is cut off here by the test server, so that a regression
#: shows as a failed assertion rather than an exhausted host
ENDLESS_CAP = 256 << 20


class RunOn:
    """GET serves ``body`` and then ``extra`` junk bytes (until the peer hangs up
    or ``cap`` is reached) with no Content-Length, and counts what it sent; HEAD
    gives the honest length, as a registry that wants to look sound would."""

    def __init__(self, body: bytes, extra: int, cap: int = ENDLESS_CAP) -> None:
        self.body, self.extra, self.cap = body, extra, cap
        self.sent = 0

    def __call__(self, h: _Handler) -> None:
        if h.command == "HEAD":
            h.send_response(200)
            h.send_header("Content-Length", str(len(self.body)))
            h.end_headers()
            return
        h.send_response(200)
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        h.wfile.write(self.body)
        self.sent += len(self.body)
        piece = b"\0" * (64 << 10)
        left = min(self.extra, self.cap)
        while left > 0:
            n = min(left, len(piece))
            h.wfile.write(piece[:n])
            self.sent += n
            left -= n


@pytest.mark.parametrize("extra", [1, 1 << 20, 1 << 40], ids=["one-byte", "one-mib", "endless"])
def test_blob_running_past_its_size_is_cut_off(server, make_proxy, extra):
    blob = blob_of(2 * 1024 * 1024 + 3)
    digest = sha256_digest(blob)
    run_on = RunOn(blob, extra)
    server.serve(run_on)
    proxy = make_proxy()
    got = bytearray()
    started = time.monotonic()
    with pytest.raises(SizeMismatch) as info:
        for chunk in proxy.fetch_blob(f"{server.host}/{REPO}", digest, size=len(blob)):
            got += chunk
    assert str(info.value) == (f"blob {digest} from {server.host}/{REPO}: the registry sent more than "
                               f"the {len(blob)} bytes of its descriptor")
    assert time.monotonic() - started < 10
    # what was handed out is the blob's own bytes; the junk never left the proxy
    assert bytes(got) == blob[:len(got)]
    assert_cache_clean(proxy, digest)
    assert len(proxy.cache.locks) == 0
    # the endless body stopped once the proxy hung up (what was sent is what the
    # socket buffers took, not the terabyte on offer)
    assert run_on.sent < len(blob) + (64 << 20)


def test_blob_short_of_its_size_is_refused(server, make_proxy):
    blob = blob_of(1_000_000)
    digest = sha256_digest(blob)
    server.serve(RunOn(blob[:-10], 0))
    proxy = make_proxy()
    with pytest.raises(SizeMismatch) as info:
        b"".join(proxy.fetch_blob(f"{server.host}/{REPO}", digest, size=len(blob)))
    assert str(info.value) == (f"blob {digest} from {server.host}/{REPO}: the registry sent "
                               f"{len(blob) - 10} of the {len(blob)} bytes of its descriptor")
    assert_cache_clean(proxy, digest)


# -- retries and errors -------------------------------------------------------

def test_5xx_twice_then_success_is_retried(server, make_proxy):
    body = image_manifest(b"layer")
    ok = manifest_app("v1", body)
    count = {"n": 0}

    def app(h: _Handler) -> None:
        count["n"] += 1
        if count["n"] <= 2:
            h.reply(503, b"busy")
        else:
            ok(h)

    server.serve(app)
    proxy = make_proxy()
    started = time.monotonic()
    resolved = proxy.resolve(f"{server.host}/{REPO}:v1")
    assert resolved.top.digest == sha256_digest(body)
    assert count["n"] == 4  # 503, 503, HEAD ok, GET ok
    assert time.monotonic() - started >= 0.2 + 0.4


def test_5xx_forever_is_unavailable_after_four_attempts(server, make_proxy):
    server.serve(lambda h: h.reply(500, b"down"))
    proxy = make_proxy()
    with pytest.raises(Unavailable) as info:
        proxy.resolve(f"{server.host}/{REPO}:v1")
    assert len(server.seen) == 4
    assert server.host in str(info.value)


def test_4xx_is_not_retried(server, make_proxy):
    server.serve(manifest_app("other", b"{}"))
    proxy = make_proxy()
    with pytest.raises(NotFound) as info:
        proxy.resolve(f"{server.host}/{REPO}:missing")
    assert len(server.seen) == 1
    assert f"{server.host}/{REPO}:missing" in str(info.value)
    # a GET's error body is read (bounded) into the message
    missing = sha256_digest(b"missing")
    with pytest.raises(NotFound) as info:
        proxy.get_manifest(f"{server.host}/{REPO}", missing)
    assert len(server.seen) == 2
    assert f"{server.host}/{REPO}@{missing}" in str(info.value)
    assert "MANIFEST_UNKNOWN: manifest unknown" in str(info.value)


def test_connection_refused_is_unavailable(make_proxy):
    srv = FaultServer()
    host = srv.host
    srv.stop()
    proxy = make_proxy()
    with pytest.raises(Unavailable) as info:
        proxy.resolve(f"{host}/{REPO}:v1")
    assert host in str(info.value)


# -- manifests ----------------------------------------------------------------

def test_tag_resolution_is_head_only_when_digest_cached(server, make_proxy):
    body = image_manifest(b"layer")
    server.serve(manifest_app("v1", body))
    proxy = make_proxy()
    first = proxy.resolve(f"{server.host}/{REPO}:v1")
    second = proxy.resolve(f"{server.host}/{REPO}:v1")
    assert first == second
    assert first.top == first.manifest
    assert first.top.media_type == MediaType.OCI_MANIFEST
    assert first.name == f"{server.host}/{REPO}:v1"
    assert [s.method for s in server.seen] == ["HEAD", "GET", "HEAD"]
    desc, data = proxy.get_manifest(f"{server.host}/{REPO}", first.top.digest)
    assert data == body and desc.size == len(body)
    assert len(server.seen) == 3


def test_tag_moved_is_refetched(server, make_proxy):
    old, new = image_manifest(b"old"), image_manifest(b"new")
    server.serve(manifest_app("v1", old))
    proxy = make_proxy()
    assert proxy.resolve(f"{server.host}/{REPO}:v1").top.digest == sha256_digest(old)
    server.serve(manifest_app("v1", new))
    assert proxy.resolve(f"{server.host}/{REPO}:v1").top.digest == sha256_digest(new)


def test_manifest_with_wrong_docker_content_digest_is_refused(server, make_proxy):
    body = image_manifest(b"layer")
    lie = sha256_digest(b"something else")
    server.serve(lambda h: h.reply(200, body, {"Content-Type": MediaType.OCI_MANIFEST,
                                               "Docker-Content-Digest": lie}))
    proxy = make_proxy()
    with pytest.raises(DigestMismatch) as info:
        proxy.resolve(f"{server.host}/{REPO}:v1")
    assert lie in str(info.value)
    assert not proxy.cache.has(sha256_digest(body))


def test_manifest_by_digest_not_matching_is_refused(server, make_proxy):
    body = image_manifest(b"layer")
    asked = sha256_digest(b"asked for this")
    server.serve(lambda h: h.reply(200, body, {"Content-Type": MediaType.OCI_MANIFEST}))
    proxy = make_proxy()
    with pytest.raises(DigestMismatch):
        proxy.get_manifest(f"{server.host}/{REPO}", asked)
    assert_cache_clean(proxy, asked)


@pytest.mark.parametrize("content_type,body", [
    (MediaType.DOCKER_SCHEMA1_SIGNED, b'{"schemaVersion": 1, "fsLayers": []}'),
    (MediaType.DOCKER_SCHEMA1, b'{"schemaVersion": 1, "fsLayers": []}'),
    ("application/json", b'{"schemaVersion": 1, "name": "ns/img", "fsLayers": []}'),
])
def test_schema1_manifest_is_refused(server, make_proxy, content_type, body):
    server.serve(lambda h: h.reply(200, body, {"Content-Type": content_type}))
    proxy = make_proxy()
    with pytest.raises(FailedPrecondition) as info:
        proxy.resolve(f"{server.host}/{REPO}:old")
    assert "schema 1 manifests are not supported" in str(info.value)
    assert f"{server.host}/{REPO}:old" in str(info.value)


def test_manifest_over_size_cap_is_refused(server, make_proxy):
    big = b"{" + b" " * (5 << 20) + b"}"
    server.serve(lambda h: h.reply(200, big, {"Content-Type": MediaType.OCI_MANIFEST}))
    proxy = make_proxy()
    with pytest.raises(FailedPrecondition) as info:
        proxy.resolve(f"{server.host}/{REPO}:big")
    assert "over the 4194304-byte limit" in str(info.value)


def test_manifest_without_length_is_cut_at_cap(server, make_proxy):
    sent = {"bytes": 0}

    def app(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", MediaType.OCI_MANIFEST)
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        if h.command == "HEAD":
            return
        piece = b" " * (256 << 10)
        for _ in range(64):  # 16 MiB if nobody stops reading
            h.wfile.write(piece)
            sent["bytes"] += len(piece)

    server.serve(app)
    proxy = make_proxy()
    with pytest.raises(FailedPrecondition) as info:
        proxy.resolve(f"{server.host}/{REPO}:endless")
    assert "over the 4194304-byte limit" in str(info.value)
    assert proxy.cache.ingest_files() == []


def test_ambiguous_document_is_refused(server, make_proxy):
    body = json.dumps({"schemaVersion": 2, "manifests": [], "layers": []}).encode()
    server.serve(lambda h: h.reply(200, body, {"Content-Type": MediaType.OCI_INDEX}))
    proxy = make_proxy()
    with pytest.raises(FailedPrecondition) as info:
        proxy.resolve(f"{server.host}/{REPO}:confused")
    assert "ambiguous" in str(info.value)


# -- auth ---------------------------------------------------------------------

def bearer_app(server: FaultServer, inner, *, users: dict[str, str] | None = None):
    """Registry that wants a bearer token from its own /token realm."""
    issued: list[dict] = []

    def app(h: _Handler) -> None:
        url = urlsplit(h.path)
        if url.path == "/token":
            query = parse_qs(url.query)
            if users is not None:
                auth = h.headers.get("Authorization", "")
                raw = base64.b64decode(auth.removeprefix("Basic ")).decode() if auth.startswith("Basic ") else ""
                user, _, password = raw.partition(":")
                if users.get(user) != password or not user:
                    h.reply(401, b'{"details":"bad credentials"}')
                    return
            token = f"tok{len(issued) + 1}"
            issued.append({"token": token, "query": query})
            h.reply(200, json.dumps({"access_token": token, "expires_in": 300}).encode(),
                    {"Content-Type": "application/json"})
            return
        good = {f"Bearer {i['token']}" for i in issued}
        if h.headers.get("Authorization") not in good:
            scope = f'repository:{REPO}:pull' if url.path != "/v2/" else ""
            challenge = f'Bearer realm="http://{server.host}/token",service="fault.test"'
            if scope:
                challenge += f',scope="{scope}"'
            h.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                    {"WWW-Authenticate": challenge})
            return
        if url.path == "/v2/":
            h.reply(200, b"{}")
            return
        inner(h)

    return app, issued


def test_bearer_token_flow_and_cache(server, make_proxy):
    body = image_manifest(b"layer")
    app, issued = bearer_app(server, manifest_app("v1", body))
    server.serve(app)
    proxy = make_proxy()
    resolved = proxy.resolve(f"{server.host}/{REPO}:v1")
    assert resolved.top.digest == sha256_digest(body)
    proxy.resolve(f"{server.host}/{REPO}:v1")
    # one token for the scope, reused; the token endpoint got service and scope
    assert len(issued) == 1
    assert issued[0]["query"] == {"service": ["fault.test"], "scope": [f"repository:{REPO}:pull"]}
    registry_calls = [s for s in server.seen if not s.path.startswith("/token")]
    authorized = [s for s in registry_calls if s.headers.get("authorization") == "Bearer tok1"]
    # the first call was challenged, every later one carried the token up front
    assert len(registry_calls) - len(authorized) == 1


def test_bearer_with_wrong_token_is_unauthenticated(server, make_proxy):
    def app(h: _Handler) -> None:
        if h.path.startswith("/token"):
            h.reply(200, b'{"token": "not-accepted"}')
        else:
            h.reply(401, b"", {"WWW-Authenticate": f'Bearer realm="http://{server.host}/token"'})

    server.serve(app)
    proxy = make_proxy()
    with pytest.raises(Unauthenticated) as info:
        proxy.resolve(f"{server.host}/{REPO}:v1")
    assert server.host in str(info.value)


def test_login_through_token_realm(server, make_proxy, tmp_path):
    body = image_manifest(b"layer")
    app, issued = bearer_app(server, manifest_app("v1", body), users={"alice": "s3cret"})
    server.serve(app)
    proxy = make_proxy()
    with pytest.raises(Unauthenticated) as info:
        proxy.login(server.host, "alice", "wrong")
    assert server.host in str(info.value)
    assert not (proxy.state_dir / "auth.json").exists()
    # anonymous pulls are refused by this realm
    with pytest.raises(Unauthenticated):
        proxy.resolve(f"{server.host}/{REPO}:v1")
    assert proxy.login(f"http://{server.host}/", "alice", "s3cret") == server.host
    assert proxy.resolve(f"{server.host}/{REPO}:v1").top.digest == sha256_digest(body)
    auth_file = proxy.state_dir / "auth.json"
    assert auth_file.stat().st_mode & 0o777 == 0o600
    assert proxy.logout(server.host) is True
    assert proxy.logout(server.host) is False
    with pytest.raises(Unauthenticated):
        proxy.resolve(f"{server.host}/{REPO}:v1")


# -- mirrors ------------------------------------------------------------------

def test_mirror_tried_first_then_upstream(server, make_proxy):
    mirror = FaultServer()
    try:
        body = image_manifest(b"layer")
        server.serve(manifest_app("v1", body))
        mirror.serve(lambda h: h.reply(404))
        proxy = make_proxy({server.host: RegistryHostConfig(mirrors=(f"http://{mirror.host}",))})
        resolved = proxy.resolve(f"{server.host}/{REPO}:v1")
        assert resolved.top.digest == sha256_digest(body)
        assert mirror.paths("HEAD") == [f"/v2/{REPO}/manifests/v1"]
        assert server.paths("HEAD") == [f"/v2/{REPO}/manifests/v1"]

        # a mirror that has the content serves it, and upstream sees nothing more
        blob = blob_of(10_000)
        mirror.serve(lambda h: h.reply(200, blob))
        before = len(server.seen)
        assert b"".join(proxy.fetch_blob(f"{server.host}/{REPO}", sha256_digest(blob))) == blob
        assert len(server.seen) == before
    finally:
        mirror.stop()


def test_unreachable_mirror_falls_back(server, make_proxy):
    dead = FaultServer()
    dead_host = dead.host
    dead.stop()
    body = image_manifest(b"layer")
    server.serve(manifest_app("v1", body))
    proxy = make_proxy({server.host: RegistryHostConfig(mirrors=(f"http://{dead_host}",))})
    started = time.monotonic()
    assert proxy.resolve(f"{server.host}/{REPO}:v1").top.digest == sha256_digest(body)
    # one attempt per request at a dead mirror, no backoff spent on it
    assert time.monotonic() - started < 0.2


def test_credentials_never_sent_to_plain_http_realm(server, make_proxy):
    server.serve(lambda h: h.reply(401, b"", {
        "WWW-Authenticate": 'Bearer realm="http://realm.invalid/token",service="x"'}))
    proxy = make_proxy()
    proxy.credentials.put(server.host, Credentials("alice", "s3cret"))
    with pytest.raises(Unauthenticated) as info:
        proxy.resolve(f"{server.host}/{REPO}:v1")
    assert "plain http" in str(info.value)
    assert len(server.seen) == 1


# -- pulls through barque's services from a hostile registry ------------------

def _layer_tar() -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = b"hostile registry test\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _peak_rss(pid: int) -> int:
    """The process's high-water resident set (VmHWM), in bytes."""
    return int(process_status(pid)["VmHWM"].split()[0]) * 1024


def _stored(root: Path) -> tuple[list[str], list[str]]:
    blobs = root / "blobs" / "sha256"
    ingest = root / "ingest"
    return (sorted(p.name for p in blobs.iterdir()) if blobs.exists() else [],
            sorted(p.name for p in ingest.iterdir()) if ingest.exists() else [])


@pytest.mark.parametrize("hostile", [
    "config",
    pytest.param("layer", marks=pytest.mark.root),
])
def test_pull_of_a_blob_running_past_its_descriptor_fails_and_keeps_nothing(server, hostile):
    """A config or layer body that never ends: the pull fails at once with one
    line, the image-store's memory does not grow with the body, and neither the
    image-store nor the registry-proxy keeps a blob or an ingest file of it."""
    layer = _layer_tar()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "config": {"mediaType": MediaType.OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": MediaType.OCI_LAYER, "digest": sha256_digest(layer), "size": len(layer)}],
    }).encode()
    bad_body = config if hostile == "config" else layer
    bad = sha256_digest(bad_body)
    run_on = RunOn(bad_body, 1 << 40)
    good = {sha256_digest(config): config, sha256_digest(layer): layer}
    serve_manifest = manifest_app("v1", manifest)

    def app(h: _Handler) -> None:
        digest = h.path.rsplit("/", 1)[-1]
        if h.path.startswith(f"/v2/{REPO}/blobs/") and digest == bad:
            run_on(h)
        elif h.path.startswith(f"/v2/{REPO}/blobs/") and digest in good:
            h.reply(200, good[digest])
        else:
            serve_manifest(h)

    server.serve(app)
    eng = Engine.create()
    try:
        images_pid = eng.procs["images"].pid
        peak_before = _peak_rss(images_pid)
        started = time.monotonic()
        res = eng.cli("pull", f"{server.host}/{REPO}:v1", timeout=120)
        elapsed = time.monotonic() - started
        assert res.returncode == 125, res.stdout + res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        # the body was cut off near its size: the image-store's memory did not grow with it
        assert _peak_rss(images_pid) - peak_before < 32 << 20
        assert run_on.sent < len(bad_body) + (64 << 20)
        assert elapsed < 30, elapsed
        assert f"{bad} from {server.host}/{REPO}: the registry sent more than the {len(bad_body)} bytes" \
            in res.stderr, res.stderr
        images_blobs, images_ingest = _stored(eng.state("images") / "content")
        proxy_blobs, proxy_ingest = _stored(eng.state("registry"))
        assert bad.removeprefix("sha256:") not in images_blobs + proxy_blobs
        assert images_ingest == [] and proxy_ingest == []
        assert eng.ok("images", "-q").stdout.strip() == ""
    finally:
        eng.close()
