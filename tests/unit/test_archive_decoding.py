"""A load archive whose outer compression does not decode (truncated or
garbled bzip2, xz, zstd) is a BadArchive (InvalidArgument), not the
decoder's EOFError or OSError, which the service answered as INTERNAL
(found by the RPC fuzzer: Load of the four bytes ``BZh9``)."""

from __future__ import annotations

import bz2
import io
import lzma
from pathlib import Path

import pytest
import zstandard

from client.errors import InvalidArgument
from services.images.archive import BadArchive, spool_archive

_TAR = b"\0" * 1024


@pytest.mark.parametrize("data", [
    b"BZh9",
    bz2.compress(_TAR)[:-8],
    b"BZh9" + b"garbage" * 10,
    lzma.compress(_TAR)[:-8],
    b"\xfd7zXZ\x00" + b"\x01" * 40,
    b"\x28\xb5\x2f\xfd" + b"\xff" * 20,
], ids=["bz2-magic-only", "bz2-truncated", "bz2-garbage", "xz-truncated", "xz-garbage", "zstd-garbage"])
def test_an_archive_that_does_not_decode_is_refused(tmp_path: Path, data: bytes):
    spool = tmp_path / "spool"
    with pytest.raises(BadArchive, match="archive") as info:
        spool_archive(io.BytesIO(data), spool)
    assert isinstance(info.value, InvalidArgument)
    assert not spool.exists() or not any(spool.iterdir())
