"""What a container's writable layer changed against the layers below it
(``docker diff``), read from the overlay upper directory.

The rules are moby's overlay changes (``pkg/archive`` ``OverlayChanges``),
which ``docker diff`` prints:

* a whiteout (character device 0:0) is a deleted path, "D";
* an opaque directory (``trusted.overlay.opaque=y``) that a lower layer holds
  (not itself whited out there) was removed and made again: "D" too, and what
  is inside it is then reported on its own;
* anything else is "C" when a lower layer holds the path (and no lower layer
  whites it or a parent out on the way down), else "A"; a directory the
  upper layer only holds because something below it changed (same mode, size
  and mtime as in the lower layer) is not reported for itself;
* every parent of an added or deleted path is reported "C", before it.

Paths come in walk order: a directory before its entries, entries by byte
order of their names (Go's ``filepath.Walk``). Lower layers are looked up
component by component with ``lstat`` and never through a symlink, so a
symlink in an image cannot make the walk stat a host path.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

__all__ = ["OPAQUE_XATTR", "Change", "ChangeKind", "changes", "is_opaque", "is_whiteout"]

OPAQUE_XATTR = "trusted.overlay.opaque"


class ChangeKind(str, Enum):
    MODIFIED = "C"
    ADDED = "A"
    DELETED = "D"


@dataclass(frozen=True)
class Change:
    path: str          # absolute inside the container, "/etc/passwd"
    kind: ChangeKind

    def __str__(self) -> str:
        return f"{self.kind.value} {self.path}"


def is_whiteout(st: os.stat_result) -> bool:
    """overlayfs's mark of a deleted path: a character device 0:0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: bytes | str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOENT):
            return False
        raise


class _Lower(Enum):
    ABSENT = 0
    WHITEOUT = 1          # the path itself is whited out in this layer
    PARENT_WHITEOUT = 2   # a parent directory is whited out in this layer


def _lookup(layer: bytes, parts: list[bytes]) -> os.stat_result | _Lower:
    """The layer's own entry at ``parts``: its lstat, or why there is none."""
    cur = layer
    for i, name in enumerate(parts):
        cur = os.path.join(cur, name)
        try:
            st = os.lstat(cur)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return _Lower.ABSENT
            raise
        last = i == len(parts) - 1
        if is_whiteout(st):
            return _Lower.WHITEOUT if last else _Lower.PARENT_WHITEOUT
        if last:
            return st
        if not stat.S_ISDIR(st.st_mode):
            return _Lower.ABSENT
    return _Lower.ABSENT


def _same_fs_time(a: int, b: int) -> bool:
    """Equal mtimes, or equal seconds where one side has no nanoseconds (tar's precision)."""
    return a == b or (a // 1_000_000_000 == b // 1_000_000_000
                      and (a % 1_000_000_000 == 0 or b % 1_000_000_000 == 0))


def _opaque_replaced(lowers: list[bytes], parts: list[bytes]) -> bool:
    """An opaque directory hides a lower one: it was deleted and made again."""
    for layer in lowers:
        found = _lookup(layer, parts)
        if found in (_Lower.WHITEOUT, _Lower.PARENT_WHITEOUT):
            return False
        if isinstance(found, os.stat_result):
            return True
    return False


def changes(upper: Path | str, lowers: list[str]) -> list[Change]:
    """The changes of overlay upper dir ``upper`` against ``lowers`` (top-most first)."""
    root = os.fsencode(upper)
    lower_b = [os.fsencode(x) for x in lowers]
    out: list[Change] = []
    changed_dirs: set[bytes] = set()

    def visit(rel: list[bytes], st: os.stat_result) -> None:
        full = os.path.join(root, *rel)
        path = b"/" + b"/".join(rel)
        is_dir = stat.S_ISDIR(st.st_mode)
        if is_whiteout(st) or (is_dir and is_opaque(full) and _opaque_replaced(lower_b, rel)):
            kind = ChangeKind.DELETED
        else:
            kind = ChangeKind.ADDED
            for layer in lower_b:
                found = _lookup(layer, rel)
                if found in (_Lower.WHITEOUT, _Lower.PARENT_WHITEOUT):
                    break
                if isinstance(found, os.stat_result):
                    if (is_dir and stat.S_ISDIR(found.st_mode) and st.st_size == found.st_size
                            and st.st_mode == found.st_mode
                            and _same_fs_time(st.st_mtime_ns, found.st_mtime_ns)):
                        return  # only a parent of something changed: its entries say so
                    kind = ChangeKind.MODIFIED
                    break
        if is_dir:
            changed_dirs.add(path)
        if kind is not ChangeKind.MODIFIED:
            missing: list[bytes] = []
            parent = os.path.dirname(path)
            while parent != b"/":
                if parent not in changed_dirs:
                    missing.append(parent)
                    changed_dirs.add(parent)
                parent = os.path.dirname(parent)
            out.extend(Change(os.fsdecode(p), ChangeKind.MODIFIED) for p in reversed(missing))
        out.append(Change(os.fsdecode(path), kind))

    def walk(rel: list[bytes]) -> None:
        try:
            with os.scandir(os.path.join(root, *rel) if rel else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return  # a running container removed it since it was listed
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            child = [*rel, entry.name]
            visit(child, st)
            if stat.S_ISDIR(st.st_mode):
                walk(child)

    walk([])
    return out
