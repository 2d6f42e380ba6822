"""The container's root filesystem: mounts, /dev, pivot_root, masked and
read-only paths.

Runs inside the container init, in its new mount namespace, as root. Every
mount target is resolved one component at a time under the rootfs with
O_PATH|O_NOFOLLOW (symlinks are followed as if the rootfs were ``/``, never out
of it) and the mount is made on ``/proc/self/fd/<fd>``; after a mount the path
is resolved again, because the old fd still names the covered directory.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections import deque

from services.common.errors import FailedPrecondition, InvalidArgument

from . import syscalls as sc
from .cgroups import CgroupV1, CgroupV2

__all__ = [
    "RootfsError", "parse_options", "open_in_root", "prepare_root", "mount_all",
    "create_devices", "pivot_root", "apply_sysctl", "mask_paths", "readonly_paths",
    "remount_root_readonly", "DEFAULT_DEVICES",
]

_SET = {
    "bind": sc.MS_BIND, "rbind": sc.MS_BIND | sc.MS_REC, "dirsync": sc.MS_DIRSYNC,
    "mand": sc.MS_MANDLOCK, "noatime": sc.MS_NOATIME, "nodev": sc.MS_NODEV,
    "nodiratime": sc.MS_NODIRATIME, "noexec": sc.MS_NOEXEC, "nosuid": sc.MS_NOSUID,
    "relatime": sc.MS_RELATIME, "remount": sc.MS_REMOUNT, "ro": sc.MS_RDONLY,
    "strictatime": sc.MS_STRICTATIME, "sync": sc.MS_SYNCHRONOUS,
    "nosymfollow": sc.MS_NOSYMFOLLOW, "lazytime": sc.MS_LAZYTIME, "defaults": 0,
}
_CLEAR = {
    "async": sc.MS_SYNCHRONOUS, "atime": sc.MS_NOATIME, "dev": sc.MS_NODEV,
    "diratime": sc.MS_NODIRATIME, "exec": sc.MS_NOEXEC, "nomand": sc.MS_MANDLOCK,
    "norelatime": sc.MS_RELATIME, "nostrictatime": sc.MS_STRICTATIME, "rw": sc.MS_RDONLY,
    "suid": sc.MS_NOSUID, "nolazytime": sc.MS_LAZYTIME,
}
_PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
#: statvfs f_flag bits -> mount flags, to keep a mount's flags across a remount
_ST_TO_MS = ((1, sc.MS_RDONLY), (2, sc.MS_NOSUID), (4, sc.MS_NODEV), (8, sc.MS_NOEXEC),
             (16, sc.MS_SYNCHRONOUS), (64, sc.MS_MANDLOCK), (1024, sc.MS_NOATIME),
             (2048, sc.MS_NODIRATIME), (4096, sc.MS_RELATIME))

#: runtime-spec default devices: (path, major, minor)
DEFAULT_DEVICES = (("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
                   ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0))
_DEV_LINKS = (("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"),
              ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr"))
_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class RootfsError(FailedPrecondition):
    """The rootfs could not be set up as config.json asks."""


def parse_options(options: list[str] | None) -> tuple[int, list[int], str]:
    """(mount flags, propagation flags to apply after, filesystem data string)."""
    flags, propagation, data = 0, [], []
    for opt in options or ():
        if opt in _SET:
            flags |= _SET[opt]
        elif opt in _CLEAR:
            flags &= ~_CLEAR[opt]
        elif opt in _PROPAGATION:
            propagation.append(_PROPAGATION[opt])
        elif opt in ("tmpcopyup", "idmap", "ridmap"):
            raise InvalidArgument(f"mount option {opt!r} is not supported")
        else:
            data.append(opt)
    return flags, propagation, ",".join(data)


def _fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def open_in_root(rootfs: str, path: str, create: str | None = None,
                 refuse_symlink: bool = False) -> int:
    """O_PATH fd of ``path`` resolved inside ``rootfs`` (an absolute host path).

    ``create`` ("dir" or "file") makes missing components: directories on the
    way, and the last one as that kind. ``refuse_symlink`` rejects a symlink as
    the last component instead of following it (for /proc and /sys).
    """
    stack = [os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)]
    parts = deque(p for p in path.split("/") if p)
    links = 0
    try:
        while parts:
            name = parts.popleft()
            if name == ".":
                continue
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            cur = stack[-1]
            try:
                fd = os.open(name, _O_PATH, dir_fd=cur)
            except FileNotFoundError:
                if create is None:
                    raise
                if parts or create == "dir":
                    os.mkdir(name, 0o755, dir_fd=cur)
                else:
                    os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                                     | os.O_CLOEXEC, 0o644, dir_fd=cur))
                fd = os.open(name, _O_PATH, dir_fd=cur)
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                os.close(fd)
                if refuse_symlink and not parts:
                    raise RootfsError(f"{path!r} cannot be mounted because it is a symlink "
                                      "(must be mounted on ordinary directory)")
                links += 1
                if links > 40:
                    raise RootfsError(f"too many levels of symlinks resolving {path!r}")
                target = os.readlink(name, dir_fd=cur)
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts.extendleft(reversed([p for p in target.split("/") if p]))
                continue
            if parts and not stat.S_ISDIR(mode):
                os.close(fd)
                raise RootfsError(f"{path!r}: component {name!r} is not a directory")
            stack.append(fd)
        result = stack.pop() if len(stack) > 1 else os.dup(stack[0])
        return result
    finally:
        for fd in stack:
            os.close(fd)


def _mount_at(rootfs: str, dest: str, source: str | None, fstype: str | None, flags: int,
              data: str | None = None, create: str | None = "dir",
              refuse_symlink: bool = False) -> None:
    fd = open_in_root(rootfs, dest, create=create, refuse_symlink=refuse_symlink)
    try:
        sc.mount(source, _fd_path(fd), fstype, flags, data or None)
    finally:
        os.close(fd)


def _current_flags(rootfs: str, dest: str) -> int:
    fd = open_in_root(rootfs, dest)
    try:
        st = os.statvfs(_fd_path(fd))
    finally:
        os.close(fd)
    return sum(ms for bit, ms in _ST_TO_MS if st.f_flag & bit)


def _remount(rootfs: str, dest: str, flags: int) -> None:
    """Bind-remount ``dest`` with ``flags`` added to the flags it has now."""
    keep = _current_flags(rootfs, dest)
    _mount_at(rootfs, dest, None, None, sc.MS_BIND | sc.MS_REMOUNT | keep | flags, create=None)


def prepare_root(rootfs: str, propagation: str | None) -> None:
    """Stop mount events flowing back to the host, then make the rootfs a mount."""
    root_flags = _PROPAGATION.get(propagation or "rslave")
    if root_flags is None:
        raise InvalidArgument(f"invalid rootfsPropagation {propagation!r}")
    sc.mount(None, "/", None, root_flags)
    sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    if not propagation:
        sc.mount(None, rootfs, None, sc.MS_PRIVATE | sc.MS_REC)


def _mount_cgroup(rootfs: str, m: dict, flags: int, cgroup: CgroupV1 | CgroupV2 | None,
                  cgroupns: bool) -> None:
    dest = m["destination"]
    if isinstance(cgroup, CgroupV2) or cgroup is None:
        if cgroupns:
            _mount_at(rootfs, dest, "cgroup2", "cgroup2", flags & ~sc.MS_BIND)
        elif cgroup is not None:
            _mount_at(rootfs, dest, cgroup.path, None, sc.MS_BIND)
            _remount(rootfs, dest, flags & ~sc.MS_BIND)
        return
    # v1, as Docker does: a tmpfs with each controller's container dir bound in.
    _mount_at(rootfs, dest, "tmpfs", "tmpfs", flags & ~(sc.MS_RDONLY | sc.MS_BIND), "mode=755")
    for hierarchy, host_dir in cgroup.container_mounts():
        sub = f"{dest}/{hierarchy.name}"
        _mount_at(rootfs, sub, host_dir, None, sc.MS_BIND)
        _remount(rootfs, sub, flags & ~sc.MS_BIND)
        subsystems = [s for s in hierarchy.subsystems if not s.startswith("name=")]
        if len(subsystems) > 1:
            parent = open_in_root(rootfs, dest)
            try:
                for s in subsystems:
                    if s != hierarchy.name:
                        os.symlink(hierarchy.name, s, dir_fd=parent)
            finally:
                os.close(parent)


def mount_all(spec: dict, rootfs: str, bundle: str,
              cgroup: CgroupV1 | CgroupV2 | None, cgroupns: bool) -> None:
    """Perform ``spec["mounts"]`` in order under ``rootfs``."""
    for m in spec.get("mounts") or []:
        dest, fstype = m["destination"], m.get("type") or ""
        options = list(m.get("options") or ())
        # runc's tmpcopyup extension, for tmpfs only (elsewhere it stays refused)
        copyup = fstype == "tmpfs" and "tmpcopyup" in options
        if copyup:
            options = [o for o in options if o != "tmpcopyup"]
        flags, propagation, data = parse_options(options)
        try:
            if fstype == "cgroup" or fstype == "cgroup2":
                _mount_cgroup(rootfs, m, flags, cgroup, cgroupns)
                continue
            if flags & sc.MS_BIND:
                source = m.get("source") or ""
                source = source if os.path.isabs(source) else os.path.join(bundle, source)
                kind = "dir" if os.path.isdir(source) else "file"
                _mount_at(rootfs, dest, source, None, flags & (sc.MS_BIND | sc.MS_REC),
                          create=kind)
                extra = flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
                if extra:
                    _remount(rootfs, dest, extra)
            elif fstype == "tmpfs":
                _mount_tmpfs(rootfs, dest, m.get("source") or fstype, flags, data, copyup)
            else:
                special = fstype in ("proc", "sysfs")
                _mount_at(rootfs, dest, m.get("source") or fstype, fstype, flags, data,
                          refuse_symlink=special)
            for prop in propagation:
                _mount_at(rootfs, dest, None, None, prop, create=None)
        except OSError as exc:
            raise RootfsError(f"mount {m.get('source')!r} on {dest!r}: {exc.strerror or exc}") \
                from exc


def _copy_tree(src: str, dst: str) -> None:
    """Copy the contents of directory ``src`` into ``dst``, keeping modes,
    owners and symlinks (``cp -a`` of the children)."""
    for name in os.listdir(src):
        s_path, d_path = os.path.join(src, name), os.path.join(dst, name)
        st = os.lstat(s_path)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(s_path), d_path)
        elif stat.S_ISDIR(st.st_mode):
            os.mkdir(d_path)
            _copy_tree(s_path, d_path)
        elif stat.S_ISREG(st.st_mode):
            shutil.copyfile(s_path, d_path, follow_symlinks=False)
        else:
            os.mknod(d_path, st.st_mode, st.st_rdev)
        os.lchown(d_path, st.st_uid, st.st_gid)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(d_path, stat.S_IMODE(st.st_mode))


def _mount_tmpfs(rootfs: str, dest: str, source: str, flags: int, data: str,
                 copyup: bool) -> None:
    """tmpfs on ``dest`` as runc mounts it: with ``copyup`` (runc's
    tmpcopyup) it starts as a copy of what ``dest`` held, and when ``dest``
    existed its mode carries over to the tmpfs root.

    The fd opened before the mount still names the directory underneath, so
    the copy reads through it after the tmpfs covers the path.
    """
    try:
        lower = open_in_root(rootfs, dest)
        mode: int | None = stat.S_IMODE(os.fstat(lower).st_mode)
    except FileNotFoundError:
        lower, mode = open_in_root(rootfs, dest, create="dir"), None
    try:
        sc.mount(source, _fd_path(lower), "tmpfs",
                 flags & ~sc.MS_RDONLY if copyup else flags, data or None)
        upper = open_in_root(rootfs, dest)
        try:
            if copyup:
                _copy_tree(_fd_path(lower), _fd_path(upper))
                if flags & sc.MS_RDONLY:
                    sc.mount(None, _fd_path(upper), None,
                             sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | flags, None)
            if mode is not None and not flags & sc.MS_RDONLY:
                os.chmod(_fd_path(upper), mode)
        finally:
            os.close(upper)
    finally:
        os.close(lower)


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


def pivot_root(rootfs: str) -> None:
    """pivot_root(".", ".") then lazily detach the old root stacked on top."""
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new_root = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new_root)
        sc.pivot_root(".", ".")
        os.fchdir(old_root)
        # slave, not private: unmounting must not propagate to the host.
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
        os.chdir("/")
    except OSError as exc:
        raise RootfsError(f"pivot_root to {rootfs!r}: {exc.strerror or exc}") from exc
    finally:
        os.close(old_root)
        os.close(new_root)


def apply_sysctl(sysctl: dict | None) -> None:
    """Write linux.sysctl through the container's /proc/sys (after pivot_root)."""
    for key, value in (sysctl or {}).items():
        rel = key.replace(".", "/")
        if ".." in rel.split("/"):
            raise InvalidArgument(f"invalid sysctl {key!r}")
        fd = open_in_root("/proc/sys", rel)
        try:
            with open(os.open(_fd_path(fd), os.O_WRONLY | os.O_CLOEXEC), "w") as f:
                f.write(str(value))
        except OSError as exc:
            raise RootfsError(f"set sysctl {key}={value!r}: {exc.strerror}") from exc
        finally:
            os.close(fd)


def mask_paths(paths: list[str] | None) -> None:
    """Hide files behind /dev/null and directories behind a read-only tmpfs."""
    null = os.open("/dev/null", _O_PATH)
    try:
        st = os.fstat(null)
        if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
            raise RootfsError("/dev/null in the container is not the null device")
        for path in paths or ():
            try:
                fd = open_in_root("/", path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    sc.mount("tmpfs", _fd_path(fd), "tmpfs", sc.MS_RDONLY)
                else:
                    sc.mount(_fd_path(null), _fd_path(fd), None, sc.MS_BIND)
            except OSError as exc:
                raise RootfsError(f"mask {path!r}: {exc.strerror}") from exc
            finally:
                os.close(fd)
    finally:
        os.close(null)


def readonly_paths(paths: list[str] | None) -> None:
    for path in paths or ():
        try:
            fd = open_in_root("/", path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            sc.mount(_fd_path(fd), _fd_path(fd), None, sc.MS_BIND | sc.MS_REC)
            _remount("/", path, sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
        except OSError as exc:
            raise RootfsError(f"make {path!r} read-only: {exc.strerror}") from exc
        finally:
            os.close(fd)


def remount_root_readonly() -> None:
    try:
        _remount("/", "/", sc.MS_RDONLY)
    except OSError as exc:
        raise RootfsError(f"remount / read-only: {exc.strerror}") from exc
