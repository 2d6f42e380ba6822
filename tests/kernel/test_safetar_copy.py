"""cp's fd-relative pieces on a real filesystem (root): in-root resolution
(symlinks to /, /etc and ../.. land inside the root; binds of a stopped
container), the plain-tar extractor (owner, -a, rename, dir/non-dir clash,
.wh. names kept, hostile names refused) and the CLI's local extractor."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from cli.localtar import LocalCopyError, archive_local, extract_local
from services.common.safetar.errors import UnsafeLayer
from services.common.safetar.extract import CopyConflict, ExtractOptions, extract_tar
from services.common.safetar.inroot import resolve_in_root

pytestmark = [pytest.mark.root]


def _tar(*members: tuple[str, bytes, str]) -> bytes:
    """(name, kind, data-or-linkname) members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid = kind, 0o640, 1234, 5678
            if kind == tarfile.REGTYPE:
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload.encode()))
            else:
                info.linkname = payload
                tf.addfile(info)
    return buf.getvalue()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc/passwd").write_text("container\n")
    os.symlink("/", r / "escape")
    os.symlink("/etc", r / "etc2")
    os.symlink("../../../../", r / "up")
    os.symlink("/nowhere/x", r / "dangling")
    return r


def _fd(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY)


def test_resolution_stays_in_the_root(root: Path) -> None:
    fd = _fd(root)
    try:
        for path in ("/escape/etc/passwd", "up/up/etc2/passwd", "/etc2/../etc/passwd", "/../../etc/passwd"):
            with resolve_in_root(fd, path, follow_last=False) as where:
                assert where.path == "/etc/passwd"
                assert os.stat(root / "etc/passwd").st_ino == where.st.st_ino
        with resolve_in_root(fd, "/etc2", follow_last=False) as where:
            assert stat.S_ISLNK(where.st.st_mode) and where.leaf == "etc2"
        with resolve_in_root(fd, "/etc2/", follow_last=False) as where:
            assert where.path == "/etc" and stat.S_ISDIR(where.st.st_mode)
        with resolve_in_root(fd, "/", follow_last=True) as where:
            assert where.path == "/" and where.parent_fd == -1
        with pytest.raises(FileNotFoundError):
            resolve_in_root(fd, "/dangling", follow_last=True)
        with pytest.raises(NotADirectoryError):
            resolve_in_root(fd, "/etc/passwd/x", follow_last=False)
    finally:
        os.close(fd)


def test_binds_redirect_a_stopped_containers_mount(root: Path, tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "in-volume").write_text("v")
    (root / "data").mkdir()
    fd = _fd(root)
    try:
        with resolve_in_root(fd, "/etc2/../data/in-volume", follow_last=True, binds={"/data": str(volume)}) as w:
            assert w.path == "/data/in-volume" and w.st.st_ino == os.stat(volume / "in-volume").st_ino
    finally:
        os.close(fd)


def test_extract_owner_rename_and_whiteout_names(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    raw = _tar(("src/", tarfile.DIRTYPE, ""), ("src/.wh.kept", tarfile.REGTYPE, "plain"),
               ("src/f", tarfile.REGTYPE, "data"), ("src/hl", tarfile.LNKTYPE, "src/f"))
    fd = _fd(dest)
    try:
        extract_tar(io.BytesIO(raw), fd, ExtractOptions(rename=(b"src", b"renamed")))
        extract_tar(io.BytesIO(raw), fd, ExtractOptions(owner=None))
    finally:
        os.close(fd)
    st = os.stat(dest / "renamed/f")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o640)
    assert (dest / "renamed/.wh.kept").read_text() == "plain"  # not a whiteout in a copy
    assert os.stat(dest / "renamed/hl").st_ino == st.st_ino
    assert (os.stat(dest / "src/f").st_uid, os.stat(dest / "src/f").st_gid) == (1234, 5678)


def test_extract_refuses_clashes_and_hostile_names(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "adir").mkdir(parents=True)
    (dest / "afile").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, dest / "planted")
    fd = _fd(dest)
    strict = ExtractOptions(no_overwrite_dir_non_dir=True)
    try:
        with pytest.raises(CopyConflict, match="cannot overwrite directory"):
            extract_tar(io.BytesIO(_tar(("adir", tarfile.REGTYPE, "y"))), fd, strict)
        with pytest.raises(CopyConflict, match="cannot overwrite non-directory"):
            extract_tar(io.BytesIO(_tar(("afile/", tarfile.DIRTYPE, ""))), fd, strict)
        for raw in (_tar(("../x", tarfile.REGTYPE, "x")),
                    _tar(("planted/x", tarfile.REGTYPE, "x")),
                    _tar(("l", tarfile.SYMTYPE, str(outside)), ("l/x", tarfile.REGTYPE, "x")),
                    _tar(("h", tarfile.LNKTYPE, "../outside/y"))):
            with pytest.raises(UnsafeLayer):
                extract_tar(io.BytesIO(raw), fd, strict)
    finally:
        os.close(fd)
    assert list(outside.iterdir()) == []
    assert (dest / "afile").read_text() == "x" and (dest / "adir").is_dir()


def test_local_archive_and_extract_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d/f").write_text("local\n")
    os.link(src / "d/f", src / "d/g")
    os.symlink("/etc/passwd", src / "d/link")
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, src / "escape")
    raw = b"".join(archive_local(str(src), None, "copy"))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        names = tf.getnames()
        assert tf.getmember("copy/d/g").islnk() and tf.getmember("copy/escape").issym()
    assert names == ["copy", "copy/d", "copy/d/f", "copy/d/g", "copy/d/link", "copy/escape"]
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_local(io.BytesIO(raw), str(dest), ("copy", "renamed"))
    assert (dest / "renamed/d/f").read_text() == "local\n"
    assert os.stat(dest / "renamed/d/g").st_ino == os.stat(dest / "renamed/d/f").st_ino
    assert os.readlink(dest / "renamed/escape") == str(outside)
    # the extracted symlink is never written through
    hostile = io.BytesIO()
    with tarfile.open(fileobj=hostile, mode="w") as tf:
        info = tarfile.TarInfo("renamed/escape/pwned")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(LocalCopyError, match="symlink"):
        extract_local(io.BytesIO(hostile.getvalue()), str(dest))
    with pytest.raises(LocalCopyError, match="'..'"):
        extract_local(io.BytesIO(_tar(("../x", tarfile.REGTYPE, "x"))), str(dest))
    assert list(outside.iterdir()) == []


def test_a_bound_file_is_reached_by_its_host_path(root: Path, tmp_path: Path) -> None:
    """A stopped container's file bind: the handles a copy archives through name the host file."""
    host_file = tmp_path / "host.conf"
    host_file.write_text("from the host\n")
    (root / "etc/app.conf").write_text("rootfs stub\n")
    fd = _fd(root)
    try:
        with resolve_in_root(fd, "/etc2/app.conf", follow_last=False,
                             binds={"/etc/app.conf": str(host_file)}) as where:
            assert where.path == "/etc/app.conf" and where.leaf == "host.conf"
            st = os.stat(where.leaf, dir_fd=where.parent_fd, follow_symlinks=False)
            assert st.st_ino == where.st.st_ino == os.stat(host_file).st_ino
    finally:
        os.close(fd)


class _Dribble(io.RawIOBase):
    """Reads of ``sizes`` bytes in turn, whatever is asked (a gRPC stream's messages)."""

    def __init__(self, raw: bytes, sizes: list[int]) -> None:
        self._raw, self._sizes, self._i = raw, sizes, 0

    def read(self, _n: int = -1) -> bytes:
        size = self._sizes[self._i % len(self._sizes)]
        self._i += 1
        out, self._raw = self._raw[:size], self._raw[size:]
        return out


@pytest.mark.parametrize("sizes", [[1], [511, 513, 7], [1 << 20], [3 << 20]])
def test_local_extract_of_any_read_sizes(tmp_path: Path, sizes: list[int]) -> None:
    """Data goes from the stream's reads straight to the files, whatever the reads' sizes."""
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    big = os.urandom((2 << 20) + 777)
    (src / "d/big").write_bytes(big)
    (src / "d/empty").write_bytes(b"")
    (src / "d" / ("n" * 150)).write_bytes(b"long name\n")  # a PAX path record
    raw = b"".join(archive_local(str(src), None, "copy"))
    dest = tmp_path / f"dest{len(sizes)}"
    dest.mkdir()
    extract_local(_Dribble(raw, sizes if sizes != [1] else [1] * 64 + [1 << 16]), str(dest))
    assert (dest / "copy/d/big").read_bytes() == big
    assert (dest / "copy/d/empty").read_bytes() == b""
    assert (dest / "copy/d" / ("n" * 150)).read_text() == "long name\n"


def test_local_extract_of_a_truncated_archive_fails(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(os.urandom(5000))
    raw = b"".join(archive_local(str(tmp_path), "f", "f"))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(LocalCopyError, match="unexpected end of data"):
        extract_local(io.BytesIO(raw[:3000]), str(dest))
