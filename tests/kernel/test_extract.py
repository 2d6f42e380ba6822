"""Layer application round-trips: every entry kind and attribute lands as the tar says (root)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import tarfile
from pathlib import Path

import pytest

from services.common.safetar import beneath as fdpath
from services.common.safetar.apply import OPAQUE_XATTR, ApplyStats, apply_layer
from tests.support.layers import (
    MTIME,
    build_tar,
    chardev_entry,
    dir_entry,
    fifo_entry,
    file_entry,
    hardlink_entry,
    symlink_entry,
)

pytestmark = [
    pytest.mark.root,
]

# vfs_cap_data v2 granting cap_net_bind_service (bit 10) permitted+effective
CAP_NET_BIND = struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test with the kernel's openat2 and with the component-by-component fallback."""
    if request.param == "walk":
        monkeypatch.setattr(fdpath._openat2(), "usable", False)
    else:
        assert fdpath.openat2_available()
    return request.param


def _apply(tmp_path: Path, raw: bytes) -> tuple[Path, ApplyStats]:
    root = tmp_path / "root"
    root.mkdir()
    return root, apply_layer(io.BytesIO(raw), root)


def test_regular_dir_symlink_and_times(tmp_path: Path, resolver: str) -> None:
    raw = build_tar([
        dir_entry("etc/", mode=0o750, uid=0, gid=42),
        file_entry("etc/conf", b"hello\n", mode=0o640, uid=1000, gid=1001),
        symlink_entry("etc/link", "/etc/conf", uid=7, gid=8),
        file_entry("etc/empty", b""),
    ])
    root, stats = _apply(tmp_path, raw)
    conf = root / "etc/conf"
    assert conf.read_bytes() == b"hello\n"
    st = conf.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o640, 1000, 1001, MTIME)
    d = (root / "etc").stat()
    # the dir's time is set after its children were created inside it
    assert (stat.S_IMODE(d.st_mode), d.st_gid, d.st_mtime) == (0o750, 42, MTIME)
    link = root / "etc/link"
    assert os.readlink(link) == "/etc/conf"  # stored verbatim, never resolved
    lst = link.lstat()
    assert (lst.st_uid, lst.st_gid, lst.st_mtime) == (7, 8, MTIME)
    assert (root / "etc/empty").read_bytes() == b""
    assert stats.files == 4 and stats.bytes == 6
    assert stats.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert stats.stream_bytes == len(raw)


def test_special_modes_survive_chown(tmp_path: Path, resolver: str) -> None:
    raw = build_tar([
        file_entry("setuid", b"x", mode=0o4755, uid=1000, gid=1000),
        file_entry("setgid", b"x", mode=0o2711, uid=1000, gid=2000),
        dir_entry("sticky/", mode=0o1777, uid=5, gid=5),
    ])
    root, _ = _apply(tmp_path, raw)
    assert stat.S_IMODE((root / "setuid").stat().st_mode) == 0o4755
    assert stat.S_IMODE((root / "setgid").stat().st_mode) == 0o2711
    assert stat.S_IMODE((root / "sticky").stat().st_mode) == 0o1777


def test_xattrs_including_capability_after_chown(tmp_path: Path, resolver: str) -> None:
    info, data = file_entry("bin/ping", b"\x7fELF", mode=0o755, uid=1000, gid=1000,
                            xattrs={"user.note": "barque"})
    # every byte of this cap struct is ASCII, so tarfile's UTF-8 PAX encoding keeps it exact
    info.pax_headers["SCHILY.xattr.security.capability"] = CAP_NET_BIND.decode("ascii")
    raw = build_tar([dir_entry("bin/"), (info, data)])
    root, _ = _apply(tmp_path, raw)
    assert os.getxattr(root / "bin/ping", "user.note") == b"barque"
    # chown and the data write both drop security.capability: it must be set after them
    assert os.getxattr(root / "bin/ping", "security.capability") == CAP_NET_BIND
    assert (root / "bin/ping").stat().st_uid == 1000


def test_hardlinks_share_the_inode(tmp_path: Path, resolver: str) -> None:
    raw = build_tar([
        dir_entry("a/"),
        file_entry("a/file", b"shared", mode=0o600),
        hardlink_entry("b/link", "a/file"),
        hardlink_entry("/abs-link", "/a/file"),  # absolute names are root-relative
        symlink_entry("sym", "a/file"),
        hardlink_entry("sym-link", "sym"),
    ])
    root, _ = _apply(tmp_path, raw)
    ino = (root / "a/file").stat().st_ino
    assert (root / "b/link").stat().st_ino == ino and (root / "abs-link").stat().st_ino == ino
    assert (root / "a/file").stat().st_nlink == 3
    # a hardlink to a symlink links the symlink itself
    assert (root / "sym-link").is_symlink() and os.readlink(root / "sym-link") == "a/file"
    assert (root / "sym-link").lstat().st_ino == (root / "sym").lstat().st_ino


def test_devices_and_fifo(tmp_path: Path, resolver: str) -> None:
    blk = chardev_entry("dev/loop9", 7, 9, mode=0o660)
    blk[0].type = tarfile.BLKTYPE
    raw = build_tar([chardev_entry("dev/null", 1, 3), blk, fifo_entry("dev/fifo", mode=0o620)])
    root, _ = _apply(tmp_path, raw)
    null = (root / "dev/null").lstat()
    assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3
    assert stat.S_IMODE(null.st_mode) == 0o666 and null.st_mtime == MTIME
    loop = (root / "dev/loop9").lstat()
    assert stat.S_ISBLK(loop.st_mode) and (os.major(loop.st_rdev), os.minor(loop.st_rdev)) == (7, 9)
    fifo = (root / "dev/fifo").lstat()
    assert stat.S_ISFIFO(fifo.st_mode) and stat.S_IMODE(fifo.st_mode) == 0o620


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_long_names_and_link_targets(tmp_path: Path, fmt: int) -> None:
    deep = "/".join(["d" * 120] * 3) + "/file"
    target = "/" + "t" * 200
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        info = tarfile.TarInfo(deep)
        info.size = 2
        tf.addfile(info, io.BytesIO(b"ok"))
        sym = tarfile.TarInfo("s" * 150)
        sym.type = tarfile.SYMTYPE
        sym.linkname = target
        tf.addfile(sym)
        hard = tarfile.TarInfo("h" * 150)
        hard.type = tarfile.LNKTYPE
        hard.linkname = deep
        tf.addfile(hard)
    root, _ = _apply(tmp_path, buf.getvalue())
    assert (root / deep).read_bytes() == b"ok"
    assert os.readlink(root / ("s" * 150)) == target
    assert (root / ("h" * 150)).stat().st_ino == (root / deep).stat().st_ino


def test_whiteouts_become_overlay_form(tmp_path: Path, resolver: str) -> None:
    raw = build_tar([
        dir_entry("data/"),
        file_entry("data/.wh.gone", b""),
        dir_entry("data/opaque/"),
        file_entry("data/opaque/new", b"new"),
        file_entry("data/opaque/.wh..wh..opq", b""),
        file_entry("implicit/.wh..wh..opq", b""),
    ])
    root, _ = _apply(tmp_path, raw)
    gone = (root / "data/gone").lstat()
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(root / "data/opaque", OPAQUE_XATTR) == b"y"
    assert os.getxattr(root / "implicit", OPAQUE_XATTR) == b"y"
    assert (root / "data/opaque/new").read_bytes() == b"new"
    names = [n for _, dirs, files in os.walk(root) for n in dirs + files]
    assert not [n for n in names if n.startswith(".wh.")]
    with pytest.raises(OSError):
        os.getxattr(root / "data", OPAQUE_XATTR)


def test_later_entries_replace_earlier(tmp_path: Path, resolver: str) -> None:
    raw = build_tar([
        file_entry("f", b"first"),
        file_entry("f", b"second", mode=0o600),
        file_entry("file-then-dir", b"x"),
        dir_entry("file-then-dir/"),
        file_entry("file-then-dir/child", b"c"),
        dir_entry("dir-then-file/"),
        file_entry("dir-then-file/child", b"c"),
        file_entry("dir-then-file", b"now a file"),
        symlink_entry("sym-then-dir", "/tmp"),
        dir_entry("sym-then-dir/", mode=0o700),
        dir_entry("merge/", mode=0o755),
        file_entry("merge/kept", b"k"),
        dir_entry("merge/", mode=0o711, uid=3),
        file_entry("file-then-sym", b"y"),
        symlink_entry("file-then-sym", "elsewhere"),
        symlink_entry("sym-then-file", "/etc/passwd"),
        file_entry("sym-then-file", b"replaces the link, not its target"),
    ])
    passwd = Path("/etc/passwd").read_bytes()
    root, _ = _apply(tmp_path, raw)
    assert (root / "f").read_bytes() == b"second" and stat.S_IMODE((root / "f").stat().st_mode) == 0o600
    assert (root / "file-then-dir/child").read_bytes() == b"c"
    assert (root / "dir-then-file").read_bytes() == b"now a file"
    assert (root / "sym-then-dir").is_dir() and not (root / "sym-then-dir").is_symlink()
    merged = (root / "merge").stat()
    assert (root / "merge/kept").exists() and stat.S_IMODE(merged.st_mode) == 0o711 and merged.st_uid == 3
    assert os.readlink(root / "file-then-sym") == "elsewhere"
    assert not (root / "sym-then-file").is_symlink()
    assert (root / "sym-then-file").read_bytes() == b"replaces the link, not its target"
    assert Path("/etc/passwd").read_bytes() == passwd


def test_missing_parents_are_created(tmp_path: Path, resolver: str) -> None:
    root, _ = _apply(tmp_path, build_tar([file_entry("x/y/z", b"deep")]))
    assert (root / "x/y/z").read_bytes() == b"deep"
    assert stat.S_IMODE((root / "x/y").stat().st_mode) == 0o755


def test_root_entry_is_skipped_and_dot_names_normalised(tmp_path: Path, resolver: str) -> None:
    raw = build_tar([dir_entry("./", mode=0o700, uid=9), dir_entry("./a/"), file_entry("./a/./b", b"b")])
    root = tmp_path / "root"
    root.mkdir(mode=0o755)
    before = root.stat()
    stats = apply_layer(io.BytesIO(raw), root)
    after = root.stat()
    # the root's metadata belongs to the snapshotter, not to the layer
    assert (stat.S_IMODE(after.st_mode), after.st_uid) == (stat.S_IMODE(before.st_mode), before.st_uid)
    assert (root / "a/b").read_bytes() == b"b"
    assert stats.files == 2
