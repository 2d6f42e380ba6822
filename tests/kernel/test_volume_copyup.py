"""Copy-up (services.runtime.volumes.copyup) over real trees as root: what a
plain rootfs directory holds arrives with owners, modes, times, xattrs,
hard and symbolic links, device nodes and FIFOs; symlinks in the image, on
the way to the mount point or inside it, never make the copy read or write
outside the rootfs and the volume; a volume that is not empty is left alone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from services.runtime.volumes.copyup import copy_up

pytestmark = [pytest.mark.root]


def _tree(base: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            body = p.read_bytes() if stat.S_ISREG(st.st_mode) else (
                os.readlink(p) if stat.S_ISLNK(st.st_mode) else None)
            out[str(p.relative_to(base))] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, body)
    return out


@pytest.fixture
def layout(tmp_path: Path):
    rootfs, data, outside = tmp_path / "rootfs", tmp_path / "data", tmp_path / "outside"
    for d in (rootfs, data, outside):
        d.mkdir()
    (outside / "host-secret").write_text("host only\n")
    return rootfs, data, outside


def test_everything_is_kept(layout):
    rootfs, data, _ = layout
    src = rootfs / "srv" / "app"
    (src / "sub").mkdir(parents=True)
    (src / "file").write_bytes(b"payload")
    os.chown(src / "file", 1000, 2000)
    os.chmod(src / "file", 0o4750)
    os.setxattr(src / "file", "user.note", b"\x00\xffbinary")
    os.link(src / "file", src / "hard")
    os.symlink("/etc/shadow", src / "abs")
    os.symlink("../../etc", src / "rel")
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mkfifo(src / "fifo", 0o620)
    os.chown(src / "sub", 5, 6)
    os.chmod(src / "sub", 0o710)
    os.utime(src / "file", ns=(1_000_000_000, 1_234_567_890_123_456_789))
    os.chown(src, 42, 43)
    os.chmod(src, 0o751)
    assert copy_up(rootfs, "/srv/app", data)
    assert _tree(data) == _tree(src)
    assert (data / "hard").stat().st_ino == (data / "file").stat().st_ino
    assert os.getxattr(data / "file", "user.note") == b"\x00\xffbinary"
    top = data.stat()
    assert (top.st_uid, top.st_gid, stat.S_IMODE(top.st_mode)) == (42, 43, 0o751)


def test_a_symlinked_mount_point_resolves_inside_the_rootfs(layout):
    rootfs, data, outside = layout
    (rootfs / "inside").mkdir()
    (rootfs / "inside" / "mine").write_text("image\n")
    os.symlink(str(outside), rootfs / "abs")                              # /abs -> the host's dir, by name
    os.symlink("../" * 12 + str(outside).lstrip("/"), rootfs / "dotdot")  # climbs past the rootfs
    os.symlink("/inside", rootfs / "ok")
    before = _tree(outside)
    assert not copy_up(rootfs, "/abs", data)       # resolved in the rootfs: absent there, nothing copied
    assert not copy_up(rootfs, "/dotdot", data)
    assert os.listdir(data) == []
    assert copy_up(rootfs, "/ok", data)            # a symlink within the rootfs is followed, as Docker's
    assert os.listdir(data) == ["mine"]
    assert _tree(outside) == before


def test_links_in_the_content_are_copied_as_links_never_followed(layout):
    rootfs, data, outside = layout
    src = rootfs / "data"
    src.mkdir()
    os.symlink(str(outside), src / "out")
    os.symlink(str(outside / "host-secret"), src / "secret")
    before = _tree(outside)
    assert copy_up(rootfs, "/data", data)
    assert sorted(os.listdir(data)) == ["out", "secret"]
    assert os.readlink(data / "out") == str(outside)
    assert not (data / "out").is_dir() or (data / "out").is_symlink()
    assert _tree(outside) == before


def test_a_volume_with_content_is_left_alone(layout):
    rootfs, data, _ = layout
    (rootfs / "data").mkdir()
    (rootfs / "data" / "image-file").write_text("x")
    (data / "kept").write_text("user data")
    assert not copy_up(rootfs, "/data", data)
    assert os.listdir(data) == ["kept"]


def test_a_file_at_the_mount_point_is_not_copied(layout):
    rootfs, data, _ = layout
    (rootfs / "file").write_text("x")
    assert not copy_up(rootfs, "/file", data)
    assert os.listdir(data) == []
