"""Endpoint choice (mirrors first, scheme per host) and the blob cache's commit rules."""

from __future__ import annotations

import os
import threading

import pytest

from client.config import Config, RegistryHostConfig
from client.errors import DigestMismatch, InvalidArgument
from client.imagespec import sha256_digest
from services.common.locks import KeyedLocks
from services.registry.cache import BlobCache
from services.registry.transport import Endpoint, endpoints_for, is_loopback


@pytest.mark.parametrize("host,expected", [
    ("localhost", True), ("localhost:5000", True), ("LOCALHOST:1", True),
    ("127.0.0.1", True), ("127.0.0.1:5000", True), ("127.9.8.7:80", True),
    ("[::1]:5000", True), ("::1", True),
    ("10.0.0.1:5000", False), ("registry.local:5000", False), ("quay.io", False),
    ("[2001:db8::1]:5000", False), ("localhost.example.com", False),
])
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_docker_hub_mirrors_first_then_upstream():
    config = Config(registries={"docker.io": RegistryHostConfig(
        mirrors=("https://mirror-a.example", "http://mirror-b.example:5000"))})
    assert endpoints_for("docker.io", config) == [
        Endpoint("https://mirror-a.example", "mirror-a.example", True),
        Endpoint("http://mirror-b.example:5000", "mirror-b.example:5000", True),
        Endpoint("https://registry-1.docker.io", "docker.io", False),
    ]


@pytest.mark.parametrize("host,config,url", [
    ("quay.io", Config(), "https://quay.io"),
    ("127.0.0.1:5000", Config(), "http://127.0.0.1:5000"),
    ("localhost:5000", Config(), "http://localhost:5000"),
    ("[::1]:5000", Config(), "http://[::1]:5000"),
    ("myhost:5000", Config(), "https://myhost:5000"),
    ("myhost:5000", Config(registries={"myhost:5000": RegistryHostConfig(insecure=True)}),
     "http://myhost:5000"),
])
def test_upstream_scheme(host, config, url):
    assert endpoints_for(host, config) == [Endpoint(url, host, False)]


def test_mirrors_are_per_registry():
    config = Config(registries={"docker.io": RegistryHostConfig(mirrors=("https://m.example",))})
    assert [e.base_url for e in endpoints_for("quay.io", config)] == ["https://quay.io"]


def test_endpoint_origin_includes_default_port():
    assert Endpoint("https://Registry-1.docker.io", "docker.io", False).origin == \
        "https://registry-1.docker.io:443"
    assert Endpoint("http://127.0.0.1:5000", "x", False).origin == "http://127.0.0.1:5000"


# -- blob cache ---------------------------------------------------------------

def test_cache_commit_verifies_and_renames(tmp_path):
    cache = BlobCache(tmp_path)
    data = b"hello" * 1000
    d = sha256_digest(data)
    ingest = cache.ingest(d)
    ingest.write(data[:10])
    ingest.write(data[10:])
    path = ingest.commit(len(data))
    assert path == tmp_path / "blobs" / "sha256" / d.split(":")[1]
    assert path.read_bytes() == data
    assert os.stat(path).st_mode & 0o222 == 0
    assert cache.ingest_files() == []
    assert b"".join(cache.read_from(d, 3)) == data[3:]
    assert cache.size(d) == len(data)


@pytest.mark.parametrize("size", [None, 4])
def test_cache_commit_mismatch_leaves_nothing(tmp_path, size):
    cache = BlobCache(tmp_path)
    d = sha256_digest(b"good")
    ingest = cache.ingest(d)
    ingest.write(b"bad!!")
    with pytest.raises(DigestMismatch) as info:
        ingest.commit(size)
    assert d in str(info.value)
    assert not cache.has(d)
    assert cache.ingest_files() == []


def test_cache_refuses_bad_digest_as_path(tmp_path):
    cache = BlobCache(tmp_path)
    for bad in ["sha256:../../etc/passwd", "sha256:" + "A" * 64, "md5:" + "a" * 32, ""]:
        with pytest.raises(InvalidArgument):
            cache.blob_path(bad)
        with pytest.raises(InvalidArgument):
            cache.ingest(bad)


def test_cache_read_bytes_drops_corrupt_blob(tmp_path):
    cache = BlobCache(tmp_path)
    data = b'{"a": 1}'
    d = sha256_digest(data)
    cache.put_bytes(d, data)
    assert cache.read_bytes(d, 100) == data
    assert cache.read_bytes(d, 3) is None  # over the caller's limit
    path = cache.blob_path(d)
    os.chmod(path, 0o644)
    path.write_bytes(b'{"a": 2}')
    assert cache.read_bytes(d, 100) is None
    assert not cache.has(d)


def test_keyed_locks_serialise_per_key_and_clean_up():
    locks = KeyedLocks()
    order: list[str] = []
    locks.acquire("a")
    t = threading.Thread(target=lambda: (locks.acquire("a"), order.append("second"), locks.release("a")))
    t.start()
    with locks.hold("b"):  # another key is independent
        order.append("b")
    t.join(0.1)
    assert t.is_alive() and order == ["b"]
    order.append("first")
    locks.release("a")
    t.join(5)
    assert order == ["b", "first", "second"]
    assert len(locks) == 0


def test_stale_ingest_files_are_removed_at_start(tmp_path):
    cache = BlobCache(tmp_path)
    old = cache.ingest_dir / ("a" * 64 + ".dead")
    old.write_bytes(b"partial")
    os.utime(old, (1, 1))
    fresh = cache.ingest(sha256_digest(b"live"))
    fresh.write(b"li")
    BlobCache(tmp_path)  # a restart
    assert cache.ingest_files() == [fresh.path]
    fresh.abort()
    assert cache.ingest_files() == []
