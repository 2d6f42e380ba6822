"""The push side's pure parts: the upload Range header, header validation before
any byte is read, manifest checks before any request, the cache rule of
``cached`` pushes. No network: every refusal here happens before the transport."""

from __future__ import annotations

import pytest

from client.config import Config
from client.errors import DigestMismatch, InvalidArgument, NotFound
from client.imagespec import MediaType, sha256_digest
from services.registry.auth import CredentialStore
from services.registry.cache import BlobCache
from services.registry.push import MAX_CHUNK_SIZE, BlobPusher, BlobUpload, parse_upload_range
from services.registry.transport import Transport


@pytest.fixture
def pusher(tmp_path):
    transport = Transport(Config(state_dir=tmp_path), CredentialStore(tmp_path / "auth.json"))
    yield BlobPusher(BlobCache(tmp_path / "cache"), transport)
    transport.close()


@pytest.mark.parametrize("value,held", [
    ("0-0", 0), ("0-1", 2), ("0-1048575", 1 << 20), ("bytes=0-9", 10), (" 0-9 ", 10),
    (None, None), ("", None), ("5-9", None), ("0-", None), ("0-x", None), ("0-\u00b2", None),
])
def test_upload_range(value, held):
    assert parse_upload_range(value) == held


DIGEST = sha256_digest(b"blob")


@pytest.mark.parametrize("upload,message", [
    (BlobUpload("127.0.0.1:5000/a", DIGEST, -1), "negative size -1"),
    (BlobUpload("127.0.0.1:5000/a", DIGEST, 4, chunk_size=-5), "chunk size -5 is outside"),
    (BlobUpload("127.0.0.1:5000/a", DIGEST, 4, chunk_size=MAX_CHUNK_SIZE + 1), "is outside"),
    (BlobUpload("127.0.0.1:5000/a", "sha256:abc", 4), "invalid digest"),
    (BlobUpload("127.0.0.1:5000/A", DIGEST, 4), ""),
    (BlobUpload("127.0.0.1:5000/a", DIGEST, 4, mount_from=("bad name!",)), ""),
])
def test_header_refused_before_any_byte(pusher, upload, message):
    def never():
        raise AssertionError("a byte was read")
        yield b""

    with pytest.raises(InvalidArgument) as info:
        pusher.receive(upload, never())
    assert message in str(info.value)
    assert pusher.cache.ingest_files() == []


def test_cached_push_needs_the_blob_of_that_size(pusher):
    upload = BlobUpload("127.0.0.1:5000/a", DIGEST, 4)
    with pytest.raises(NotFound):
        pusher.require_cached(upload)
    pusher.receive(upload, [b"bl", b"ob"])
    pusher.require_cached(upload)
    with pytest.raises(DigestMismatch) as info:
        pusher.require_cached(BlobUpload("127.0.0.1:5000/a", DIGEST, 5))
    assert "the cache holds 4 bytes, the push names 5" in str(info.value)


@pytest.mark.parametrize("tag,media_type,content,message", [
    ("bad tag", MediaType.OCI_MANIFEST, b"{}", "invalid tag 'bad tag'"),
    (".dot", MediaType.OCI_MANIFEST, b"{}", "invalid tag"),
    ("v1", "", b"{}", "no media type"),
    ("v1", MediaType.OCI_MANIFEST, b"", "empty manifest"),
    ("v1", MediaType.OCI_MANIFEST, b" " * (4 << 20) + b"{}", "over the 4194304-byte limit"),
])
def test_manifest_refused_before_any_request(pusher, tag, media_type, content, message):
    with pytest.raises(InvalidArgument) as info:
        pusher.put_manifest("127.0.0.1:1/a", tag, media_type, content)
    assert message in str(info.value)
