"""Mount options beyond mount(2)'s flags, as runc 1.1 reads them.

* **Recursive attributes** (``rro``, ``rrw``, ``rnosuid``, ``rsuid``,
  ``rnodev``, ``rdev``, ``rnoexec``, ``rexec``, ``rnodiratime``,
  ``rdiratime``, ``rrelatime``, ``rnorelatime``, ``rnoatime``, ``ratime``,
  ``rstrictatime``, ``rnostrictatime``, ``rnosymfollow``, ``rsymfollow``):
  set with ``mount_setattr(AT_RECURSIVE)`` on the mount once it is made, so
  they reach every submount of an ``rbind`` (a plain ``ro`` makes only the
  top mount read-only, since bind flags are per mount). Later options win
  over earlier ones, as in runc; an atime mode also clears the atime bits.
* **Read-only delayed**: a ``tmpfs`` mount or whatever is mounted on
  ``/dev`` is made read-write and turned read-only only once the rootfs is
  complete (runc's mountPropagate/finalizeRootfs): /dev still gets its
  device nodes, /dev/pts and /dev/shm mount points, a tmpfs its mode.
"""

from __future__ import annotations

import posixpath

from . import mountapi as ma

__all__ = ["RECURSIVE", "recursive_attrs", "delays_readonly"]

#: option -> (clears the attribute?, MOUNT_ATTR_*), runc 1.1's recAttrFlags
RECURSIVE: dict[str, tuple[bool, int]] = {
    "rro": (False, ma.MOUNT_ATTR_RDONLY), "rrw": (True, ma.MOUNT_ATTR_RDONLY),
    "rnosuid": (False, ma.MOUNT_ATTR_NOSUID), "rsuid": (True, ma.MOUNT_ATTR_NOSUID),
    "rnodev": (False, ma.MOUNT_ATTR_NODEV), "rdev": (True, ma.MOUNT_ATTR_NODEV),
    "rnoexec": (False, ma.MOUNT_ATTR_NOEXEC), "rexec": (True, ma.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, ma.MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, ma.MOUNT_ATTR_NODIRATIME),
    "rrelatime": (False, ma.MOUNT_ATTR_RELATIME), "rnorelatime": (True, ma.MOUNT_ATTR_RELATIME),
    "rnoatime": (False, ma.MOUNT_ATTR_NOATIME), "ratime": (True, ma.MOUNT_ATTR_NOATIME),
    "rstrictatime": (False, ma.MOUNT_ATTR_STRICTATIME),
    "rnostrictatime": (True, ma.MOUNT_ATTR_STRICTATIME),
    "rnosymfollow": (False, ma.MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, ma.MOUNT_ATTR_NOSYMFOLLOW),
}


def recursive_attrs(options: list[str] | None) -> tuple[int, int]:
    """(attr_set, attr_clr) of the recursive options among ``options``."""
    attr_set = attr_clr = 0
    for opt in options or ():
        if opt not in RECURSIVE:
            continue
        clear, attr = RECURSIVE[opt]
        if clear:
            attr_clr |= attr
            attr_set &= ~attr
        else:
            attr_set |= attr
            attr_clr &= ~attr
            if attr & ma.MOUNT_ATTR__ATIME == attr:
                # an atime mode is set only with every atime bit cleared (mount_setattr(2))
                attr_clr |= ma.MOUNT_ATTR__ATIME
    return attr_set, attr_clr


def delays_readonly(fstype: str, destination: str) -> bool:
    """Whether a read-only mount of ``fstype`` on ``destination`` is made
    read-write first and read-only after the rootfs is set up."""
    return fstype == "tmpfs" or posixpath.normpath(destination).lstrip("/") == "dev"
