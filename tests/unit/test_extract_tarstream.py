"""The minimal tar reader: header formats, overrides, caps and refusals (no root needed)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

import pytest

from services.common.safetar.errors import LayerTooLarge, MalformedLayer
from services.common.safetar.reader import EntryType, TarReader


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes = b"", **attrs) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def _read_all(raw: bytes, **caps) -> tuple[list, dict[bytes, bytes], TarReader]:
    reader = TarReader(io.BytesIO(raw), max_bytes=caps.get("max_bytes", 1 << 30),
                       max_entries=caps.get("max_entries", 1000))
    entries, data = [], {}
    for entry in reader:
        entries.append(entry)
        if entry.type == EntryType.REG:
            r, w = os.pipe()
            try:
                reader.copy_to(w, entry)
                os.close(w)
                w = -1
                data[entry.name] = os.read(r, 1 << 20)
            finally:
                os.close(r)
                if w >= 0:
                    os.close(w)
    reader.finish()
    return entries, data, reader


def test_gnu_long_name_and_link() -> None:
    long_name = "d/" + "n" * 150
    link = tarfile.TarInfo("l" * 120)
    link.type = tarfile.SYMTYPE
    link.linkname = "t" * 130
    raw = _tar([_file(long_name, b"x"), (link, None)], fmt=tarfile.GNU_FORMAT)
    entries, data, _ = _read_all(raw)
    assert [e.name for e in entries] == [long_name.encode(), b"l" * 120]
    assert entries[1].type == EntryType.SYM and entries[1].linkname == b"t" * 130
    assert data[long_name.encode()] == b"x"


def test_ustar_prefix_joins_name() -> None:
    name = "p" * 90 + "/" + "q" * 60
    raw = _tar([_file(name, b"data")], fmt=tarfile.USTAR_FORMAT)
    assert raw[345:346] == b"p"  # really stored through the prefix field
    entries, data, _ = _read_all(raw)
    assert entries[0].name == name.encode() and data[name.encode()] == b"data"


def test_gnu_base256_ids() -> None:
    raw = _tar([_file("big-ids", uid=3_000_000, gid=4_000_000)], fmt=tarfile.GNU_FORMAT)
    assert raw[108] & 0x80  # base-256 encoding really used
    entries, _, _ = _read_all(raw)
    assert (entries[0].uid, entries[0].gid) == (3_000_000, 4_000_000)


def test_pax_overrides_and_xattrs() -> None:
    info, data = _file("short", b"abc", mtime=1.5)
    info.pax_headers = {
        "path": "pax/overridden-name",
        "uid": "5000000",
        "SCHILY.xattr.user.k": "v",
        "LIBARCHIVE.xattr.user.b%20x": "AAEC",
    }
    entries, got, _ = _read_all(_tar([(info, data)]))
    e = entries[0]
    assert e.name == b"pax/overridden-name" and e.uid == 5_000_000
    assert e.mtime_ns == 1_500_000_000
    assert e.xattrs == {"user.k": b"v", "user.b x": b"\x00\x01\x02"}
    assert got[b"pax/overridden-name"] == b"abc"


def test_header_only_types_carry_no_data_and_devices_parse() -> None:
    dev = tarfile.TarInfo("dev/null")
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor = 1, 3
    d = tarfile.TarInfo("dir")
    d.type = tarfile.DIRTYPE
    entries, _, _ = _read_all(_tar([(dev, None), (d, None), _file("after", b"z")]))
    assert [(e.type, e.devmajor, e.devminor) for e in entries[:2]] == [(EntryType.CHR, 1, 3), (EntryType.DIR, 0, 0)]
    assert entries[2].name == b"after"


def test_diff_id_covers_trailing_padding() -> None:
    raw = _tar([_file("a", b"1")]) + bytes(512 * 7)
    _, _, reader = _read_all(raw)
    assert reader.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert reader.total_bytes == len(raw)


def test_unread_data_is_skipped() -> None:
    raw = _tar([_file("a", b"x" * 3000), _file("b", b"y")])
    names = [e.name for e in TarReader(io.BytesIO(raw), max_bytes=1 << 20, max_entries=10)]
    assert names == [b"a", b"b"]


def test_bad_checksum_refused() -> None:
    raw = bytearray(_tar([_file("a", b"1")]))
    raw[0] ^= 0x01
    with pytest.raises(MalformedLayer, match="checksum"):
        _read_all(bytes(raw))


def test_truncated_stream_refused() -> None:
    raw = _tar([_file("a", b"x" * 5000)])
    with pytest.raises(MalformedLayer, match="truncated"):
        _read_all(raw[:1024 + 600])


def test_oversized_pax_header_refused() -> None:
    info, data = _file("a")
    info.pax_headers = {"comment": "c" * (2 << 20)}
    with pytest.raises(LayerTooLarge, match="cap"):
        _read_all(_tar([(info, data)]))


def test_entry_and_byte_caps() -> None:
    raw = _tar([_file(f"f{i}") for i in range(5)])
    with pytest.raises(LayerTooLarge, match="entries"):
        _read_all(raw, max_entries=4)
    with pytest.raises(LayerTooLarge, match="size cap"):
        _read_all(raw, max_bytes=len(raw) - 1)
    entries, _, _ = _read_all(raw, max_entries=5, max_bytes=len(raw))
    assert len(entries) == 5


def test_sparse_and_unknown_types_refused() -> None:
    info, data = _file("sparse")
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}
    with pytest.raises(MalformedLayer, match="sparse"):
        _read_all(_tar([(info, data)]))
    odd = tarfile.TarInfo("odd")
    odd.type = b"Z"
    with pytest.raises(MalformedLayer, match="unsupported tar entry type"):
        _read_all(_tar([(odd, None)]))


def _patch_header(raw: bytes, offset: int, value: bytes) -> bytes:
    hdr = bytearray(raw[:512])
    hdr[offset : offset + len(value)] = value
    hdr[148:156] = b" " * 8
    hdr[148:156] = b"%06o\0 " % sum(hdr)
    return bytes(hdr) + raw[512:]


def test_negative_base256_and_reserved_uid_refused() -> None:
    raw = _tar([_file("a")], fmt=tarfile.GNU_FORMAT)
    with pytest.raises(MalformedLayer, match="base-256"):
        _read_all(_patch_header(raw, 108, b"\xff" * 8))
    with pytest.raises(MalformedLayer, match="out of range"):
        _read_all(_patch_header(raw, 108, b"\x80\x00\x00\x00\xff\xff\xff\xff"))


def test_malformed_pax_record_refused() -> None:
    info, data = _file("a")
    info.pax_headers = {"comment": "x"}
    raw = bytearray(_tar([(info, data)]))
    at = raw.find(b"comment=x")
    raw[at - 3 : at - 1] = b"99"  # the record now claims more bytes than exist
    with pytest.raises(MalformedLayer, match="pax record"):
        _read_all(bytes(raw))


def test_nul_in_pax_name_refused() -> None:
    info, data = _file("a")
    info.pax_headers = {"path": "a\0b"}
    with pytest.raises(MalformedLayer, match="NUL"):
        _read_all(_tar([(info, data)]))


def test_huge_mtime_clamped_to_int64_ns() -> None:
    info, data = _file("a")
    info.pax_headers = {"mtime": "1" + "0" * 30}
    entries, _, _ = _read_all(_tar([(info, data)]))
    assert entries[0].mtime_ns == (1 << 63) - 1


def test_global_pax_keeps_ids_but_never_names_or_sizes() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"path": "hijack", "size": "999", "uid": "4242", "comment": "git"}) as tf:
        for name in ("one", "two"):
            info, data = _file(name, b"12")
            tf.addfile(info, io.BytesIO(data))
    entries, data, _ = _read_all(buf.getvalue())
    assert [(e.name, e.uid, e.size) for e in entries] == [(b"one", 4242, 2), (b"two", 4242, 2)]
    assert data == {b"one": b"12", b"two": b"12"}
