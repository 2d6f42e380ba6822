"""The device nodes in the container's /dev: the runtime-spec's default
devices (unless /dev is a bind mount), ``linux.devices``, and the links a
process expects there (fd, stdin, stdout, stderr, core, ptmx).

Runs inside the container init before pivot_root; every path is resolved
under the rootfs with :func:`.rootfs.open_in_root` and each node is made
relative to its parent's fd.
"""

from __future__ import annotations

import os
import stat

from .rootfs import RootfsError, open_in_root

__all__ = ["DEFAULT_DEVICES", "create_devices"]

#: runtime-spec default devices: (path, major, minor)
DEFAULT_DEVICES = (("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
                   ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0))
_DEV_LINKS = (("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"),
              ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr"))


def create_devices(spec: dict, rootfs: str) -> None:
    """Default devices (unless /dev is a bind mount), linux.devices, /dev links."""
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
            mode = kinds[dev["type"]] | (int(dev.get("fileMode", 0o666)) & 0o7777)
            os.mknod(name, mode, os.makedev(int(dev.get("major", 0)), int(dev.get("minor", 0))),
                     dir_fd=parent)
            os.chown(name, int(dev.get("uid", 0)), int(dev.get("gid", 0)), dir_fd=parent,
                     follow_symlinks=False)
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
