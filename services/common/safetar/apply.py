"""Apply one OCI/Docker layer tar into its own empty directory, overlay-snapshotter style.

Security contract (see shared/reference/security-reliability.md §1):

* Entry names are normalised lexically: a leading ``/`` is stripped (absolute
  names stay inside the root), ``.`` and empty components are dropped, and any
  ``..`` component refuses the layer. An entry that names the root itself is
  skipped.
* Parents are opened through :func:`services.common.safetar.beneath.open_dir_beneath`
  (openat2 ``RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS``): an entry whose parent path
  crosses a symlink (``evil -> /etc`` then ``evil/passwd``) refuses the layer.
  Leaves are created with ``*at`` calls relative to the parent fd and
  ``O_NOFOLLOW``/``AT_SYMLINK_NOFOLLOW``; metadata goes through the new file's
  own fd (or an ``O_PATH`` fd via ``/proc/self/fd`` for device nodes), never a
  path that could be swapped for a symlink. Symlink *targets* are stored
  verbatim and never followed.
* Hardlinks must name an earlier entry of the same layer; the target is
  resolved like any parent, and ``linkat`` without ``AT_SYMLINK_FOLLOW`` links a
  symlink itself, never what it points to.
* ``trusted.*`` xattrs from the archive are refused (they would forge overlay
  metadata); whiteouts become overlayfs form: ``.wh.<name>`` -> char device 0/0
  ``<name>``, ``.wh..wh..opq`` -> ``trusted.overlay.opaque=y`` on its directory;
  any other ``.wh..wh.`` name, a bare ``.wh.``, ``.wh..`` and ``.wh...`` refuse.
* Any refusal raises :class:`UnsafeLayer`; the caller discards the directory.

Metadata order per entry: data, lchown, chmod (chown clears setuid/setgid),
xattrs (chown and writes clear ``security.capability``), times. Directory times
are set last, after their children were created.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from client.errors import Internal, Unavailable
from services.common.log import get_logger
from services.common.safetar.beneath import NotBeneath, open_dir_beneath
from services.common.safetar.errors import LayerTooLarge, MalformedLayer, UnsafeLayer
from services.common.safetar.reader import EntryType, TarEntry, TarReader

__all__ = [
    "apply_layer",
    "ApplyStats",
    "LayerLimits",
    "DEFAULT_LIMITS",
    "UnsafeLayer",
    "MalformedLayer",
    "LayerTooLarge",
    "OPAQUE_XATTR",
]

OPAQUE_XATTR = "trusted.overlay.opaque"
_WH = b".wh."
_OPAQUE = b".wh..wh..opq"
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_DEV_MAX = 0xFFFFFFFF
_ACL_XATTRS = ("system.posix_acl_access", "system.posix_acl_default")

_log = get_logger(__name__)


@dataclass
class ApplyStats:
    """``files``: entries applied (all types, whiteouts included); ``bytes``: regular-file data written.

    ``diff_id`` is the sha256 of the whole uncompressed stream as read (the
    layer's DiffID) and ``stream_bytes`` its length.
    """

    files: int
    bytes: int
    diff_id: str = ""
    stream_bytes: int = 0


@dataclass(frozen=True)
class LayerLimits:
    """Decompression-bomb caps; configurable because huge images are legitimate."""

    max_bytes: int = 64 << 30
    max_entries: int = 1_000_000


DEFAULT_LIMITS = LayerLimits()


def _components(name: bytes, what: str) -> list[bytes]:
    parts = [p for p in name.split(b"/") if p and p != b"."]
    if b".." in parts:
        raise UnsafeLayer(f"{what} {name!r} has a '..' component")
    return parts


def _proc(fd: int, leaf: bytes | None = None) -> bytes:
    base = b"/proc/self/fd/%d" % fd
    return base + b"/" + leaf if leaf is not None else base


class _Applier:
    def __init__(self, root_fd: int, reader: TarReader) -> None:
        self._root = root_fd
        self._reader = reader
        self._cache_key: bytes | None = None
        self._cache_fd = -1
        self._dir_times: dict[bytes, int] = {}
        self.files = 0
        self.bytes = 0

    def close(self) -> None:
        self._drop_cache()

    def _drop_cache(self) -> None:
        if self._cache_fd >= 0:
            os.close(self._cache_fd)
        self._cache_key, self._cache_fd = None, -1

    def _parent(self, entry: TarEntry, parent: list[bytes]) -> int:
        """Parent dir fd for ``entry``, created (0755) if missing; owned by the one-slot cache."""
        if not parent:
            return self._root
        key = b"/".join(parent)
        if key == self._cache_key:
            return self._cache_fd
        try:
            fd = open_dir_beneath(self._root, parent, create=True)
        except NotBeneath as exc:
            raise UnsafeLayer(f"entry {entry.name!r}: {exc}; refusing to write through it") from exc
        self._drop_cache()
        self._cache_key, self._cache_fd = key, fd
        return fd

    def _remove(self, pfd: int, leaf: bytes, path: bytes) -> None:
        """Remove whatever sits at ``leaf`` so a later entry of the same path can replace it."""
        st = os.stat(leaf, dir_fd=pfd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            # rmtree with dir_fd walks by fds and never follows symlinks.
            shutil.rmtree(leaf, dir_fd=pfd)
            prefix = path + b"/"
            key = self._cache_key
            if key is not None and (key == path or key.startswith(prefix)):
                self._drop_cache()  # the cached fd would point into the removed tree
            for key in [k for k in self._dir_times if k == path or k.startswith(prefix)]:
                del self._dir_times[key]
        else:
            os.unlink(leaf, dir_fd=pfd)

    def _replace(self, pfd: int, leaf: bytes, path: bytes, create: Callable[[], int | None]) -> int | None:
        try:
            return create()
        except FileExistsError:
            self._remove(pfd, leaf, path)
            return create()

    def apply(self, entry: TarEntry) -> None:
        comps = _components(entry.name, "entry")
        if not comps:
            return  # the root itself: its metadata belongs to the snapshotter, not the layer
        *parent, leaf = comps
        if leaf.startswith(_WH):
            self._whiteout(entry, parent, leaf)
        else:
            self._plain(entry, comps)
        self.files += 1

    def _plain(self, entry: TarEntry, comps: list[bytes]) -> None:
        """Create ``entry`` (not a whiteout) at ``comps`` below the root."""
        *parent, leaf = comps
        pfd = self._parent(entry, parent)
        path = b"/".join(comps)
        kind = entry.type
        if kind == EntryType.REG:
            self._file(entry, pfd, leaf, path)
        elif kind == EntryType.DIR:
            self._dir(entry, pfd, leaf, path)
        elif kind == EntryType.SYM:
            self._symlink(entry, pfd, leaf, path)
        elif kind == EntryType.LNK:
            self._hardlink(entry, pfd, leaf, path, comps)
        else:
            self._node(entry, pfd, leaf, path)

    def _file(self, entry: TarEntry, pfd: int, leaf: bytes, path: bytes) -> None:
        fd = self._replace(pfd, leaf, path, lambda: os.open(leaf, _FILE_FLAGS, 0o600, dir_fd=pfd))
        assert fd is not None
        try:
            if entry.size:
                self._reader.copy_to(fd, entry)
                self.bytes += entry.size
            self._set_attrs(entry, fd, chmod=True, regular=True)
            os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
        finally:
            os.close(fd)

    def _dir(self, entry: TarEntry, pfd: int, leaf: bytes, path: bytes) -> None:
        try:
            os.mkdir(leaf, 0o700, dir_fd=pfd)
        except FileExistsError:
            st = os.stat(leaf, dir_fd=pfd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):  # dir over dir merges; anything else is replaced
                self._remove(pfd, leaf, path)
                os.mkdir(leaf, 0o700, dir_fd=pfd)
        fd = os.open(leaf, _DIR_OPEN, dir_fd=pfd)
        try:
            self._set_attrs(entry, fd, chmod=True, regular=True)
        finally:
            os.close(fd)
        self._dir_times[path] = entry.mtime_ns

    def _symlink(self, entry: TarEntry, pfd: int, leaf: bytes, path: bytes) -> None:
        if not entry.linkname or b"\0" in entry.linkname:
            raise MalformedLayer(f"symlink {entry.name!r} has an empty or invalid target")
        self._replace(pfd, leaf, path, lambda: os.symlink(entry.linkname, leaf, dir_fd=pfd))
        os.chown(leaf, entry.uid, entry.gid, dir_fd=pfd, follow_symlinks=False)
        if entry.xattrs:
            target = _proc(pfd, leaf)
            self._xattrs(entry, lambda k, v: os.setxattr(target, k, v, follow_symlinks=False), regular=False)
        os.utime(leaf, ns=(entry.mtime_ns, entry.mtime_ns), dir_fd=pfd, follow_symlinks=False)

    def _hardlink(self, entry: TarEntry, pfd: int, leaf: bytes, path: bytes, comps: list[bytes]) -> None:
        target = _components(entry.linkname, f"hardlink {entry.name!r} target")
        if not target or target == comps:
            raise UnsafeLayer(f"hardlink {entry.name!r} -> {entry.linkname!r} links the root or itself")
        *tparent, tleaf = target
        try:
            tfd = open_dir_beneath(self._root, tparent, create=False)
        except (NotBeneath, FileNotFoundError) as exc:
            raise UnsafeLayer(
                f"hardlink {entry.name!r} -> {entry.linkname!r}: target is not an earlier entry of this layer ({exc})"
            ) from exc
        try:
            def link() -> None:
                # follow_symlinks=False: linkat without AT_SYMLINK_FOLLOW links a symlink itself.
                os.link(tleaf, leaf, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)

            self._replace(pfd, leaf, path, link)
        except FileNotFoundError as exc:
            raise UnsafeLayer(
                f"hardlink {entry.name!r} -> {entry.linkname!r}: target is not an earlier entry of this layer"
            ) from exc
        except PermissionError as exc:
            raise UnsafeLayer(f"hardlink {entry.name!r} -> {entry.linkname!r}: target is a directory") from exc
        finally:
            os.close(tfd)
        # The link shares the target's inode, whose metadata its own entry already set.

    def _node(self, entry: TarEntry, pfd: int, leaf: bytes, path: bytes) -> None:
        if entry.devmajor > _DEV_MAX or entry.devminor > _DEV_MAX:
            raise MalformedLayer(f"device number of {entry.name!r} out of range")
        fmt = {EntryType.CHR: stat.S_IFCHR, EntryType.BLK: stat.S_IFBLK, EntryType.FIFO: stat.S_IFIFO}[entry.type]
        dev = os.makedev(entry.devmajor, entry.devminor) if fmt != stat.S_IFIFO else 0
        self._replace(pfd, leaf, path, lambda: os.mknod(leaf, fmt | 0o600, dev, dir_fd=pfd))
        self._node_meta(entry, pfd, leaf, chmod=True)

    def _node_meta(self, entry: TarEntry, pfd: int, leaf: bytes, *, chmod: bool) -> None:
        """Metadata of a device/fifo through an O_PATH fd: no open of the device, no path to swap."""
        fd = os.open(leaf, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            proc = _proc(fd)
            self._set_attrs(entry, proc, chmod=chmod, regular=False)
            os.utime(proc, ns=(entry.mtime_ns, entry.mtime_ns))
        finally:
            os.close(fd)

    def _whiteout(self, entry: TarEntry, parent: list[bytes], leaf: bytes) -> None:
        pfd = self._parent(entry, parent)
        if leaf == _OPAQUE:
            os.setxattr(_proc(pfd), OPAQUE_XATTR, b"y")
            return
        hidden = leaf[len(_WH) :]
        if not hidden or hidden in (b".", b"..") or hidden.startswith(_WH):
            raise UnsafeLayer(f"invalid whiteout entry {entry.name!r}")
        path = b"/".join([*parent, hidden])
        self._replace(pfd, hidden, path, lambda: os.mknod(hidden, stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd))
        self._node_meta(entry, pfd, hidden, chmod=False)

    def _set_attrs(self, entry: TarEntry, target: int | bytes, *, chmod: bool, regular: bool) -> None:
        """``entry``'s owner, mode (with ``chmod``) and xattrs on ``target``:
        an fd of the new file or directory, or the /proc/self/fd path of an
        O_PATH fd (a device is never opened). Times are the caller's: a
        directory's are set last, once its children stopped changing them."""
        os.chown(target, entry.uid, entry.gid)
        if chmod:
            os.chmod(target, entry.mode)
        if entry.xattrs:
            self._xattrs(entry, lambda k, v: os.setxattr(target, k, v), regular=regular)

    def _xattrs(self, entry: TarEntry, setter: Callable[[str, bytes], None], *, regular: bool) -> None:
        for key, value in entry.xattrs.items():
            if key.startswith("trusted."):
                raise UnsafeLayer(f"entry {entry.name!r} carries admin xattr {key!r}; refused")
            if not (key.startswith(("security.", "user.")) or key in _ACL_XATTRS):
                raise UnsafeLayer(f"entry {entry.name!r} carries unsupported xattr {key!r}")
            try:
                setter(key, value)
            except OSError as exc:
                tolerated = exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP) or (
                    exc.errno == errno.EPERM and key.startswith("user.") and not regular
                )
                if not tolerated:
                    raise
                _log.warning("layer_xattr_skipped", entry=entry.name, xattr=key, error=exc.strerror)

    def finish(self) -> None:
        """Set directory times last: creating their children moved them."""
        self._drop_cache()
        for path, ns in self._dir_times.items():
            *parent, leaf = path.split(b"/")
            pfd = open_dir_beneath(self._root, parent, create=False)
            try:
                os.utime(leaf, ns=(ns, ns), dir_fd=pfd, follow_symlinks=False)
            finally:
                os.close(pfd)


def apply_layer(tar_stream: BinaryIO, root: Path, *, limits: LayerLimits = DEFAULT_LIMITS) -> ApplyStats:
    """Apply the decompressed layer ``tar_stream`` into the empty directory ``root``.

    Reads the stream sequentially to EOF (so ``diff_id`` covers every byte).
    Raises :class:`UnsafeLayer` (or a subclass) for hostile or malformed input,
    ``Unavailable`` when the disk is full, ``Internal`` for other OS errors; on
    any error ``root`` holds a partial layer the caller must discard.
    """
    reader = TarReader(tar_stream, max_bytes=limits.max_bytes, max_entries=limits.max_entries)
    root_fd = os.open(root, _DIR_OPEN)
    applier = _Applier(root_fd, reader)
    current = b""
    try:
        for entry in reader:
            current = entry.name
            applier.apply(entry)
        current = b""
        reader.finish()
        applier.finish()
    except OSError as exc:
        where = f"entry {current!r}" if current else "layer"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise Unavailable(f"applying {where}: no space left on device") from exc
        if exc.errno == errno.ENAMETOOLONG:
            raise MalformedLayer(f"applying {where}: name too long") from exc
        raise Internal(f"applying {where}: {exc}") from exc
    finally:
        applier.close()
        os.close(root_fd)
    return ApplyStats(
        files=applier.files, bytes=applier.bytes, diff_id=reader.diff_id, stream_bytes=reader.total_bytes
    )
