"""Chowned copies of image layers for one user-namespace remap range: the
fallback where the kernel lacks idmapped overlay layers (dockerd's remapped
graph root keeps such copies too).

A copy is ``<root>/<sha256 of the layer path>/fs``, with ``source`` naming
the layer it copies; it is built under a temporary name and renamed into
place, so a half copy is never used and a crash leaves only a temporary
dir that the next :meth:`LayerCopies.prune` removes. Every id is moved into
the range (an id outside it is refused, as dockerd's chown refuses it); modes
(setuid bits included, set after the chown that clears them), times, xattrs
(overlayfs' opaque markers) and whiteouts (char 0:0) are kept, and hard links
inside a layer stay links.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import threading
import uuid
from pathlib import Path

from client.errors import FailedPrecondition
from services.common.idmap import IdMapping
from services.common.log import get_logger

__all__ = ["LayerCopies"]

log = get_logger()

_TMP = ".tmp-"


class LayerCopies:
    def __init__(self, root: Path, idmap: IdMapping) -> None:
        self.root = root
        self.idmap = idmap
        self._lock = threading.Lock()

    def _dir(self, layer: str) -> Path:
        return self.root / hashlib.sha256(os.fsencode(os.path.realpath(layer))).hexdigest()[:32]

    def get(self, layer: str) -> Path:
        """The copy of ``layer`` (made now if missing)."""
        final = self._dir(layer)
        with self._lock:
            if (final / "source").exists():
                return final / "fs"
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self.root / f"{_TMP}{uuid.uuid4().hex[:12]}"
            try:
                tmp.mkdir(mode=0o700)
                src = os.open(layer, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    os.mkdir(tmp / "fs", 0o700)
                    self._copy_dir(src, str(tmp / "fs"), {})
                    self._metadata(os.fstat(src), src, str(tmp / "fs"), is_dir=True)
                finally:
                    os.close(src)
                (tmp / "source").write_text(os.path.realpath(layer))
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                raise FailedPrecondition(f"chowned copy of layer {layer}: {exc}") from exc
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            log.info("userns.layer_copied", layer=layer, copy=str(final), range=self.idmap.key)
            return final / "fs"

    def prune(self) -> int:
        """Remove copies whose layer is gone, and leftover temporary dirs."""
        removed = 0
        with self._lock:
            if not self.root.exists():
                return 0
            for entry in self.root.iterdir():
                source = entry / "source"
                gone = entry.name.startswith(_TMP) or not source.exists() or \
                    not os.path.isdir(source.read_text())
                if gone:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
            try:
                self.root.rmdir()  # the last copy went
            except OSError:
                pass
        return removed

    def _ids(self, st: os.stat_result, path: str) -> tuple[int, int]:
        uid, gid = self.idmap.host_uid(st.st_uid), self.idmap.host_gid(st.st_gid)
        if uid is None or gid is None:
            raise FailedPrecondition(f"{path}: owner {st.st_uid}:{st.st_gid} cannot be mapped "
                                     f"into the remap range {self.idmap.key}")
        return uid, gid

    def _metadata(self, st: os.stat_result, src_fd: int | None, dst: str, is_dir: bool = False,
                  name: str | None = None, src_dir: int | None = None) -> None:
        """Owner (moved into the range), then mode, xattrs and times of ``dst``."""
        uid, gid = self._ids(st, dst)
        link = stat.S_ISLNK(st.st_mode)
        os.chown(dst, uid, gid, follow_symlinks=False)
        if not link:
            os.chmod(dst, stat.S_IMODE(st.st_mode))
        source = f"/proc/self/fd/{src_fd}" if src_fd is not None else None
        if source is not None:
            for key in os.listxattr(source):
                os.setxattr(dst, key, os.getxattr(source, key), follow_symlinks=False)
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    def _copy_dir(self, src: int, dst: str, links: dict[tuple[int, int], str]) -> None:
        for name in sorted(os.listdir(src)):
            st = os.stat(name, dir_fd=src, follow_symlinks=False)
            target = os.path.join(dst, name)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                os.mkdir(target, 0o700)
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
                try:
                    self._copy_dir(sub, target, links)
                    self._metadata(st, sub, target)
                finally:
                    os.close(sub)
                continue
            if stat.S_ISREG(mode) and st.st_nlink > 1 and (st.st_dev, st.st_ino) in links:
                os.link(links[(st.st_dev, st.st_ino)], target)
                continue
            fd: int | None = None
            if stat.S_ISREG(mode):
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
                with open(fd, "rb", closefd=False) as reader, open(target, "xb") as writer:
                    shutil.copyfileobj(reader, writer, 1 << 20)
                if st.st_nlink > 1:
                    links[(st.st_dev, st.st_ino)] = target
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(name, dir_fd=src), target)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
                os.mknod(target, mode, st.st_rdev)
            else:
                continue  # a socket: nothing to copy, as layers never hold them
            try:
                if fd is None and not stat.S_ISLNK(mode):
                    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
                self._metadata(st, fd, target)
            finally:
                if fd is not None:
                    os.close(fd)
