"""Resolve a path inside a container's root as the container itself would,
without ever leaving that root: what ``cp`` and ``StatPath`` look through.

Contract of :func:`resolve_in_root` (``openat2`` ``RESOLVE_IN_ROOT``
semantics, done by a walk over held fds so it also names where it went):
each component is opened ``O_PATH|O_NOFOLLOW`` relative to the fd of the
directory before it; ``..`` returns to the fd held for the parent (never the
root's parent, never a ``..`` lookup on disk, so a directory moved meanwhile
cannot lead out); a symlink is read (``readlinkat`` on its own ``O_PATH``
fd, the very inode that was opened) and its target walked in its place, an
absolute target from the root again. A symlink to ``/`` or ``/etc`` thus
lands on the container's own root or ``/etc``. At most 40 symlinks are
followed per resolution (the kernel's limit); magic links of a ``/proc``
inside the root are plain symlinks here, their text resolved in the root.

Mount points inside the root are crossed (a running container's volumes are
seen through ``/proc/<pid>/root``). ``binds`` maps canonical in-root paths
to host paths for a stopped container, whose volumes are not mounted: the
walk continues in the host path as the container would see its mount.

``mkdir(dir_fd, name)``, when given, is called for a component that does not
exist (``name`` in the directory ``dir_fd``, an ``O_PATH`` fd of the walk) and
the walk goes on into what it made: ``mkdir -p`` resolved exactly as the
lookup is, a dangling symlink's target made inside the root, never outside.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["MAX_SYMLINKS", "Resolved", "resolve_in_root"]

MAX_SYMLINKS = 40
_OPEN = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Resolved:
    """Where a path led: ``fd`` (an ``O_PATH`` fd of it), ``parent_fd`` (the
    ``O_PATH`` fd of its directory, -1 for the root), ``leaf`` (its name in
    that directory), ``path`` (canonical, absolute inside the root) and
    ``st`` (its ``lstat``). :meth:`close` releases both fds."""

    fd: int
    parent_fd: int
    leaf: str
    path: str
    st: os.stat_result

    def close(self) -> None:
        for fd in (self.fd, self.parent_fd):
            if fd >= 0:
                os.close(fd)
        self.fd = self.parent_fd = -1

    def __enter__(self) -> Resolved:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p and p != "."]


def resolve_in_root(root_fd: int, path: str, *, follow_last: bool,
                    binds: Mapping[str, str] | None = None,
                    mkdir: Callable[[int, str], None] | None = None) -> Resolved:
    """Resolve ``path`` (absolute or relative, both from the root) inside ``root_fd``.

    ``follow_last`` follows a final symlink; a path ending in ``/`` or ``/.``
    always does and must name a directory. Raises ``FileNotFoundError``,
    ``NotADirectoryError`` or ``OSError(ELOOP)`` as the kernel would.
    """
    must_dir = path.endswith("/") or path.endswith("/.") or path == "."
    follow_last = follow_last or must_dir
    stack: list[tuple[int, str]] = [(os.dup(root_fd), "")]
    todo = deque(_parts(path))
    links = 0
    bound = ""  # the host path the top of the stack was redirected to by ``binds``
    try:
        while todo:
            comp = todo.popleft()
            if comp == "..":
                if len(stack) > 1:
                    os.close(stack.pop()[0])
                bound = ""
                continue
            cur = stack[-1][0]
            try:
                fd = os.open(comp, _OPEN, dir_fd=cur)
            except FileNotFoundError:
                if mkdir is None:
                    raise
                mkdir(cur, comp)
                fd = os.open(comp, _OPEN, dir_fd=cur)
            try:
                st = os.fstat(fd)
                last = not todo
                if stat.S_ISLNK(st.st_mode) and (follow_last or not last):
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
                    target = os.fsdecode(os.readlink(b"", dir_fd=fd))
                    if target.startswith("/"):
                        while len(stack) > 1:
                            os.close(stack.pop()[0])
                    todo.extendleft(reversed(_parts(target)))
                    continue
                canonical = "/" + "/".join([*(n for _, n in stack[1:]), comp])
                if binds and canonical in binds:
                    os.close(fd)
                    fd = -1
                    fd = os.open(binds[canonical], os.O_PATH | os.O_CLOEXEC)
                    st = os.fstat(fd)
                bound = binds[canonical] if binds and canonical in binds else ""
                if not last and not stat.S_ISDIR(st.st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
                stack.append((fd, comp))
                fd = -1
            finally:
                if fd >= 0:
                    os.close(fd)
        canonical = "/" + "/".join(n for _, n in stack[1:])
        fd, leaf = stack.pop()
        parent = stack.pop()[0] if stack else -1
        resolved = Resolved(fd=fd, parent_fd=parent, leaf=leaf, path=canonical, st=os.fstat(fd))
        if bound and not stat.S_ISDIR(resolved.st.st_mode):
            # a bound file: its handles name the host file, not what the rootfs holds under it
            try:
                host_dir = os.open(os.path.dirname(bound) or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            except BaseException:
                resolved.close()
                raise
            os.close(resolved.parent_fd)
            resolved.parent_fd, resolved.leaf = host_dir, os.path.basename(bound)
        if must_dir and not stat.S_ISDIR(resolved.st.st_mode):
            resolved.close()
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
        return resolved
    finally:
        for fd, _ in stack:
            os.close(fd)
