"""Uploads that fail half-way, resumed: the fault-injecting server in front of
the real ``docker-registry`` (:class:`Forwarder`), so the upload state the proxy
resumes from is the registry's own.

A connection dropped in the middle of a PATCH (after the registry got part of
the chunk), a 503 on a PATCH, a lost upload (404), a drop after the closing PUT
committed, a drop in a monolithic PUT: each time the blob arrives whole and
``resumed`` counts the recoveries. A registry that keeps failing ends in one
clear Unavailable in bounded time.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from urllib.parse import urlsplit

import pytest
import urllib3

from client.config import Config
from client.errors import Unavailable
from client.imagespec import sha256_digest
from services.registry.core import RegistryProxy
from services.registry.push import BlobUpload, PushOutcome, PushProgress
from tests.registry.forwarder import Forwarder, drop, read_body

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("docker-registry") is None, reason="docker-registry not installed"),
]

CHUNK = 256 * 1024
#: short pauses: the resumption logic is under test, not the backoff's length
FAST = (0.01, 0.02, 0.04, 0.08, 0.16)


@pytest.fixture
def proxy(tmp_path):
    p = RegistryProxy(tmp_path / "state", Config(state_dir=tmp_path / "state"))
    p.pusher.backoff = FAST
    p.transport.backoff = (0.01, 0.02, 0.04)
    yield p
    p.close()


@pytest.fixture
def front(registry):
    fwd = Forwarder(registry.host)
    yield fwd
    fwd.stop()


def push(proxy: RegistryProxy, repository: str, data: bytes, **kw) -> list[PushProgress]:
    upload = BlobUpload(repository, sha256_digest(data), len(data), **kw)
    proxy.pusher.receive(upload, [data])
    return list(proxy.pusher.push(upload))


def in_registry(registry, repository: str, data: bytes) -> bool:
    path = repository.split("/", 1)[1]
    resp = urllib3.request("GET", f"http://{registry.host}/v2/{path}/blobs/{sha256_digest(data)}")
    return resp.status == 200 and resp.data == data


def nth(method: str, n: int, action):
    """A fault hook running ``action`` on the n-th request of ``method`` (1-based)."""
    count = {"n": 0}

    def hook(h) -> bool:
        if h.command != method:
            return False
        count["n"] += 1
        if count["n"] != n:
            return False
        action(h)
        return True
    return hook


def patch_ranges(front: Forwarder) -> list[str]:
    return [s.headers["content-range"] for s in front.seen if s.method == "PATCH"]


def test_connection_dropped_mid_patch_resumes_from_the_registrys_offset(proxy, front, registry):
    """The client's connection breaks in the middle of a chunk's body, before the
    registry took any of it: the status GET says where the upload stands and the
    chunk is sent again from there."""
    name = f"{front.host}/faults/{uuid.uuid4().hex[:12]}"
    data = os.urandom(4 * CHUNK + 5)

    def cut(h) -> None:
        read_body(h, CHUNK // 2)
        drop(h)

    front.fault = nth("PATCH", 2, cut)
    progress = push(proxy, name, data, chunk_size=CHUNK)
    assert progress[-1] == PushProgress(len(data), len(data), PushOutcome.UPLOADED, "", 1)
    gets = [s for s in front.seen if s.method == "GET"]
    assert len(gets) == 1 and "/blobs/uploads/" in urlsplit(gets[0].path).path
    assert patch_ranges(front) == [f"{i}-{min(i + CHUNK, len(data)) - 1}"
                                   for i in (0, CHUNK, CHUNK, 2 * CHUNK, 3 * CHUNK, 4 * CHUNK)]
    assert [s.method for s in front.seen].count("POST") == 1
    assert in_registry(registry, name, data)


def test_partial_chunk_held_by_the_registry_is_not_sent_again(proxy, front, registry):
    """The registry took half a chunk, then the connection broke. The status GET's
    ``Range: 0-N`` is the registry's own, and the upload goes on from N+1.

    distribution's upload URLs carry the expected offset (``_state``), so the
    forwarder plays a registry whose upload URL stays the same: it sends the
    status GET to the URL distribution handed out for the half chunk."""
    name = f"{front.host}/faults/{uuid.uuid4().hex[:12]}"
    data = os.urandom(4 * CHUNK + 5)
    half = CHUNK // 2
    moved: dict[str, str] = {}

    def hook(h) -> bool:
        if h.command == "PATCH" and not moved and "-" in h.headers.get("Content-Range", "") \
                and h.headers["Content-Range"].startswith(f"{CHUNK}-"):
            part = read_body(h, half)
            status, headers, body = front.forward(h, part, {"Content-Range": f"{CHUNK}-{CHUNK + half - 1}"})
            assert status == 202, body
            location = dict((k.lower(), v) for k, v in headers)["location"]
            moved[h.path] = urlsplit(location)._replace(scheme="", netloc="").geturl()
            drop(h)
            return True
        if h.command == "GET" and h.path in moved:
            front.reply(h, front.forward(h, b"", path=moved[h.path]))
            return True
        return False

    front.fault = hook
    progress = push(proxy, name, data, chunk_size=CHUNK)
    assert progress[-1] == PushProgress(len(data), len(data), PushOutcome.UPLOADED, "", 1)
    assert CHUNK + half in [p.uploaded for p in progress]
    assert patch_ranges(front) == [
        f"0-{CHUNK - 1}", f"{CHUNK}-{2 * CHUNK - 1}", f"{CHUNK + half}-{2 * CHUNK + half - 1}",
        f"{2 * CHUNK + half}-{3 * CHUNK + half - 1}", f"{3 * CHUNK + half}-{len(data) - 1}"]
    assert [s.method for s in front.seen].count("POST") == 1
    assert in_registry(registry, name, data)


def test_upload_distribution_cancels_after_a_partial_chunk_starts_over(proxy, front, registry):
    """distribution itself, after a chunk it got half of: the old upload URL's
    offset no longer matches, it cancels the upload (404 to the status GET), and
    the push starts a new upload and still arrives whole."""
    name = f"{front.host}/faults/{uuid.uuid4().hex[:12]}"
    data = os.urandom(3 * CHUNK)
    half = CHUNK // 2

    def cut(h) -> None:
        part = read_body(h, half)
        status, _, body = front.forward(h, part, {"Content-Range": f"{CHUNK}-{CHUNK + half - 1}"})
        assert status == 202, body
        drop(h)

    front.fault = nth("PATCH", 2, cut)
    progress = push(proxy, name, data, chunk_size=CHUNK)
    assert progress[-1].outcome is PushOutcome.UPLOADED
    assert progress[-1].resumed == 2  # the drop, then the lost upload
    assert [s.method for s in front.seen].count("POST") == 2
    assert in_registry(registry, name, data)


def test_503_on_a_patch_is_resumed(proxy, front, registry):
    name = f"{front.host}/faults/{uuid.uuid4().hex[:12]}"
    data = os.urandom(3 * CHUNK)

    def busy(h) -> None:
        read_body(h)
        h.reply(503, b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')

    front.fault = nth("PATCH", 3, busy)
    progress = push(proxy, name, data, chunk_size=CHUNK)
    assert progress[-1].outcome is PushOutcome.UPLOADED
    assert progress[-1].resumed == 1
    assert patch_ranges(front) == [f"0-{CHUNK - 1}", f"{CHUNK}-{2 * CHUNK - 1}",
                                   f"{2 * CHUNK}-{3 * CHUNK - 1}", f"{2 * CHUNK}-{3 * CHUNK - 1}"]
    assert in_registry(registry, name, data)


def test_lost_upload_starts_over(proxy, front, registry):
    name = f"{front.host}/faults/{uuid.uuid4().hex[:12]}"
    data = os.urandom(2 * CHUNK + 1)

    def unknown(h) -> None:
        read_body(h)
        h.reply(404, b'{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown"}]}')

    front.fault = nth("PATCH", 2, unknown)
    progress = push(proxy, name, data, chunk_size=CHUNK)
    assert progress[-1].resumed == 1
    assert [s.method for s in front.seen].count("POST") == 2
    assert patch_ranges(front)[2] == f"0-{CHUNK - 1}"
    assert in_registry(registry, name, data)


def test_drop_after_the_closing_put_committed_is_uploaded(proxy, front, registry):
    name = f"{front.host}/faults/{uuid.uuid4().hex[:12]}"
    data = os.urandom(2 * CHUNK)

    def commit_then_drop(h) -> None:
        status, _, body = front.forward(h, read_body(h))
        assert status == 201, body
        drop(h)

    front.fault = nth("PUT", 1, commit_then_drop)
    progress = push(proxy, name, data, chunk_size=CHUNK)
    assert progress[-1].outcome is PushOutcome.UPLOADED
    assert [s.method for s in front.seen][-2:] == ["PUT", "HEAD"]
    assert in_registry(registry, name, data)


def test_drop_in_a_monolithic_put_is_resumed(proxy, front, registry):
    name = f"{front.host}/faults/{uuid.uuid4().hex[:12]}"
    data = os.urandom(600_000)

    def cut(h) -> None:
        read_body(h, 1000)
        drop(h)

    front.fault = nth("PUT", 1, cut)
    progress = push(proxy, name, data)
    assert progress[-1].outcome is PushOutcome.UPLOADED
    assert progress[-1].resumed == 1
    assert in_registry(registry, name, data)


def test_registry_that_keeps_failing_is_unavailable_in_bounded_time(proxy, front, registry):
    name = f"{front.host}/faults/{uuid.uuid4().hex[:12]}"
    data = os.urandom(2 * CHUNK)

    def always_busy(h) -> bool:
        if h.command not in ("PATCH", "GET"):
            return False
        read_body(h)
        h.reply(503, b'{"errors":[{"code":"UNAVAILABLE","message":"overloaded"}]}')
        return True

    front.fault = always_busy
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        push(proxy, name, data, chunk_size=CHUNK)
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert message.startswith(f"upload of blob {sha256_digest(data)} to {name}: gave up after 5 resumptions, "
                              f"0 of {len(data)} bytes accepted")
    assert "answered 503 (UNAVAILABLE: overloaded)" in message
    assert "\n" not in message
    assert elapsed < 5, elapsed
    assert len(patch_ranges(front)) == 1
    assert not in_registry(registry, name, data)


def test_default_backoff_bounds_a_dead_registry(tmp_path, registry):
    """With the shipped backoff, a registry gone mid-upload fails within ~10 s."""
    front = Forwarder(registry.host)
    proxy = RegistryProxy(tmp_path / "state", Config(state_dir=tmp_path / "state"))
    try:
        name = f"{front.host}/faults/{uuid.uuid4().hex[:12]}"
        data = os.urandom(2 * CHUNK)

        def die(h) -> bool:
            if h.command == "PATCH":
                read_body(h)
                drop(h)
                return True
            return False

        front.fault = die
        started = time.monotonic()
        with pytest.raises(Unavailable) as info:
            push(proxy, name, data, chunk_size=CHUNK)
        assert "gave up after 5 resumptions" in str(info.value)
        assert time.monotonic() - started < 15
    finally:
        proxy.close()
        front.stop()
