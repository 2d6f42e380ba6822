"""Docker's copy-up: a new, empty volume starts as a copy of what the image
holds at its mount point, with owners, modes, times, xattrs, symlinks,
hardlinks and device nodes kept.

The image is hostile input and this runs as root, so neither side is ever
walked by path:

* the source directory is found as barque-oci finds the mount target
  (:func:`services.runtime.oci.rootfs.open_in_root`: one component at a
  time, symlinks followed as if the rootfs were ``/``, never out of it);
  below it every entry is opened relative to its parent's fd with
  ``O_NOFOLLOW``: a symlink is read as a link, never followed, and only a
  regular file is opened for reading (checked to be the inode lstat saw);
* the copy is written by the one vetted writer of untrusted trees,
  :func:`services.common.safetar.apply.apply_layer`, fed a tar stream of the
  walk: it writes fd-relative beneath the volume's data directory and
  refuses to write through a symlink, so nothing lands outside it.
"""

from __future__ import annotations

import base64
import os
import stat
import tarfile
import threading
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from services.common.log import get_logger
from services.common.safetar.apply import apply_layer
from services.runtime.oci.rootfs import open_in_root

__all__ = ["copy_up", "is_empty"]

log = get_logger(__name__)

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
#: the xattrs a copy keeps (the applier's own rule; trusted.* are overlay's)
_XATTR_PREFIXES = ("user.", "security.", "system.posix_acl_")


def is_empty(data_dir: Path) -> bool:
    fd = os.open(data_dir, _DIR)
    try:
        return not os.listdir(fd)
    finally:
        os.close(fd)


def copy_up(rootfs: Path | str, destination: str, data_dir: Path) -> bool:
    """Fill ``data_dir`` (empty) with a copy of ``destination`` in ``rootfs``
    and give it that directory's owner and mode; False, doing nothing, when
    the image has no directory there or ``data_dir`` is not empty."""
    try:
        where = open_in_root(str(rootfs), destination)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        if not stat.S_ISDIR(os.fstat(where).st_mode):
            return False
        src = os.open(".", _DIR, dir_fd=where)
    finally:
        os.close(where)
    try:
        if not is_empty(data_dir):
            return False
        top = os.fstat(src)
        _stream_into(src, data_dir)
        dst = os.open(data_dir, _DIR)
        try:
            os.chown(dst, top.st_uid, top.st_gid)
            os.chmod(dst, stat.S_IMODE(top.st_mode))
        finally:
            os.close(dst)
    finally:
        os.close(src)
    log.info("volume.copied_up", destination=destination, data=str(data_dir))
    return True


def _stream_into(src: int, data_dir: Path) -> None:
    """Tar the tree under ``src`` in a thread, apply it into ``data_dir`` here."""
    rfd, wfd = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with open(wfd, "wb", buffering=1 << 16) as out:
                _write_tree(src, out)
        except BaseException as exc:  # reported by the consumer below
            failure.append(exc)

    writer = threading.Thread(target=produce, name="copy-up", daemon=True)
    writer.start()
    try:
        with open(rfd, "rb", buffering=0) as stream:
            try:
                apply_layer(stream, data_dir)
            except BaseException:
                if failure:
                    raise failure[0] from None
                raise
            finally:
                stream.close()  # a writer still writing gets EPIPE and stops
    finally:
        writer.join()
    if failure and not isinstance(failure[0], BrokenPipeError):
        raise failure[0]


def _xattrs(target: int | str) -> dict[str, str]:
    """The kept xattrs of ``target`` (an fd, or a /proc/self/fd path not
    followed at its end) in libarchive's PAX form."""
    out: dict[str, str] = {}
    follow = isinstance(target, int)
    try:
        names = os.listxattr(target, follow_symlinks=follow)
    except OSError:
        return out
    for name in names:
        if not name.startswith(_XATTR_PREFIXES):
            continue
        try:
            value = os.getxattr(target, name, follow_symlinks=follow)
        except OSError:
            continue
        out[f"LIBARCHIVE.xattr.{quote(name, safe='')}"] = base64.b64encode(value).decode()
    return out


def _write_tree(root: int, out: BinaryIO) -> None:
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _write_dir(tar, root, "", links)


def _info(path: str, st: os.stat_result, kind: bytes, pax: dict[str, str]) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    ns = st.st_mtime_ns
    info.mtime = ns // 1_000_000_000
    whole, frac = divmod(abs(ns), 1_000_000_000)
    info.pax_headers = {**pax, "mtime": f"{'-' if ns < 0 else ''}{whole}.{frac:09d}"}  # to the nanosecond
    return info


def _write_dir(tar: tarfile.TarFile, dfd: int, prefix: str, links: dict[tuple[int, int], str]) -> None:
    for name in sorted(os.listdir(dfd)):
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        path = prefix + name
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            sub = os.open(name, _DIR, dir_fd=dfd)
            try:
                tar.addfile(_info(path, os.fstat(sub), tarfile.DIRTYPE, _xattrs(sub)))
                _write_dir(tar, sub, path + "/", links)
            finally:
                os.close(sub)
        elif stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                info = _info(path, st, tarfile.LNKTYPE, {})
                info.linkname = links[key]
                tar.addfile(info)
                continue
            fd = os.open(name, _FILE, dir_fd=dfd)
            with open(fd, "rb") as f:
                now = os.fstat(fd)
                if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != key:
                    raise OSError(f"copy-up: {path!r} changed while it was being copied")
                info = _info(path, now, tarfile.REGTYPE, _xattrs(fd))
                info.size = now.st_size
                tar.addfile(info, f)
            if st.st_nlink > 1:
                links[key] = path
        else:
            proc = f"/proc/self/fd/{dfd}/{name}"
            if stat.S_ISLNK(mode):
                info = _info(path, st, tarfile.SYMTYPE, _xattrs(proc))
                info.linkname = os.readlink(name, dir_fd=dfd)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                info = _info(path, st, tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE, _xattrs(proc))
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            elif stat.S_ISFIFO(mode):
                info = _info(path, st, tarfile.FIFOTYPE, _xattrs(proc))
            else:
                continue  # sockets are not copied (tar has no type for them)
            tar.addfile(info)
