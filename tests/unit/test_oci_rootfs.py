"""Mount option parsing, mount flags as mount attributes, and the
rootfs-confined path walk (no mounts made)."""

from __future__ import annotations

import os

import pytest

from client.errors import InvalidArgument
from services.runtime.oci import mountapi as ma
from services.runtime.oci import rootfs
from services.runtime.oci import syscalls as sc


def test_parse_options():
    flags, prop, data = rootfs.parse_options(
        ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"])
    assert flags == sc.MS_NOSUID | sc.MS_NOEXEC
    assert prop == []
    assert data == "newinstance,ptmxmode=0666,mode=0620,gid=5"
    flags, prop, data = rootfs.parse_options(["rbind", "ro", "rprivate", "rw", "suid"])
    assert flags == sc.MS_BIND | sc.MS_REC
    assert prop == [sc.MS_PRIVATE | sc.MS_REC]
    assert data == ""
    with pytest.raises(InvalidArgument):
        rootfs.parse_options(["tmpcopyup"])


def _resolved(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("host")
    os.symlink("/etc", r / "abs-link")
    os.symlink("../../../outside", r / "rel-escape")
    os.symlink("/proc-target", r / "proc")
    return r


def test_symlinks_resolve_inside_root(root):
    assert _resolved(rootfs.open_in_root(str(root), "/abs-link/passwd")) == str(root / "etc/passwd")
    assert _resolved(rootfs.open_in_root(str(root), "/../../etc")) == str(root / "etc")
    # a relative link climbing out is clamped at the rootfs
    fd = rootfs.open_in_root(str(root), "/rel-escape", create="dir")
    assert _resolved(fd) == str(root / "outside")
    assert not (root.parent / "outside" / "x").exists()


def test_create_makes_missing_components_inside_root(root):
    fd = rootfs.open_in_root(str(root), "/abs-link/new/dir", create="dir")
    assert _resolved(fd) == str(root / "etc/new/dir")
    fd = rootfs.open_in_root(str(root), "/dev/console", create="file")
    assert _resolved(fd) == str(root / "dev/console")
    assert (root / "dev" / "console").is_file()


def test_missing_without_create_and_file_component(root):
    with pytest.raises(FileNotFoundError):
        rootfs.open_in_root(str(root), "/nope")
    with pytest.raises(rootfs.RootfsError, match="not a directory"):
        rootfs.open_in_root(str(root), "/etc/passwd/x", create="dir")


def test_symlinked_proc_is_refused(root):
    with pytest.raises(rootfs.RootfsError, match="must be mounted on ordinary directory"):
        rootfs.open_in_root(str(root), "/proc", create="dir", refuse_symlink=True)
    assert not (root / "proc-target").exists()


def test_symlink_loop(root):
    os.symlink("loop", root / "loop")
    with pytest.raises(rootfs.RootfsError, match="too many levels"):
        rootfs.open_in_root(str(root), "/loop")


def test_mount_attributes_from_mount_flags():
    """MS_* flags become mount_setattr attributes; the atime mode changes only
    when one is asked for, strictatime over noatime over relatime."""
    assert ma.attr_from_ms(sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
                           | sc.MS_BIND | sc.MS_REC) == (
        ma.MOUNT_ATTR_RDONLY | ma.MOUNT_ATTR_NOSUID | ma.MOUNT_ATTR_NODEV
        | ma.MOUNT_ATTR_NOEXEC, 0)
    assert ma.attr_from_ms(sc.MS_NODIRATIME | sc.MS_NOSYMFOLLOW | sc.MS_SYNCHRONOUS) == (
        ma.MOUNT_ATTR_NODIRATIME | ma.MOUNT_ATTR_NOSYMFOLLOW, 0)
    assert ma.attr_from_ms(sc.MS_RELATIME) == (ma.MOUNT_ATTR_RELATIME, ma.MOUNT_ATTR__ATIME)
    assert ma.attr_from_ms(sc.MS_NOATIME | sc.MS_RELATIME) == (
        ma.MOUNT_ATTR_NOATIME, ma.MOUNT_ATTR__ATIME)
    assert ma.attr_from_ms(sc.MS_STRICTATIME | sc.MS_NOATIME) == (
        ma.MOUNT_ATTR_STRICTATIME, ma.MOUNT_ATTR__ATIME)
    assert ma.attr_from_ms(0) == (0, 0)
