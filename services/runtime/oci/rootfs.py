"""The container's root filesystem: mounts, pivot_root, masked and read-only
paths (the device nodes in /dev are :mod:`.devnodes`).

Runs inside the container init, in its new mount namespace, as root. Every
mount target is resolved one component at a time under the rootfs with
O_PATH|O_NOFOLLOW (symlinks are followed as if the rootfs were ``/``, never out
of it), once. A new mount is built detached with the fd-based mount API
(``open_tree`` clone of a bind source, ``fsopen``/``fsmount`` of a filesystem),
given its flags and contents through its own fd, then attached with
``move_mount`` onto the target fd. Flags, propagation and copy-up then go
through that mount fd: a path is never resolved again after a mount, since the
old target fd names the covered directory and a new lookup could be redirected
by a symlink swapped in meanwhile (CVE-2021-30465).
"""

from __future__ import annotations

import os
import stat
from collections import deque
from typing import Callable

from client.errors import FailedPrecondition, InvalidArgument

from . import mountapi as ma
from . import mountopts
from . import syscalls as sc
from .cgroups import CgroupV1, CgroupV2
from .copytree import copy_tree

__all__ = [
    "RootfsError", "parse_options", "open_in_root", "prepare_root", "mount_all",
    "pivot_root", "apply_sysctl", "mask_paths", "readonly_paths", "remount_root_readonly",
    "finish_readonly",
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

_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class RootfsError(FailedPrecondition):
    """The rootfs could not be set up as config.json asks."""


def parse_options(options: list[str] | None) -> tuple[int, list[int], str]:
    """(mount flags, propagation flags to apply after, filesystem data string);
    the recursive attributes (``rro``...) are :func:`mountopts.recursive_attrs`'."""
    flags, propagation, data = 0, [], []
    for opt in options or ():
        if opt in _SET:
            flags |= _SET[opt]
        elif opt in _CLEAR:
            flags &= ~_CLEAR[opt]
        elif opt in _PROPAGATION:
            propagation.append(_PROPAGATION[opt])
        elif opt in mountopts.RECURSIVE:
            continue
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
              data: str | None = None) -> None:
    """mount(2) on ``dest``: only for an explicit ``remount`` of what is there."""
    fd = open_in_root(rootfs, dest)
    try:
        sc.mount(source, _fd_path(fd), fstype, flags, data or None)
    finally:
        os.close(fd)


def _set_flags(mount_fd: int, flags: int) -> None:
    """Add the per-mount part of MS_* ``flags`` to the mount ``mount_fd`` names."""
    attr_set, attr_clr = ma.attr_from_ms(flags)
    if attr_set or attr_clr:
        ma.mount_setattr(mount_fd, attr_set, attr_clr)


def _attach(mount_fd: int, target_fd: int, flags: int = 0) -> int:
    """Give the detached mount ``mount_fd`` the per-mount ``flags``, then
    attach it on ``target_fd``; ``mount_fd`` (returned) then names the
    attached mount. Closes it if either fails."""
    try:
        _set_flags(mount_fd, flags)
        ma.move_mount_fd(mount_fd, target_fd)
    except BaseException:
        os.close(mount_fd)
        raise
    return mount_fd


def _bind(rootfs: str, dest: str, source: str, flags: int, create: str | None = "dir",
          source_fd: int | None = None) -> int:
    """Bind host path ``source`` (or what ``source_fd`` names) on ``dest``
    (recursively with MS_REC), the other per-mount ``flags`` set before it
    is attached. Returns the mount fd."""
    target = open_in_root(rootfs, dest, create=create)
    try:
        recursive = ma.AT_RECURSIVE if flags & sc.MS_REC else 0
        if source_fd is not None:
            clone = ma.open_tree(source_fd, "", ma.OPEN_TREE_CLONE | ma.AT_EMPTY_PATH | recursive)
        else:
            clone = ma.open_tree(ma.AT_FDCWD, source, ma.OPEN_TREE_CLONE | recursive)
        return _attach(clone, target, flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT))
    finally:
        os.close(target)


def _new_mount(rootfs: str, dest: str, fstype: str, source: str | None, flags: int,
               data: str | None, refuse_symlink: bool = False) -> int:
    """A new ``fstype`` mount on ``dest``, as mount(2) would make it. Returns
    the mount fd."""
    target = open_in_root(rootfs, dest, create="dir", refuse_symlink=refuse_symlink)
    try:
        return _attach(ma.new_mount(fstype, source, flags, data), target)
    finally:
        os.close(target)


def _mount_under(path: str) -> tuple[str, bool]:
    """(mount point, shared) of the mount ``path`` lies on, from mountinfo."""
    best, shared = "/", False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].replace("\\040", " ")
            if path == point or path.startswith(point.rstrip("/") + "/"):
                if len(point) >= len(best):
                    optional = fields[6:fields.index("-")]
                    best, shared = point, any(o.startswith("shared:") for o in optional)
    return best, shared


def prepare_root(rootfs: str, propagation: str | None) -> None:
    """Stop mount events flowing back to the host, then make the rootfs a mount.

    With a ``rootfsPropagation`` (a shared or slave bind asked for one), ``/``
    gets it instead of rslave, and the mount the rootfs lies on is made
    private if shared (runc's ``rootfsParentMountPrivate``): pivot_root
    refuses a shared parent, and the container's own mounts on the rootfs
    must not propagate to the host; only its binds keep their peers."""
    root_flags = _PROPAGATION.get(propagation or "rslave")
    if root_flags is None:
        raise InvalidArgument(f"invalid rootfsPropagation {propagation!r}")
    sc.mount(None, "/", None, root_flags)
    if propagation:
        point, shared = _mount_under(os.path.realpath(rootfs))
        if shared:
            sc.mount(None, point, None, sc.MS_PRIVATE)
    sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    if not propagation:
        sc.mount(None, rootfs, None, sc.MS_PRIVATE | sc.MS_REC)


def _mount_cgroup(rootfs: str, m: dict, flags: int, cgroup: CgroupV1 | CgroupV2 | None,
                  cgroupns: bool) -> int | None:
    """The cgroup filesystem at ``m["destination"]``; returns its mount fd.

    On v1 it is, as Docker has it, a tmpfs with each controller's container
    directory bound in. The binds carry the mount's flags (read-only unless
    the spec asks ``rw``); with ``ro`` the tmpfs is made read-only after them
    too, as runc did until 1.0.0-rc91, so nothing can be created beside them.
    """
    dest = m["destination"]
    flags &= ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    if isinstance(cgroup, CgroupV2) or cgroup is None:
        if cgroupns:
            return _new_mount(rootfs, dest, "cgroup2", "cgroup2", flags, None)
        if cgroup is not None:
            return _bind(rootfs, dest, cgroup.path, flags)
        return None
    tmpfs = _new_mount(rootfs, dest, "tmpfs", "tmpfs", flags & ~sc.MS_RDONLY, "mode=755")
    try:
        # The tmpfs is new and only this process knows it: single names under
        # its fd, no path walk.
        for hierarchy, host_dir in cgroup.container_mounts():
            os.mkdir(hierarchy.name, 0o755, dir_fd=tmpfs)
            sub = os.open(hierarchy.name, _O_PATH | os.O_DIRECTORY, dir_fd=tmpfs)
            try:
                os.close(_attach(ma.open_tree(ma.AT_FDCWD, host_dir, ma.OPEN_TREE_CLONE), sub,
                                 flags))
            finally:
                os.close(sub)
            subsystems = [s for s in hierarchy.subsystems if not s.startswith("name=")]
            if len(subsystems) > 1:
                for s in subsystems:
                    if s != hierarchy.name:
                        os.symlink(hierarchy.name, s, dir_fd=tmpfs)
        if flags & sc.MS_RDONLY:
            ma.mount_setattr(tmpfs, ma.MOUNT_ATTR_RDONLY)
    except BaseException:
        os.close(tmpfs)
        raise
    return tmpfs


def _sysfs_in_userns(rootfs: str, dest: str, flags: int) -> int:
    """The host's /sys bound (with its submounts) where a user namespace may
    not mount sysfs: its network namespace belongs to the host (runc's
    fallback). The mount's flags go on the copy."""
    return _bind(rootfs, dest, "/sys", sc.MS_REC | (flags & ~(sc.MS_BIND | sc.MS_REMOUNT)))


def mount_all(spec: dict, rootfs: str, bundle: str,
              cgroup: CgroupV1 | CgroupV2 | None, cgroupns: bool, userns: bool = False,
              source_fds: dict[int, int] | None = None) -> None:
    """Perform ``spec["mounts"]`` in order under ``rootfs``; in a user
    namespace (``userns``) a sysfs it may not mount is the host's, bound,
    and a bind's source may come as an fd (``source_fds``, by index)."""
    for index, m in enumerate(spec.get("mounts") or []):
        dest, fstype = m["destination"], m.get("type") or ""
        options = list(m.get("options") or ())
        # runc's tmpcopyup extension, for tmpfs only (elsewhere it stays refused)
        copyup = fstype == "tmpfs" and "tmpcopyup" in options
        if copyup:
            options = [o for o in options if o != "tmpcopyup"]
        flags, propagation, data = parse_options(options)
        rec_set, rec_clr = mountopts.recursive_attrs(options)
        if mountopts.delays_readonly(fstype, dest):
            flags &= ~sc.MS_RDONLY  # read-only in finish_readonly, once /dev is filled
        try:
            mnt: int | None
            if fstype == "cgroup" or fstype == "cgroup2":
                mnt = _mount_cgroup(rootfs, m, flags, cgroup, cgroupns)
            elif flags & sc.MS_BIND:
                source = m.get("source") or ""
                source = source if os.path.isabs(source) else os.path.join(bundle, source)
                source_fd = (source_fds or {}).get(index)
                is_dir = stat.S_ISDIR(os.fstat(source_fd).st_mode) if source_fd is not None \
                    else os.path.isdir(source)
                mnt = _bind(rootfs, dest, source, flags, create="dir" if is_dir else "file",
                            source_fd=source_fd)
            elif flags & sc.MS_REMOUNT:
                _mount_at(rootfs, dest, m.get("source") or fstype, fstype, flags, data)
                mnt = open_in_root(rootfs, dest) if rec_set or rec_clr else None
            elif fstype == "tmpfs":
                mnt = _mount_tmpfs(rootfs, dest, m.get("source") or fstype, flags, data, copyup)
            else:
                try:
                    mnt = _new_mount(rootfs, dest, fstype, m.get("source") or fstype, flags, data,
                                     refuse_symlink=fstype in ("proc", "sysfs"))
                except PermissionError:
                    if not (userns and fstype == "sysfs"):
                        raise
                    mnt = _sysfs_in_userns(rootfs, dest, flags)
            if mnt is not None:
                try:
                    # on the mount just made, through its fd: never by path
                    if rec_set or rec_clr:
                        ma.mount_setattr(mnt, rec_set, rec_clr, recursive=True)
                    for prop in propagation:
                        ma.mount_setattr(mnt, propagation=prop & ~sc.MS_REC,
                                         recursive=bool(prop & sc.MS_REC))
                finally:
                    os.close(mnt)
        except OSError as exc:
            raise RootfsError(f"mount {m.get('source')!r} on {dest!r}: {exc.strerror or exc}") \
                from exc


def _mount_tmpfs(rootfs: str, dest: str, source: str, flags: int, data: str,
                 copyup: bool) -> int:
    """tmpfs on ``dest`` as runc mounts it: with ``copyup`` (runc's
    tmpcopyup) it starts as a copy of what ``dest`` held, and when ``dest``
    existed its mode carries over to the tmpfs root. Returns the mount fd.

    The tmpfs is filled and given its mode while still detached, through its
    own fd; the fd opened on ``dest`` before names the directory underneath,
    which is what the copy reads.
    """
    try:
        lower = open_in_root(rootfs, dest)
        mode: int | None = stat.S_IMODE(os.fstat(lower).st_mode)
    except FileNotFoundError:
        lower, mode = open_in_root(rootfs, dest, create="dir"), None
    try:
        mnt = ma.new_mount("tmpfs", source, flags & ~sc.MS_RDONLY if copyup else flags,
                           data or None)
        try:
            if copyup:
                src = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=lower)
                try:
                    copy_tree(src, mnt)
                finally:
                    os.close(src)
                if flags & sc.MS_RDONLY:
                    ma.mount_setattr(mnt, ma.MOUNT_ATTR_RDONLY)
            if mode is not None and not flags & sc.MS_RDONLY:
                os.chmod(_fd_path(mnt), mode)
        except BaseException:
            os.close(mnt)
            raise
        return _attach(mnt, lower)
    finally:
        os.close(lower)


def pivot_root(rootfs: str, propagation: str | None = None) -> None:
    """pivot_root(".", ".") then lazily detach the old root stacked on top;
    then the new ``/`` gets ``propagation`` (a rootfsPropagation), as runc
    applies it: after the pivot, since pivot_root refuses a shared root.
    Without one, a ``/`` that :func:`prepare_root` made shared (Docker's
    ``shared`` rootfsPropagation) makes the new ``/`` shared too."""
    if propagation is None and _mount_under("/")[1]:
        propagation = "shared"
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
        if propagation:
            sc.mount(None, "/", None, _PROPAGATION[propagation])
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


def _each_existing(paths: list[str] | None, what: str, act: Callable[[int], None]) -> None:
    """``act(fd)`` with an O_PATH fd of each of ``paths`` that exists in the
    container (after pivot_root, resolved under ``/``); a path that is not
    there is skipped. ``what`` names the step in errors: "mask {!r}"."""
    for path in paths or ():
        try:
            fd = open_in_root("/", path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            act(fd)
        except OSError as exc:
            raise RootfsError(f"{what.format(path)}: {exc.strerror}") from exc
        finally:
            os.close(fd)


def mask_paths(paths: list[str] | None) -> None:
    """Hide files behind /dev/null and directories behind a read-only tmpfs."""
    null = os.open("/dev/null", _O_PATH)

    def mask(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            sc.mount("tmpfs", _fd_path(fd), "tmpfs", sc.MS_RDONLY)
        else:
            sc.mount(_fd_path(null), _fd_path(fd), None, sc.MS_BIND)

    try:
        st = os.fstat(null)
        if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
            raise RootfsError("/dev/null in the container is not the null device")
        _each_existing(paths, "mask {!r}", mask)
    finally:
        os.close(null)


def readonly_paths(paths: list[str] | None) -> None:
    """Bind each path (with its submounts) over itself read-only, nosuid,
    nodev, noexec: the flags go on the detached copy before it is attached."""

    def bind_readonly(fd: int) -> None:
        clone = ma.open_tree(fd, "", ma.OPEN_TREE_CLONE | ma.AT_RECURSIVE | ma.AT_EMPTY_PATH)
        os.close(_attach(clone, fd, sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC))

    _each_existing(paths, "make {!r} read-only", bind_readonly)


def remount_root_readonly() -> None:
    """Make the root mount read-only through an fd on it (its other flags stay)."""
    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        ma.mount_setattr(root, ma.MOUNT_ATTR_RDONLY)
    except OSError as exc:
        raise RootfsError(f"remount / read-only: {exc.strerror}") from exc
    finally:
        os.close(root)


def finish_readonly(spec: dict) -> None:
    """After pivot_root, once the rootfs is complete: make read-only the
    read-only mounts :func:`mount_all` made read-write (tmpfs mounts and
    /dev, :func:`mountopts.delays_readonly`), each only its own mount (as
    runc's bind remount: /dev/pts below a read-only /dev stays writable)."""
    for m in spec.get("mounts") or ():
        dest, fstype = m["destination"], m.get("type") or ""
        if not mountopts.delays_readonly(fstype, dest):
            continue
        options = [o for o in m.get("options") or () if o != "tmpcopyup"]
        if not parse_options(options)[0] & sc.MS_RDONLY:
            continue
        _each_existing([dest], "remount {!r} read-only",
                       lambda fd: ma.mount_setattr(fd, ma.MOUNT_ATTR_RDONLY))
