"""The load's archive reader (services.images.archive): members spooled by
index, links inside the archive kept as aliases, compressed archives
detected, and each hostile form refused with one line and the spool gone."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import tarfile
from pathlib import Path

import pytest
import zstandard

from client.errors import DigestMismatch
from services.images.archive import BadArchive, ChunkReader, spool_archive


def _tar(*members: tarfile.TarInfo, data: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for m in members:
            body = (data or {}).get(m.name)
            t.addfile(m, io.BytesIO(body) if body is not None else None)
    return buf.getvalue()


def _file(name: str, body: bytes) -> tuple[tarfile.TarInfo, dict[str, bytes]]:
    info = tarfile.TarInfo(name)
    info.size = len(body)
    return info, {name: body}


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _spool(data: bytes, tmp_path: Path):
    return spool_archive(ChunkReader(iter([data[i:i + 700] for i in range(0, len(data), 700)])), tmp_path / "spool")


def test_members_and_links(tmp_path: Path) -> None:
    a, da = _file("x/layer.tar", b"tar bytes")
    blob = b"blob"
    b, db = _file(f"blobs/sha256/{hashlib.sha256(blob).hexdigest()}", blob)
    data = _tar(a, b, _link("y/layer.tar", "../x/layer.tar"), _link("z/layer.tar", "x/layer.tar", tarfile.LNKTYPE),
                data={**da, **db})
    sp = _spool(data, tmp_path)
    try:
        assert sp.read("y/layer.tar", "layer") == b"tar bytes"
        assert sp.read("z/layer.tar", "layer") == b"tar bytes"
        assert sp.digest("./x/layer.tar") == "sha256:" + hashlib.sha256(b"tar bytes").hexdigest()
        assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == ["0", "1"]  # by index, not by path
        with pytest.raises(BadArchive, match="holds no such file"):
            sp.resolve("nosuch.json", "config")
    finally:
        sp.close()
    assert not (tmp_path / "spool").exists()


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress,
                                      lambda d: zstandard.ZstdCompressor().compress(d)])
def test_compressed_archives(tmp_path: Path, compress) -> None:
    a, da = _file("manifest.json", b"[]")
    sp = _spool(compress(_tar(a, data=da)), tmp_path)
    assert sp.read("manifest.json", "manifest") == b"[]"
    sp.close()


def _hostile() -> dict[str, tuple[bytes, type, str]]:
    up, dup = _file("../x", b"x")
    ab, dab = _file("/etc/x", b"x")
    mid, dmid = _file("a/../../x", b"x")
    fifo = tarfile.TarInfo("p")
    fifo.type = tarfile.FIFOTYPE
    one, d1 = _file("m", b"1")
    bad, dbad = _file("blobs/sha256/" + "0" * 64, b"not that")
    return {
        "parent path": (_tar(up, data=dup), BadArchive, "points outside the archive"),
        "absolute path": (_tar(ab, data=dab), BadArchive, "is an absolute path"),
        "climbing path": (_tar(mid, data=dmid), BadArchive, "outside the archive"),
        "symlink out": (_tar(_link("l", "../../etc/passwd")), BadArchive, "outside the archive"),
        "absolute symlink": (_tar(_link("l", "/etc/passwd")), BadArchive, "outside the archive"),
        "hardlink out": (_tar(_link("l", "../x", tarfile.LNKTYPE)), BadArchive, "outside the archive"),
        "dangling link": (_tar(_link("l", "nothing")), BadArchive, "holds no such file"),
        "fifo": (_tar(fifo), BadArchive, "is a fifo"),
        "twice": (_tar(one, one, data=d1), BadArchive, "appears twice"),
        "blob digest": (_tar(bad, data=dbad), DigestMismatch, "hashes to"),
        "not a tar": (b"garbage" * 100, BadArchive, "archive: invalid octal checksum"),
    }


@pytest.mark.parametrize("case", sorted(_hostile()))
def test_hostile_archives_refused_and_nothing_left(tmp_path: Path, case: str) -> None:
    data, error, text = _hostile()[case]
    with pytest.raises(error, match=text):
        _spool(data, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_member_over_the_cap_refused_before_its_data(tmp_path: Path, monkeypatch) -> None:
    import services.images.archive as archive

    monkeypatch.setattr(archive, "MAX_MEMBER", 1 << 20)
    info = tarfile.TarInfo("l0/layer.tar")
    info.size = (1 << 20) + 1
    header_only = info.tobuf(format=tarfile.PAX_FORMAT)  # no data follows: refused on the header
    with pytest.raises(BadArchive, match="over the 1048576-byte cap"):
        _spool(header_only, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_compressed_bomb_refused_at_the_archive_cap(tmp_path: Path, monkeypatch) -> None:
    import services.images.archive as archive

    monkeypatch.setattr(archive, "MAX_ARCHIVE", 4 << 20)
    a, da = _file("zeros", bytes(8 << 20))
    bomb = gzip.compress(_tar(a, data=da))
    assert len(bomb) < 64 << 10
    with pytest.raises(BadArchive, match="size cap"):
        _spool(bomb, tmp_path)
    assert list(tmp_path.iterdir()) == []
