"""Extract a plain tar (``cp``'s, not a layer's) into a directory, never leaving it.

The same vetted path as :func:`services.common.safetar.apply.apply_layer` (its
applier, subclassed): names normalised, ``..`` refused, parents opened
beneath the directory without following symlinks (a tar that plants
``link -> /etc`` and then writes ``link/passwd`` is refused), leaves created
``O_NOFOLLOW``, hardlinks only to what lies beneath, ``trusted.*`` xattrs
refused. What differs from a layer, as Docker's ``Untar`` for ``cp``:

* ``.wh.`` names are ordinary files, never whiteouts;
* ownership is ``owner`` (``(0, 0)``: the container's root, ``cp`` without
  ``-a``; the caller's own ids for a local copy) or, with ``owner=None``, the
  tar's ids (``cp -a``);
* ``no_overwrite_dir_non_dir`` refuses to replace a directory with a
  non-directory or the reverse (Docker's ``NoOverwriteDirNonDir``);
* ``rename`` swaps the first name component (the client's
  ``RebaseArchiveEntries``: ``hosts`` extracted as ``hosts.bak``);
* an entry naming the extraction directory itself (``./``) is skipped, so a
  copy never changes the mode or owner of the directory it lands in.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import BinaryIO

from client.errors import Internal, Unavailable
from services.common.safetar.apply import (
    DEFAULT_LIMITS,
    ApplyStats,
    LayerLimits,
    _Applier,
    _components,
)
from services.common.safetar.errors import MalformedLayer, UnsafeLayer
from services.common.safetar.reader import EntryType, TarEntry, TarReader

__all__ = ["CopyConflict", "ExtractOptions", "extract_tar"]


class CopyConflict(UnsafeLayer):
    """A copy would replace a directory with a non-directory or the reverse."""


@dataclass(frozen=True)
class ExtractOptions:
    owner: tuple[int, int] | None = (0, 0)
    no_overwrite_dir_non_dir: bool = False
    rename: tuple[bytes, bytes] | None = None
    xattrs: bool = True
    limits: LayerLimits = DEFAULT_LIMITS


def _rebase(name: bytes, old: bytes, new: bytes) -> bytes:
    """``name`` with its first component ``old`` replaced by ``new`` (``./`` and ``/`` prefixes
    dropped first); ``old == b"."`` puts every entry under ``new``; other names stay."""
    stripped = name.lstrip(b"/")
    while stripped.startswith(b"./"):
        stripped = stripped[2:].lstrip(b"/")
    if stripped == b".":
        stripped = b""
    if old == b".":
        return new + b"/" + stripped if stripped else new
    head, sep, rest = stripped.partition(b"/")
    return new + sep + rest if head == old else name


class _Extractor(_Applier):
    def __init__(self, root_fd: int, reader: TarReader, options: ExtractOptions) -> None:
        super().__init__(root_fd, reader)
        self._opts = options
        self._kind = ""

    def apply(self, entry: TarEntry) -> None:
        opts = self._opts
        if opts.rename is not None:
            old, new = opts.rename
            entry.name = _rebase(entry.name, old, new)
            if entry.type == EntryType.LNK:
                entry.linkname = _rebase(entry.linkname, old, new)
        if opts.owner is not None:
            entry.uid, entry.gid = opts.owner
        if not opts.xattrs:
            entry.xattrs = {}
        comps = _components(entry.name, "entry")
        if not comps:
            return
        self._kind = entry.type
        self._plain(entry, comps)
        self.files += 1

    def _remove(self, pfd: int, leaf: bytes, path: bytes) -> None:
        if self._opts.no_overwrite_dir_non_dir:
            is_dir = stat.S_ISDIR(os.stat(leaf, dir_fd=pfd, follow_symlinks=False).st_mode)
            shown = os.fsdecode(path)
            if is_dir and self._kind != EntryType.DIR:
                raise CopyConflict(f"cannot overwrite directory {shown!r} with non-directory")
            if not is_dir and self._kind == EntryType.DIR:
                raise CopyConflict(f"cannot overwrite non-directory {shown!r} with directory")
        super()._remove(pfd, leaf, path)


def extract_tar(stream: BinaryIO, dir_fd: int, options: ExtractOptions = ExtractOptions()) -> ApplyStats:
    """Extract the tar ``stream`` (read to its end) beneath the directory ``dir_fd`` (not closed).

    Raises :class:`UnsafeLayer` (an ``InvalidArgument``; :class:`CopyConflict`
    for a type clash) for a hostile or malformed archive, ``Unavailable`` when
    the disk is full, ``Internal`` for other OS errors. What was extracted
    before an error stays (as with Docker's ``cp``).
    """
    reader = TarReader(stream, max_bytes=options.limits.max_bytes, max_entries=options.limits.max_entries)
    root = os.dup(dir_fd)
    extractor = _Extractor(root, reader, options)
    current = b""
    try:
        for entry in reader:
            current = entry.name
            extractor.apply(entry)
        current = b""
        reader.finish()
        extractor.finish()
    except OSError as exc:
        where = f"entry {os.fsdecode(current)!r}" if current else "archive"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise Unavailable(f"extracting {where}: no space left on device") from exc
        if exc.errno == errno.ENAMETOOLONG:
            raise MalformedLayer(f"extracting {where}: name too long") from exc
        if exc.errno == errno.EROFS:
            raise UnsafeLayer(f"extracting {where}: read-only file system") from exc
        raise Internal(f"extracting {where}: {exc.strerror or exc}") from exc
    finally:
        extractor.close()
        os.close(root)
    return ApplyStats(files=extractor.files, bytes=extractor.bytes, diff_id=reader.diff_id,
                      stream_bytes=reader.total_bytes)
