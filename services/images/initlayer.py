"""A container's init layer: the mountpoints the runtime mounts over, made
once between the image and the container's writable layer (Docker's
"<id>-init" layer).

Without it the runtime's bind mounts of ``/etc/hosts``, ``/etc/resolv.conf``
and ``/etc/hostname`` (and ``/dev``, ``/proc``, ``/sys`` on an image that
lacks them) would create their targets in the writable layer, and a fresh
``barque run busybox true`` would show them in ``diff`` and carry them into
``commit``. Here they are made in a layer of their own, which diff and commit
never read. Only what the image lacks is made, so the container sees the
image's own files and directory modes everywhere else; a parent made for a
stub copies the image's mode, owner and times where the image has it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["MOUNTPOINTS", "make_init_layer"]

#: (path, is_dir) of the runtime's fixed mountpoints (spec/mounts.py and
#: network/etc_files.py); the ones nested in /dev and /sys live on the
#: tmpfs/sysfs mounted there, not in any layer
MOUNTPOINTS: tuple[tuple[str, bool], ...] = (
    ("dev", True),
    ("proc", True),
    ("sys", True),
    ("etc/hostname", False),
    ("etc/hosts", False),
    ("etc/resolv.conf", False),
)


def _lower_entry(lowers: list[str], rel: str) -> os.stat_result | None:
    """The merged view's entry at ``rel`` over ``lowers`` (top-most first): lstat
    of the top-most layer that has it, None if absent or whited out. Never
    follows a symlink (a parent symlink counts as absent: the runtime resolves
    such a target inside the container root itself)."""
    parts = rel.split("/")
    for layer in lowers:
        cur = layer
        for i, name in enumerate(parts):
            cur = os.path.join(cur, name)
            try:
                st = os.lstat(cur)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    break  # not in this layer: look below
                raise
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None  # whited out here: absent in the merged view
            if i == len(parts) - 1:
                return st
            if not stat.S_ISDIR(st.st_mode):
                return None
    return None


def make_init_layer(init: Path, lowers: list[str]) -> list[str]:
    """Fill the empty dir ``init`` with the mountpoints ``lowers`` lack; returns them."""
    made: list[str] = []
    for rel, is_dir in MOUNTPOINTS:
        if _lower_entry(lowers, rel) is not None:
            continue
        parent_parts = rel.split("/")[:-1]
        for depth in range(1, len(parent_parts) + 1):
            sub = "/".join(parent_parts[:depth])
            target = init / sub
            if target.is_dir():
                continue
            target.mkdir(mode=0o755)
            image_dir = _lower_entry(lowers, sub)
            if image_dir is not None and stat.S_ISDIR(image_dir.st_mode):
                os.chown(target, image_dir.st_uid, image_dir.st_gid)
                os.chmod(target, stat.S_IMODE(image_dir.st_mode))
            else:
                os.chmod(target, 0o755)
        path = init / rel
        if is_dir:
            path.mkdir(mode=0o755)
            os.chmod(path, 0o755)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            os.close(fd)
            os.chmod(path, 0o644)
        made.append(rel)
    # parents get the image's times last, after their stubs were made in them
    for sub in sorted({os.path.dirname(m) for m in made if "/" in m}, key=len, reverse=True):
        image_dir = _lower_entry(lowers, sub)
        if image_dir is not None:
            os.utime(init / sub, ns=(image_dir.st_atime_ns, image_dir.st_mtime_ns), follow_symlinks=False)
    return made
