"""The device nodes in the container's /dev: the runtime-spec's default
devices (unless /dev is a bind mount), ``linux.devices``, and the links a
process expects there (fd, stdin, stdout, stderr, core, ptmx).

Runs inside the container init before pivot_root; every path is resolved
under the rootfs with :func:`.rootfs.open_in_root` and each node is made
relative to its parent's fd. In a user namespace mknod is not allowed: as
runc does, the host's node at the same path is bound onto an empty file
instead (also where mknod fails with EPERM).
"""

from __future__ import annotations

import os
import stat

from . import mountapi as ma
from .rootfs import RootfsError, open_in_root

__all__ = ["DEFAULT_DEVICES", "create_devices"]

#: runtime-spec default devices: (path, major, minor)
DEFAULT_DEVICES = (("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
                   ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0))
_DEV_LINKS = (("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"),
              ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr"))


def _bind_node(parent: int, name: str, host_path: str) -> None:
    """The host's ``host_path`` bound onto a new empty file ``name`` in ``parent``."""
    os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o000, dir_fd=parent))
    target = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    try:
        clone = ma.open_tree(ma.AT_FDCWD, host_path, ma.OPEN_TREE_CLONE)
        try:
            ma.move_mount_fd(clone, target)
        finally:
            os.close(clone)
    finally:
        os.close(target)


def _make_node(parent: int, name: str, dev: dict, kinds: dict, bind: bool) -> None:
    if not bind:
        mode = kinds[dev["type"]] | (int(dev.get("fileMode", 0o666)) & 0o7777)
        try:
            os.mknod(name, mode, os.makedev(int(dev.get("major", 0)), int(dev.get("minor", 0))),
                     dir_fd=parent)
        except PermissionError:
            bind = True
        else:
            os.chown(name, int(dev.get("uid", 0)), int(dev.get("gid", 0)), dir_fd=parent,
                     follow_symlinks=False)
            return
    _bind_node(parent, name, dev["path"])


def create_devices(spec: dict, rootfs: str, bind: bool = False) -> None:
    """Default devices (unless /dev is a bind mount), linux.devices, /dev
    links; ``bind`` (a user namespace) binds the host's nodes instead of mknod."""
    mounts = spec.get("mounts") or []
    dev_bound = any(m["destination"] == "/dev" and "bind" in str(m.get("options")) for m in mounts)
    devices = list((spec.get("linux") or {}).get("devices") or [])
    listed = {d["path"] for d in devices}
    if not dev_bound:
        devices += [{"path": p, "type": "c", "major": ma, "minor": mi, "fileMode": 0o666,
                     "uid": 0, "gid": 0} for p, ma, mi in DEFAULT_DEVICES if p not in listed]
    kinds = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
    for dev in devices:
        parent_path, name = os.path.split(dev["path"])
        parent = open_in_root(rootfs, parent_path, create="dir")
        try:
            try:
                os.unlink(name, dir_fd=parent)
            except FileNotFoundError:
                pass
            _make_node(parent, name, dev, kinds, bind)
        except OSError as exc:
            raise RootfsError(f"create device {dev['path']!r}: {exc.strerror}") from exc
        finally:
            os.close(parent)
    if dev_bound:
        return
    devdir = open_in_root(rootfs, "/dev", create="dir")
    try:
        links = list(_DEV_LINKS)
        if os.path.exists("/proc/kcore"):
            links.append(("/proc/kcore", "core"))
        for target, name in links:
            try:
                os.symlink(target, name, dir_fd=devdir)
            except FileExistsError:
                pass
        try:
            os.unlink("ptmx", dir_fd=devdir)
        except FileNotFoundError:
            pass
        os.symlink("pts/ptmx", "ptmx", dir_fd=devdir)
    finally:
        os.close(devdir)
