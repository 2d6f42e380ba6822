"""Content store: verified atomic commits, cleanup on every failure, concurrent writers."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest

from client.errors import DigestMismatch, InvalidArgument, NotFound
from services.common.content import ContentStore, SizeMismatch

DATA = b"layer bytes " * 10_000
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()
OTHER = "sha256:" + hashlib.sha256(b"other").hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "content")


def _ingest(tmp_path: Path) -> list[str]:
    return os.listdir(tmp_path / "content/ingest")


def _write(store: ContentStore, digest: str, data: bytes, size: int | None, chunk: int = 4096) -> None:
    with store.writer(digest, size) as w:
        for i in range(0, len(data), chunk):
            w.write(data[i : i + chunk])


def test_commit_and_read_back(store: ContentStore, tmp_path: Path) -> None:
    assert not store.has(DIGEST)
    _write(store, DIGEST, DATA, len(DATA))
    assert store.has(DIGEST) and store.size(DIGEST) == len(DATA)
    assert store.read_bytes(DIGEST) == DATA
    with store.open(DIGEST) as f:
        assert f.read() == DATA
    assert store.path(DIGEST) == tmp_path / "content/blobs/sha256" / DIGEST.split(":")[1]
    assert stat.S_IMODE(store.path(DIGEST).stat().st_mode) == 0o444
    assert list(store.list()) == [DIGEST]
    assert _ingest(tmp_path) == []


def test_digest_mismatch_names_both_and_cleans_up(store: ContentStore, tmp_path: Path) -> None:
    actual = "sha256:" + hashlib.sha256(b"tampered").hexdigest()
    with pytest.raises(DigestMismatch) as err:
        _write(store, DIGEST, b"tampered", None)
    assert DIGEST in str(err.value) and actual in str(err.value)
    assert not store.has(DIGEST) and _ingest(tmp_path) == []


def test_size_mismatch_short_and_long(store: ContentStore, tmp_path: Path) -> None:
    with pytest.raises(SizeMismatch, match=f"expected {len(DATA)} bytes, got 100"):
        _write(store, DIGEST, DATA[:100], len(DATA))
    with pytest.raises(SizeMismatch, match="more than the expected 10 bytes"):
        _write(store, DIGEST, DATA, 10)
    assert not store.has(DIGEST) and _ingest(tmp_path) == []


def test_exception_inside_discards(store: ContentStore, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="connection reset"):
        with store.writer(DIGEST, len(DATA)) as w:
            w.write(DATA[:10])
            raise RuntimeError("connection reset")
    assert not store.has(DIGEST) and _ingest(tmp_path) == []


def test_existing_blob_is_kept_but_writes_still_verified(store: ContentStore, tmp_path: Path) -> None:
    _write(store, DIGEST, DATA, len(DATA))
    inode = store.path(DIGEST).stat().st_ino
    _write(store, DIGEST, DATA, len(DATA))
    assert store.path(DIGEST).stat().st_ino == inode
    with pytest.raises(DigestMismatch):
        _write(store, DIGEST, b"x" * len(DATA), len(DATA))
    assert store.read_bytes(DIGEST) == DATA and _ingest(tmp_path) == []


def test_concurrent_writers_of_one_digest(store: ContentStore, tmp_path: Path) -> None:
    errors: list[BaseException] = []
    started = threading.Barrier(4)
    in_flight = threading.Barrier(4)

    def worker() -> None:
        try:
            with store.writer(DIGEST, len(DATA)) as w:
                started.wait(5)
                w.write(DATA[:1000])
                in_flight.wait(5)  # all four ingest files exist at once
                w.write(DATA[1000:])
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert store.read_bytes(DIGEST) == DATA and _ingest(tmp_path) == []


def test_invalid_digests_refused_before_any_path(store: ContentStore) -> None:
    for bad in ["sha256:../../etc/passwd", "sha256:" + "A" * 64, "md5:" + "0" * 32, "", "sha256:" + "0" * 63]:
        with pytest.raises(InvalidArgument):
            store.path(bad)
        with pytest.raises(InvalidArgument):
            store.writer(bad, None).__enter__()


def test_missing_blob_not_found(store: ContentStore) -> None:
    for call in (store.size, store.open, store.delete, store.read_bytes):
        with pytest.raises(NotFound, match=OTHER):
            call(OTHER)


def test_read_bytes_limit_and_corruption(store: ContentStore) -> None:
    _write(store, DIGEST, DATA, len(DATA))
    with pytest.raises(InvalidArgument, match="read limit"):
        store.read_bytes(DIGEST, max_size=100)
    path = store.path(DIGEST)
    path.chmod(0o644)
    path.write_bytes(b"bit rot")
    with pytest.raises(DigestMismatch, match="corrupt"):
        store.read_bytes(DIGEST)


def test_delete_and_list(store: ContentStore) -> None:
    _write(store, DIGEST, DATA, None)
    _write(store, OTHER, b"other", 5)
    assert sorted(store.list()) == sorted([DIGEST, OTHER])
    store.delete(DIGEST)
    assert list(store.list()) == [OTHER] and not store.has(DIGEST)


def test_clean_ingest_drops_crash_leftovers(store: ContentStore, tmp_path: Path) -> None:
    (tmp_path / "content/ingest" / (DIGEST.split(":")[1] + ".dead")).write_bytes(b"partial")
    (tmp_path / "content/ingest/odd-dir").mkdir()
    store.clean_ingest()
    assert _ingest(tmp_path) == []


def test_clean_ingest_keeps_a_live_writers_file(store: ContentStore, tmp_path: Path) -> None:
    """A writer holds its ingest file locked: a service starting beside one
    that writes into the same store (the registry cache is shared) drops only
    what a dead process left."""
    (tmp_path / "content/ingest" / (DIGEST.split(":")[1] + ".dead")).write_bytes(b"partial")
    writer = store.begin(DIGEST, len(DATA))
    writer.write(DATA[:3])
    assert store.clean_ingest() == 1
    assert _ingest(tmp_path) == [writer.path.name]
    writer.write(DATA[3:])
    writer.commit()
    assert store.has(DIGEST) and _ingest(tmp_path) == []
