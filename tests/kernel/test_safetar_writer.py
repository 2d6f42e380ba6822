"""The fd-relative tar writer: every kind of inode archived as it is on disk, readable by
GNU tar, Python's tarfile and barque's own reader, and back through apply_layer (root)."""

from __future__ import annotations

import io
import os
import stat
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest

from services.common.safetar.apply import OPAQUE_XATTR, apply_layer
from services.common.safetar.reader import EntryType, TarReader
from services.common.safetar.writer import TarWriter, WriteEntry, chunked, write_tree

pytestmark = [pytest.mark.root]

CAP_NET_BIND = struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)
T = 1_600_000_000


def _tree(root: Path) -> None:
    """A tree with every entry kind the writer knows, plus a socket it skips."""
    (root / "etc").mkdir()
    (root / "etc/conf").write_bytes(b"hello\n")
    os.chown(root / "etc/conf", 1000, 1001)
    os.chmod(root / "etc/conf", 0o640)
    (root / "bin").mkdir()
    (root / "bin/ping").write_bytes(b"\x7fELF" + bytes(3000))
    os.chmod(root / "bin/ping", 0o4755)
    os.setxattr(root / "bin/ping", "security.capability", CAP_NET_BIND)
    os.link(root / "bin/ping", root / "bin/ping6")
    os.symlink("/etc/conf", root / "etc/link")
    os.symlink("../../../..", root / "up")
    os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mkfifo(root / "fifo", 0o600)
    deep = root / ("d" * 90) / ("e" * 90) / ("f" * 90)
    deep.mkdir(parents=True)
    (deep / ("g" * 120)).write_bytes(b"deep")
    os.symlink("t" * 150, root / "longlink")
    import socket
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock"))
    sock.close()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            os.utime(os.path.join(dirpath, n), ns=(T * 10**9, T * 10**9), follow_symlinks=False)


def _archive(root: Path, **kw: object) -> bytes:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        out = io.BytesIO()
        write_tree(fd, out, **kw)  # type: ignore[arg-type]
        return out.getvalue()
    finally:
        os.close(fd)


def test_archive_lists_every_kind_sorted_and_gnu_tar_agrees(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _tree(src)
    raw = _archive(src)
    assert len(raw) % 512 == 0 and raw.endswith(bytes(1024))
    listed = subprocess.run(["tar", "-tf", "-"], input=raw, capture_output=True, check=True).stdout.decode()
    names = listed.splitlines()
    deep = "d" * 90 + "/" + "e" * 90 + "/" + "f" * 90 + "/" + "g" * 120
    assert deep in names and "sock" not in names
    assert names == sorted(names, key=lambda n: n.rstrip("/").split("/"))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        members = {m.name: m for m in tf.getmembers()}
    assert members["etc/conf"].uid == 1000 and members["etc/conf"].mode == 0o640
    assert members["bin/ping"].mode == 0o4755 and members["bin/ping"].isfile()
    assert members["bin/ping6"].islnk() and members["bin/ping6"].linkname == "bin/ping"
    assert members["bin/ping"].pax_headers["SCHILY.xattr.security.capability"].encode(
        "utf-8", "surrogateescape") == CAP_NET_BIND
    assert members["etc/link"].issym() and members["etc/link"].linkname == "/etc/conf"
    assert members["longlink"].linkname == "t" * 150
    assert members["null"].ischr() and (members["null"].devmajor, members["null"].devminor) == (1, 3)
    assert members["fifo"].isfifo() and members["etc"].isdir()
    assert all(m.mtime == T for m in members.values())
    assert all(not m.uname and not m.gname for m in members.values())


def test_round_trip_through_apply_layer(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _tree(src)
    raw = _archive(src)
    dst = tmp_path / "dst"
    dst.mkdir()
    apply_layer(io.BytesIO(raw), dst)
    ping = os.stat(dst / "bin/ping")
    assert stat.S_IMODE(ping.st_mode) == 0o4755 and ping.st_nlink == 2
    assert os.stat(dst / "bin/ping6").st_ino == ping.st_ino
    assert os.getxattr(dst / "bin/ping", "security.capability") == CAP_NET_BIND
    assert (dst / "etc/conf").read_bytes() == b"hello\n"
    assert os.stat(dst / "etc/conf").st_uid == 1000
    assert os.readlink(dst / "up") == "../../../.."
    assert stat.S_ISFIFO(os.stat(dst / "fifo").st_mode)
    # the same tree written twice gives the same bytes; so does the applied copy
    assert _archive(src) == raw
    assert _archive(dst) == raw


def test_symlinked_dirs_are_archived_as_links_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"host secret")
    src = tmp_path / "src"
    src.mkdir()
    os.symlink(str(outside), src / "escape")
    os.symlink("/", src / "rootlink")
    raw = _archive(src)
    assert b"host secret" not in raw
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        assert sorted(tf.getnames()) == ["escape", "rootlink"]


def test_named_top_and_single_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "dir/sub").mkdir(parents=True)
    (src / "dir/sub/f").write_bytes(b"x" * 70000)
    fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    try:
        writer = TarWriter()
        raw = b"".join(chunked([*writer.tree(fd, b"renamed", leaf=b"dir"), writer.end()]))
        single = TarWriter()
        raw_file = b"".join([*single.tree(fd, b"f2", leaf=b"dir"), single.end()])
    finally:
        os.close(fd)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        assert tf.getnames() == ["renamed", "renamed/sub", "renamed/sub/f"]
        assert tf.extractfile("renamed/sub/f").read() == b"x" * 70000  # type: ignore[union-attr]
    assert writer.stats.entries == 3 and writer.stats.bytes == 70000
    with tarfile.open(fileobj=io.BytesIO(raw_file)) as tf:
        assert tf.getnames()[0] == "f2"


def test_hook_rewrites_whiteouts_adds_opaque_markers_and_drops_trusted(tmp_path: Path) -> None:
    """What commit does with an overlay upper dir."""
    upper = tmp_path / "upper"
    (upper / "opq").mkdir(parents=True)
    (upper / "opq/new").write_bytes(b"n")
    os.setxattr(upper / "opq", OPAQUE_XATTR, b"y")
    os.setxattr(upper / "opq", "trusted.overlay.origin", b"zz")
    os.mknod(upper / "gone", stat.S_IFCHR, os.makedev(0, 0))
    (upper / "skipme").mkdir()
    (upper / "skipme/inner").write_bytes(b"i")
    seen_trusted: list[str] = []

    def hook(e: WriteEntry) -> WriteEntry | list[WriteEntry] | None:
        seen_trusted.extend(k for k in e.xattrs if k.startswith("trusted."))
        if e.name == b"skipme":
            return None
        if e.type == EntryType.CHR and (e.devmajor, e.devminor) == (0, 0):
            head, _, leaf = e.name.rpartition(b"/")
            e.name = (head + b"/" if head else b"") + b".wh." + leaf
            e.type = EntryType.REG
            return e
        if e.type == EntryType.DIR and e.xattrs.get(OPAQUE_XATTR) == b"y":
            return [e, WriteEntry(name=e.name + b"/.wh..wh..opq", type=EntryType.REG, mtime_ns=e.mtime_ns)]
        return e

    raw = _archive(upper, hook=hook, mtime_clamp_ns=T * 10**9)
    assert OPAQUE_XATTR in seen_trusted
    reader = TarReader(io.BytesIO(raw), max_bytes=1 << 30, max_entries=100)
    got = [(e.name, e.type, e.size, sorted(e.xattrs)) for e in reader]
    assert got == [
        (b".wh.gone", EntryType.REG, 0, []),
        (b"opq/", EntryType.DIR, 0, []),
        (b"opq/.wh..wh..opq", EntryType.REG, 0, []),
        (b"opq/new", EntryType.REG, 1, []),
    ]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        assert all(m.mtime <= T for m in tf.getmembers())
    lower = tmp_path / "applied"
    lower.mkdir()
    apply_layer(io.BytesIO(raw), lower)
    assert os.getxattr(lower / "opq", OPAQUE_XATTR) == b"y"
    assert stat.S_ISCHR(os.stat(lower / "gone", follow_symlinks=False).st_mode)


def test_large_ids_and_deep_tree(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(b"b")
    os.chown(src / "big", 3_000_000, 3_000_001)
    deep = src
    for _ in range(1200):  # deeper than Python's recursion limit
        deep = deep / "d"
        os.mkdir(deep)
    try:
        raw = _archive(src)
    finally:
        # shutil.rmtree (pytest's tmp cleanup) recurses per level: take the chain down here
        while deep != src:
            os.rmdir(deep)
            deep = deep.parent
    reader = TarReader(io.BytesIO(raw), max_bytes=1 << 30, max_entries=10_000)
    entries = {e.name: e for e in reader}
    assert (entries[b"big"].uid, entries[b"big"].gid) == (3_000_000, 3_000_001)
    assert len(entries) == 1201


def test_depth_cap_refuses_a_tree_deeper_than_asked(tmp_path: Path) -> None:
    src = tmp_path / "src"
    deep = src
    for _ in range(6):
        deep = deep / "d"
    deep.mkdir(parents=True)
    fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    try:
        writer = TarWriter(max_depth=4)
        with pytest.raises(OSError, match="deeper than 4 levels"):
            b"".join(writer.tree(fd))
        assert b"".join(TarWriter(max_depth=7).tree(fd))
    finally:
        os.close(fd)


def test_chunked_joins_small_pieces_and_passes_big_ones_uncopied() -> None:
    big = os.urandom(1000)
    pieces = [b"h" * 10, b"i" * 20, big, b"p" * 5, os.urandom(2500), b"", b"e" * 7]
    out = list(chunked(pieces, 1000))
    assert b"".join(out) == b"".join(pieces)
    assert all(0 < len(c) <= 1000 for c in out)
    assert out[0] == b"h" * 10 + b"i" * 20  # small pieces joined, flushed before the big one
    assert out[1] is big  # a piece of a whole chunk goes on as it is, not copied
    assert [len(c) for c in out[2:]] == [5, 1000, 1000, 500 + 7]


def test_a_big_file_streams_in_chunks_of_at_most_the_size(tmp_path: Path) -> None:
    data = os.urandom((3 << 20) + 123)
    (tmp_path / "big").write_bytes(data)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        writer = TarWriter()
        out = list(chunked([*writer.tree(fd, b"big", leaf=b"big"), writer.end()], 1 << 20))
    finally:
        os.close(fd)
    assert all(0 < len(c) <= 1 << 20 for c in out) and len(out) <= 6
    with tarfile.open(fileobj=io.BytesIO(b"".join(out))) as tf:
        member = tf.extractfile("big")
        assert member is not None and member.read() == data
