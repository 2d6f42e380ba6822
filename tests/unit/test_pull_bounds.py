"""Blobs are read no further than their descriptor's size (security review, issue 7).

The image-store streams an image config into its content store and stops at
the first byte past the config descriptor's size (it used to join the whole
body in memory); every fetch passes that size on to the registry-proxy,
which reads at most size+1 bytes from the registry and keeps nothing of a
body that runs past it or ends short. Fakes stand in for the registry: a
source of chunks for the image-store, urllib3 responses over an in-memory
body for the proxy.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import urllib3

from client.config import Config
from client.errors import BarqueError, InvalidArgument
from client.imagespec import Descriptor, MediaType, Platform, sha256_digest
from services.common.content import SizeMismatch
from services.images.core import MAX_CONFIG_SIZE, ImageStore, Resolution
from services.registry.cache import CHUNK_SIZE
from services.registry.core import RegistryProxy

CHUNK = 64 << 10
#: an "endless" fake body stops here, so that a regression fails the test instead of the host
ENDLESS = 64 << 20


# -- the image-store against a fake registry-proxy ------------------------------

def _tar_layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = b"hello\n"
        info = tarfile.TarInfo("hello.txt")
        # owned by whoever runs the test: the unpack's chown is then allowed to
        # any user, and the tier stays runnable without root
        info.size, info.mode, info.uid, info.gid = len(data), 0o644, os.getuid(), os.getgid()
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Served:
    """What a blob fetch was asked and what it handed out."""

    size: int | None = None
    sent: int = 0
    closed: bool = False


@dataclass
class FakeSource:
    """A RegistrySource serving one image; a blob's body may run on (``endless``) or end early."""

    config: bytes
    layer: bytes
    endless: set[str] = field(default_factory=set)  # digests whose body never ends
    short: set[str] = field(default_factory=set)    # digests whose body ends early
    served: dict[str, Served] = field(default_factory=dict)

    @property
    def config_desc(self) -> Descriptor:
        return Descriptor(MediaType.OCI_CONFIG, sha256_digest(self.config), len(self.config))

    @property
    def layer_desc(self) -> Descriptor:
        return Descriptor(MediaType.OCI_LAYER, sha256_digest(self.layer), len(self.layer))

    @property
    def manifest(self) -> bytes:
        return json.dumps({
            "schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST,
            "config": {"mediaType": MediaType.OCI_CONFIG, "digest": self.config_desc.digest,
                       "size": self.config_desc.size},
            "layers": [{"mediaType": MediaType.OCI_LAYER, "digest": self.layer_desc.digest,
                        "size": self.layer_desc.size}],
        }).encode()

    def resolve(self, reference: str, platform: Platform | None) -> Resolution:
        desc = Descriptor(MediaType.OCI_MANIFEST, sha256_digest(self.manifest), len(self.manifest))
        return Resolution("fake.test/ns/img:v1", "fake.test/ns/img", desc, desc)

    def get_manifest(self, repository: str, digest: str) -> bytes:
        assert digest == sha256_digest(self.manifest)
        return self.manifest

    def fetch_blob(self, repository: str, digest: str, offset: int = 0,
                   size: int | None = None) -> Iterator[bytes]:
        body = {self.config_desc.digest: self.config, self.layer_desc.digest: self.layer}[digest]
        if digest in self.short:
            body = body[: len(body) // 2]
        served = self.served[digest] = Served(size=size)

        def chunks() -> Iterator[bytes]:
            try:
                pieces: Iterator[bytes] = (body[i:i + CHUNK] for i in range(0, len(body), CHUNK))
                if digest in self.endless:
                    pieces = itertools.chain(pieces, itertools.repeat(b"\0" * CHUNK, ENDLESS // CHUNK))
                for piece in pieces:
                    served.sent += len(piece)
                    yield piece
            finally:
                served.closed = True

        return chunks()


@pytest.fixture
def make_store(tmp_path):
    stores: list[ImageStore] = []

    def make(source: FakeSource) -> ImageStore:
        store = ImageStore(tmp_path / f"images{len(stores)}", source)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def _config(pad: int = 0) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "pad": "x" * pad,
                       "rootfs": {"type": "layers", "diff_ids": [sha256_digest(_tar_layer())]}}).encode()


def _assert_nothing_kept(store: ImageStore, digest: str) -> None:
    assert not store.content.has(digest)
    assert list(store.content.ingest_dir.iterdir()) == []


def test_endless_config_fails_at_its_size_and_keeps_nothing(make_store):
    source = FakeSource(_config(pad=300_000), _tar_layer())
    source.endless.add(source.config_desc.digest)
    store = make_store(source)
    with pytest.raises(SizeMismatch) as info:
        list(store.pull("fake.test/ns/img:v1"))
    desc = source.config_desc
    assert str(info.value) == (f"image config {desc.digest}: the registry sent more than the "
                               f"{desc.size} bytes of its descriptor")
    served = source.served[desc.digest]
    # the size went to the source, the stream was closed, no more than one chunk past the size was read
    assert served.size == desc.size
    assert served.closed
    assert served.sent <= desc.size + CHUNK
    _assert_nothing_kept(store, desc.digest)
    assert source.layer_desc.digest not in source.served


def test_config_shorter_than_its_size_fails_and_keeps_nothing(make_store):
    source = FakeSource(_config(pad=200_000), _tar_layer())
    source.short.add(source.config_desc.digest)
    store = make_store(source)
    with pytest.raises(SizeMismatch) as info:
        list(store.pull("fake.test/ns/img:v1"))
    desc = source.config_desc
    assert str(info.value) == (f"image config {desc.digest}: the registry sent {desc.size // 2} of the "
                               f"{desc.size} bytes of its descriptor")
    _assert_nothing_kept(store, desc.digest)


def test_config_over_the_cap_is_refused_before_any_fetch(make_store):
    big = Descriptor(MediaType.OCI_CONFIG, sha256_digest(b"big"), MAX_CONFIG_SIZE + 1)

    class BigConfig(FakeSource):
        @property
        def config_desc(self) -> Descriptor:
            return big

    source = BigConfig(_config(), _tar_layer())
    store = make_store(source)
    with pytest.raises(InvalidArgument) as info:
        list(store.pull("fake.test/ns/img:v1"))
    assert f"over the {MAX_CONFIG_SIZE}-byte limit" in str(info.value)
    assert source.served == {}


def test_endless_layer_fails_at_its_size_and_keeps_nothing(make_store):
    source = FakeSource(_config(), _tar_layer())
    source.endless.add(source.layer_desc.digest)
    store = make_store(source)
    with pytest.raises(SizeMismatch):
        list(store.pull("fake.test/ns/img:v1"))
    desc = source.layer_desc
    served = source.served[desc.digest]
    assert served.size == desc.size
    assert served.closed
    assert served.sent <= desc.size + CHUNK
    _assert_nothing_kept(store, desc.digest)
    assert store.snapshots.committed() == []


def test_config_and_layer_of_the_right_size_are_pulled(make_store):
    source = FakeSource(_config(pad=200_000), _tar_layer())
    store = make_store(source)
    events = list(store.pull("fake.test/ns/img:v1"))
    assert events[-1].image is not None
    assert events[-1].image.record.id == source.config_desc.digest
    assert {d: s.size for d, s in source.served.items()} == {
        source.config_desc.digest: source.config_desc.size,
        source.layer_desc.digest: source.layer_desc.size,
    }
    assert list(store.content.ingest_dir.iterdir()) == []


# -- the registry-proxy against fake HTTP responses -------------------------------

class _Body(io.RawIOBase):
    """A response body read from memory: ``data``, then ``tail`` repeated for
    ENDLESS more bytes (if any), or a dropped connection after ``drop_after``
    bytes. Counts what was read."""

    def __init__(self, data: bytes, *, tail: bytes = b"", drop_after: int | None = None) -> None:
        self.data, self.tail, self.drop_after = data, tail, drop_after
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self.drop_after is not None and self.read_bytes >= self.drop_after:
            raise ConnectionResetError("connection reset by fake peer")
        end = self.drop_after if self.drop_after is not None else len(self.data) + ENDLESS
        want = min(len(b), end - self.read_bytes)
        if self.read_bytes < len(self.data):
            piece = self.data[self.read_bytes:self.read_bytes + want]
        else:
            piece = (self.tail * (want // max(len(self.tail), 1) + 1))[:want] if self.tail else b""
        b[:len(piece)] = piece
        self.read_bytes += len(piece)
        return len(piece)


class FakeTransport:
    """Hands out scripted responses and remembers each request's headers."""

    def __init__(self, *bodies: tuple[int, dict[str, str], _Body]) -> None:
        self.script = list(bodies)
        self.requests: list[dict[str, str]] = []

    def request(self, registry, method, path, *, scope=None, headers=None, ok=(200,), what=""):
        self.requests.append(dict(headers or {}))
        status, hdrs, body = self.script.pop(0)
        return urllib3.HTTPResponse(body=body, headers=hdrs, status=status, preload_content=False,
                                    decode_content=False)

    def close(self) -> None:
        pass


BLOB = bytes(range(256)) * 12_000 + b"tail"  # about 3 MiB: several proxy chunks
DIGEST = sha256_digest(BLOB)
NAME = "fake.test/ns/img"


@pytest.fixture
def proxy(tmp_path: Path):
    p = RegistryProxy(tmp_path / "registry", Config(state_dir=tmp_path / "registry"))
    p.backoff = (0.0, 0.0, 0.0)
    yield p
    p.close()


def _assert_cache_clean(proxy: RegistryProxy) -> None:
    assert not proxy.cache.has(DIGEST)
    assert proxy.cache.ingest_files() == []
    assert len(proxy.cache.locks) == 0


@pytest.mark.parametrize("headers", [{}, {"Content-Length": str(len(BLOB) + (1 << 30))}],
                         ids=["no-length", "lying-length"])
def test_proxy_reads_an_endless_body_to_size_plus_one(proxy, headers):
    body = _Body(BLOB, tail=b"\0")
    proxy.transport = FakeTransport((200, headers, body))  # type: ignore[assignment]
    got = bytearray()
    with pytest.raises(SizeMismatch) as info:
        for chunk in proxy.fetch_blob(NAME, DIGEST, size=len(BLOB)):
            got += chunk
    assert str(info.value) == (f"blob {DIGEST} from {NAME}: the registry sent more than the "
                               f"{len(BLOB)} bytes of its descriptor")
    assert body.read_bytes == len(BLOB) + 1
    assert len(got) <= len(BLOB)
    _assert_cache_clean(proxy)


def test_proxy_refuses_a_short_body(proxy):
    proxy.transport = FakeTransport((200, {}, _Body(BLOB[:-5])))  # type: ignore[assignment]
    with pytest.raises(SizeMismatch) as info:
        b"".join(proxy.fetch_blob(NAME, DIGEST, size=len(BLOB)))
    assert str(info.value) == (f"blob {DIGEST} from {NAME}: the registry sent {len(BLOB) - 5} of the "
                               f"{len(BLOB)} bytes of its descriptor")
    _assert_cache_clean(proxy)


def test_proxy_bound_counts_across_a_resume(proxy):
    cut = CHUNK_SIZE + 1000
    first = _Body(BLOB, drop_after=cut)
    # the server ignores Range and sends the whole body again, then junk
    second = _Body(BLOB, tail=b"\0")
    proxy.transport = FakeTransport((200, {}, first), (200, {}, second))  # type: ignore[assignment]
    with pytest.raises(SizeMismatch):
        b"".join(proxy.fetch_blob(NAME, DIGEST, size=len(BLOB)))
    assert proxy.transport.requests[1] == {"Range": f"bytes={cut}-"}  # type: ignore[attr-defined]
    assert second.read_bytes == len(BLOB) + 1
    _assert_cache_clean(proxy)


def test_proxy_resumed_blob_of_the_right_size_is_kept(proxy):
    cut = CHUNK_SIZE + 1000
    rest = BLOB[cut:]
    proxy.transport = FakeTransport(  # type: ignore[assignment]
        (200, {}, _Body(BLOB, drop_after=cut)),
        (206, {"Content-Range": f"bytes {cut}-{len(BLOB) - 1}/{len(BLOB)}"}, _Body(rest)),
    )
    assert b"".join(proxy.fetch_blob(NAME, DIGEST, offset=7, size=len(BLOB))) == BLOB[7:]
    assert proxy.cache.has(DIGEST)
    assert proxy.cache.ingest_files() == []


def test_proxy_refuses_a_cached_blob_of_another_size(proxy):
    proxy.cache.put_bytes(DIGEST, BLOB)
    assert b"".join(proxy.fetch_blob(NAME, DIGEST, size=len(BLOB))) == BLOB
    with pytest.raises(SizeMismatch) as info:
        proxy.fetch_blob(NAME, DIGEST, size=len(BLOB) - 1)
    assert f"descriptor gives {len(BLOB) - 1} bytes, the verified blob has {len(BLOB)}" in str(info.value)
    with pytest.raises(InvalidArgument):
        proxy.fetch_blob(NAME, DIGEST, size=-1)


def test_proxy_without_a_size_still_verifies_the_digest(proxy):
    proxy.transport = FakeTransport((200, {}, _Body(BLOB + b"!")))  # type: ignore[assignment]
    with pytest.raises(BarqueError):
        b"".join(proxy.fetch_blob(NAME, DIGEST))
    _assert_cache_clean(proxy)


def test_proxy_refuses_a_resumed_body_running_past_the_size(proxy):
    cut = CHUNK_SIZE + 1000
    proxy.transport = FakeTransport(  # type: ignore[assignment]
        (200, {}, _Body(BLOB, drop_after=cut)),
        (206, {"Content-Range": f"bytes {cut}-{len(BLOB) - 1}/{len(BLOB)}"}, _Body(BLOB[cut:], tail=b"\0")),
    )
    with pytest.raises(SizeMismatch):
        b"".join(proxy.fetch_blob(NAME, DIGEST, size=len(BLOB)))
    _assert_cache_clean(proxy)
