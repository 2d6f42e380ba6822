"""``docker cp`` and ``docker export`` on the runtime's side: stat a path in a
container, stream a tar of it out, extract a tar into it, and stream the
whole filesystem (moby ``daemon/archive.go``, ``daemon/export.go``).

Which root: a running (or paused) container's is ``/proc/<init pid>/root``,
its own mount namespace's view, so volumes and binds mounted in it are seen
and written as the container sees them, and a copy in goes through the
merged overlay, never its upper dir. A stopped container's is the overlay
mounted at ``<state>/containers/<id>/rootfs`` from create to delete; its
volumes and binds, not mounted there, are reached through their host paths
(:func:`~services.common.safetar.inroot.resolve_in_root`'s ``binds``), as
Docker mounts them for a copy. ``export`` always reads the rootfs mount: no
``/proc``, ``/sys`` or volumes, as ``docker export``.

Every path is resolved inside that root with in-root semantics (a symlink to
``/`` or ``/etc`` lands on the container's own), files are read with the
fd-relative writer and written with the fd-relative extractor of
:mod:`services.common.safetar`; nothing here builds a host path from a
container path.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from client.errors import FailedPrecondition, Internal, InvalidArgument, NotFound
from services.common.log import get_logger
from services.common.safetar.extract import ExtractOptions, extract_tar
from services.common.safetar.inroot import Resolved, resolve_in_root
from services.common.safetar.writer import TarWriter, WriteEntry, chunked
from services.runtime.engine.containers import ContainerRecord, ContainerStore
from services.runtime.engine.status import refresh

__all__ = ["CHUNK", "ContainerFiles", "PathInfo", "archive_name"]

#: most bytes per streamed message: 1 MiB, a sixteenth of a 64 KiB message's
#: per-message cost (each send waits on the sync server's completion queue),
#: well under gRPC's 4 MiB default receive limit; a big file's reads pass through uncopied
CHUNK = 1 << 20
_RDONLY_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
#: filesystems a copy out of a running container lists as empty directories
#: (the daemon's view of a container root has nothing mounted there either)
_PSEUDO_FS = frozenset({"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "securityfs", "debugfs",
                        "tracefs", "pstore", "bpf", "configfs", "fusectl", "binfmt_misc"})

log = get_logger()


@dataclass(frozen=True)
class PathInfo:
    """Docker's ContainerPathStat: ``mode`` is ``st_mode`` as lstat gives it."""

    name: str
    size: int
    mode: int
    mtime: str
    link_target: str = ""


def archive_name(path: str) -> str:
    """The top name of a copy's archive: the path's base name, or ``.`` for the
    root or a ``dir/.`` (the directory's contents); the CLI rebases from it."""
    if path.rstrip("/") in ("", ".") or path.endswith("/.") or path == ".":
        return "."
    return posixpath.basename(path.rstrip("/"))


def _docker_base(path: str) -> str:
    """Go's filepath.Base of the absolute path, as moby names a stat."""
    absolute = "/" + path.lstrip("/")
    if absolute.endswith("/."):
        return "."
    stripped = absolute.rstrip("/")
    return posixpath.basename(stripped) if stripped else "/"


def _rfc3339(ns: int) -> str:
    dt = datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000:09d}Z"


@dataclass
class _Root:
    record: ContainerRecord
    fd: int
    running: bool
    binds: dict[str, str] = field(default_factory=dict)
    pseudo_devs: frozenset[int] = frozenset()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> _Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pseudo_devs(pid: int) -> frozenset[int]:
    devs = set()
    try:
        with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                sep = fields.index("-") if "-" in fields else -1
                if sep < 0 or sep + 1 >= len(fields) or fields[sep + 1] not in _PSEUDO_FS:
                    continue
                major, _, minor = fields[2].partition(":")
                devs.add(os.makedev(int(major), int(minor)))
    except (OSError, ValueError):
        pass
    return frozenset(devs)


def _mkdir_owned(uid: int, gid: int) -> Callable[[int, str], None]:
    """resolve_in_root's ``mkdir``: a 0755 directory owned uid:gid (umask aside)."""
    def mkdir(dir_fd: int, name: str) -> None:
        try:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
        except FileExistsError:
            return  # made meanwhile (or a dangling symlink's own name): the walk reopens it
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, 0o755)
        finally:
            os.close(fd)
    return mkdir


class _Chunks:
    """A read()-able view of a stream of byte chunks, for the tar reader."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)

    def read(self, _n: int = -1) -> bytes:
        for chunk in self._chunks:
            if chunk:
                return chunk
        return b""


class ContainerFiles:
    """Stat, copy out, copy in and export for the containers of ``store``.

    ``emit(action, id, **attrs)`` records Docker's container events
    (``archive-path``, ``extract-to-dir``, ``export``).
    """

    def __init__(self, store: ContainerStore, emit: Callable[..., None] | None = None) -> None:
        self._store = store
        self._emit = emit or (lambda *a, **k: None)

    # ---- roots -----------------------------------------------------------------

    def _root(self, ref: str, *, live: bool = True) -> _Root:
        """The container's root as an fd; ``live=False`` (export) always the rootfs mount."""
        record = self._store.find(ref)
        cdir = self._store.dir(record.id)
        with self._store.lock:
            running = refresh(record, cdir / "shim")
        if live and running and record.pid > 0:
            try:
                fd = os.open(f"/proc/{record.pid}/root", _RDONLY_DIR)
            except OSError:
                fd = -1  # it exited just now: the stopped container's view below
            if fd >= 0:
                return _Root(record, fd, True, pseudo_devs=_pseudo_devs(record.pid))
        rootfs = cdir / "rootfs"
        if not os.path.ismount(rootfs):
            raise FailedPrecondition(f"container {record.id}: its root filesystem is not mounted")
        fd = os.open(rootfs, _RDONLY_DIR)
        binds = {} if not live else {
            "/" + m["Destination"].strip("/"): m["Source"] for m in record.mounts
            if m.get("Type") in ("bind", "volume") and m.get("Source")}
        return _Root(record, fd, False, binds=binds)

    def _resolve(self, root: _Root, ref: str, path: str, *, follow_last: bool,
                 mkdir: Callable[[int, str], None] | None = None) -> Resolved:
        if "\0" in path:  # no file name holds one: refused before os.open's ValueError
            raise InvalidArgument(f"invalid path {path!r} in container {ref}: it contains a NUL byte")
        try:
            return resolve_in_root(root.fd, path, follow_last=follow_last, binds=root.binds, mkdir=mkdir)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFound(f"Could not find the file {path} in container {ref}") from exc
        except OSError as exc:
            raise InvalidArgument(f"cannot resolve {path} in container {ref}: {exc.strerror}") from exc

    # ---- stat --------------------------------------------------------------------

    def stat_path(self, ref: str, path: str) -> PathInfo:
        """moby's ContainerStatPath: the lstat of ``path`` (its parents resolved
        in the root); a symlink's ``link_target`` fully resolved in the root."""
        with self._root(ref) as root, self._resolve(root, ref, path, follow_last=False) as where:
            return self._info(root, where, path)

    def _info(self, root: _Root, where: Resolved, path: str, name: str | None = None) -> PathInfo:
        st = where.st
        target = ""
        if stat.S_ISLNK(st.st_mode):
            try:
                with resolve_in_root(root.fd, path, follow_last=True, binds=root.binds) as final:
                    target = final.path
            except OSError:
                # dangling or looping: where the text points, lexically inside the root
                text = os.fsdecode(os.readlink(b"", dir_fd=where.fd))
                parent = posixpath.dirname(where.path)
                target = posixpath.normpath(text if text.startswith("/") else posixpath.join(parent, text))
                target = "/" + target.lstrip("/")
        return PathInfo(name=name if name is not None else _docker_base(path), size=st.st_size,
                        mode=st.st_mode, mtime=_rfc3339(st.st_mtime_ns), link_target=target)

    # ---- copy out ------------------------------------------------------------------

    def copy_from(self, ref: str, path: str, follow_link: bool) -> Iterator[PathInfo | bytes]:
        """The path's stat, then the tar of it in chunks of about :data:`CHUNK` bytes.

        Entries are named from :func:`archive_name` of the requested path (with
        ``follow_link`` the link's name, as Docker's client rebases it).
        """
        root = self._root(ref)
        try:
            where = self._resolve(root, ref, path, follow_last=follow_link)
        except BaseException:
            root.close()
            raise
        return self._copy_from(root, where, ref, path)

    def _copy_from(self, root: _Root, where: Resolved, ref: str, path: str) -> Iterator[PathInfo | bytes]:
        with root, where:
            yield self._info(root, where, path)
            name = os.fsencode(archive_name(path))
            writer = TarWriter(hook=self._skip_pseudo(root))
            try:
                if stat.S_ISDIR(where.st.st_mode):
                    dfd = os.open(f"/proc/self/fd/{where.fd}", _RDONLY_DIR)
                    try:
                        yield from chunked(writer.tree(dfd, name), CHUNK)
                    finally:
                        os.close(dfd)
                else:
                    yield from chunked(writer.tree(where.parent_fd, name, leaf=os.fsencode(where.leaf)), CHUNK)
            except OSError as exc:
                raise Internal(f"archiving {path} of container {ref}: {exc}") from exc
            yield writer.end()
            self._emit("archive-path", root.record.id, name=root.record.name)
            log.info("container.copy_from", id=root.record.id, path=path, entries=writer.stats.entries,
                     bytes=writer.stats.bytes)

    @staticmethod
    def _skip_pseudo(root: _Root) -> Callable[[WriteEntry], WriteEntry] | None:
        if not root.pseudo_devs:
            return None
        devs = root.pseudo_devs

        def hook(entry: WriteEntry) -> WriteEntry:
            if entry.st is not None and stat.S_ISDIR(entry.st.st_mode) and entry.st.st_dev in devs:
                entry.st = None  # the directory, empty
            return entry

        return hook

    # ---- copy in ------------------------------------------------------------------------

    def copy_to(self, ref: str, path: str, chunks: Iterable[bytes], *, copy_uid_gid: bool,
                no_overwrite_dir_non_dir: bool, make_parents: tuple[int, int] | None = None) -> None:
        """Extract the tar in ``chunks`` into the directory ``path`` (a final
        symlink followed inside the root), as moby's ContainerExtractToDir.

        ``make_parents=(uid, gid)``: ``path`` and its missing parents are made
        first (0755, owned uid:gid), each resolved inside the root as the
        extraction resolves it; existing directories are left as they are."""
        with self._root(ref) as root:
            if make_parents:  # refused before anything is made
                self._check_writable(root.record, posixpath.normpath("/" + path.lstrip("/")))
            mkdir = _mkdir_owned(*make_parents) if make_parents else None
            with self._resolve(root, ref, path, follow_last=True, mkdir=mkdir) as where:
                self._extract(root, where, chunks, copy_uid_gid=copy_uid_gid,
                              no_overwrite_dir_non_dir=no_overwrite_dir_non_dir)

    def _extract(self, root: _Root, where: Resolved, chunks: Iterable[bytes], *, copy_uid_gid: bool,
                 no_overwrite_dir_non_dir: bool) -> None:
        if not stat.S_ISDIR(where.st.st_mode):
            raise InvalidArgument("extraction point is not a directory")
        self._check_writable(root.record, where.path)
        options = ExtractOptions(owner=None if copy_uid_gid else (0, 0),
                                 no_overwrite_dir_non_dir=no_overwrite_dir_non_dir)
        stats = extract_tar(_Chunks(chunks), where.fd, options)  # type: ignore[arg-type]
        self._emit("extract-to-dir", root.record.id, name=root.record.name)
        log.info("container.copy_to", id=root.record.id, path=where.path, entries=stats.files,
                 bytes=stats.bytes)

    @staticmethod
    def _check_writable(record: ContainerRecord, path: str) -> None:
        """moby's checks: a read-only volume, or a read-only rootfs outside any volume, refuses."""
        best = None
        for m in record.mounts:
            dest = "/" + m["Destination"].strip("/")
            if (path == dest or path.startswith(dest.rstrip("/") + "/")) and (
                    best is None or len(dest) > len(best[0])):
                best = (dest, m)
        if best is not None:
            if not best[1].get("RW", True):
                raise FailedPrecondition("mounted volume is marked read-only")
            return
        if record.host_config.readonly_rootfs:
            raise FailedPrecondition("container rootfs is marked read-only")

    # ---- export ---------------------------------------------------------------------------

    def export(self, ref: str) -> Iterator[bytes]:
        """The tar of the container's filesystem (the rootfs mount, no volumes), in chunks."""
        root = self._root(ref, live=False)
        return self._export(root, ref)

    def _export(self, root: _Root, ref: str) -> Iterator[bytes]:
        with root:
            dev = os.fstat(root.fd).st_dev

            def hook(entry: WriteEntry) -> WriteEntry:
                if entry.st is not None and stat.S_ISDIR(entry.st.st_mode) and entry.st.st_dev != dev:
                    entry.st = None  # a mount point: the directory, not what is mounted there
                return entry

            writer = TarWriter(hook=hook)
            try:
                yield from chunked(writer.tree(root.fd, b""), CHUNK)
            except OSError as exc:
                raise Internal(f"exporting container {ref}: {exc}") from exc
            yield writer.end()
            self._emit("export", root.record.id, name=root.record.name)
            log.info("container.export", id=root.record.id, entries=writer.stats.entries,
                     bytes=writer.stats.bytes)
