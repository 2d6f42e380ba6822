"""``barque cp`` and ``barque export`` (docker/cli ``container/cp.go`` and
``container/export.go``), with their remote adapter over the runtime's stub.

The local side of a copy is :mod:`cli.localtar` (imported when a copy runs:
tarfile stays off every other command's start): a local source is
archived by an fd walk that never follows a symlink (unless ``-L`` names
one), and a copy out is extracted beneath its destination directory by fds,
so a symlink inside the copied tree or already in the destination never
leads a write out of it. As docker 20.10, a copy prints
nothing on success; errors exit 1 with Docker's texts.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from typing import NoReturn

from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc

from cli.commands import add_command
from cli.cppaths import (
    CopyError,
    CopyInfo,
    archive_name,
    link_target_path,
    prepare_archive_copy,
    resolve_local_path,
    split_cp_arg,
    split_path_dir_entry,
)
from client.channels import RemoteStub, connect
from client.config import Config
from client.errors import BarqueError, NotFound

__all__ = ["FilesClient", "cmd_cp", "cmd_export", "register"]

#: bytes per CopyTo message from stdin (the runtime streams 1 MiB messages too)
CHUNK = 1 << 20
#: docker's exit status for a failed cp or export (cobra's error path)
FAILED = 1


class FilesClient:
    """The runtime's file RPCs as the CLI sees them."""

    def __init__(self, config: Config) -> None:
        self._stub = RemoteStub(runtime_pb2_grpc.RuntimeStub(connect(config, "runtime")), "runtime")

    def stat_path(self, ref: str, path: str) -> runtime_pb2.PathStat:
        return self._stub.StatPath(runtime_pb2.StatPathRequest(id=ref, path=path)).stat

    def copy_from(self, ref: str, path: str, follow_link: bool) -> tuple[runtime_pb2.PathStat, Iterator[bytes]]:
        """The path's stat (an error raised here, before any data) and the tar's chunks."""
        stream = iter(self._stub.CopyFrom(runtime_pb2.CopyFromRequest(id=ref, path=path, follow_link=follow_link)))
        first = next(stream, None)
        if first is None or first.WhichOneof("msg") != "stat":
            raise BarqueError("the runtime sent no stat before the archive")
        return first.stat, (m.data for m in stream)

    def copy_to(self, ref: str, path: str, chunks: Iterator[bytes], *, copy_uid_gid: bool) -> None:
        def requests() -> Iterator[runtime_pb2.CopyToRequest]:
            yield runtime_pb2.CopyToRequest(header=runtime_pb2.CopyToHeader(
                id=ref, path=path, copy_uid_gid=copy_uid_gid, no_overwrite_dir_non_dir=True))
            for chunk in chunks:
                yield runtime_pb2.CopyToRequest(data=chunk)

        self._stub.CopyTo(requests())

    def export(self, ref: str) -> Iterator[bytes]:
        for message in self._stub.Export(runtime_pb2.ExportRequest(id=ref)):
            yield message.data


def _files(ctx) -> FilesClient:
    return ctx._client("files", FilesClient)


def _fail(message: str) -> NoReturn:
    print(message, file=sys.stderr)
    sys.exit(FAILED)


def _remote_fail(exc: BarqueError, container: str, path: str) -> NoReturn:
    """Docker's client: a 404 names the container:path; anything else is the daemon's text."""
    if isinstance(exc, NotFound):
        _fail(f"Error: No such container:path: {container}:{path}")
    text = str(exc)
    _fail(f"Error response from daemon: {text}" if exc.remote else text)


def _os_text(exc: OSError, call: str = "lstat") -> str:
    """Go's *PathError text: ``lstat /x: no such file or directory``."""
    reason = (exc.strerror or str(exc)).lower() if exc.strerror else str(exc)
    return f"{call} {exc.filename}: {reason}" if exc.filename else reason


# ---- copy out ----------------------------------------------------------------------


def _destination_info(path: str) -> CopyInfo:
    """moby's CopyInfoDestinationPath on the local side: symlinks followed (10 at most)."""
    original = path
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    n = 0
    while st is not None and stat.S_ISLNK(st.st_mode):
        n += 1
        if n > 10:
            raise CopyError(f"too many symlinks in {original}")
        path = link_target_path(path, os.readlink(path))
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
    if st is not None:
        return CopyInfo(path, exists=True, is_dir=stat.S_ISDIR(st.st_mode))
    parent, _ = split_path_dir_entry(path)
    try:
        pst = os.stat(parent)
    except OSError as exc:
        raise CopyError(_os_text(exc, "stat")) from exc
    if not stat.S_ISDIR(pst.st_mode):
        raise CopyError("not a directory")
    return CopyInfo(path)


def _validate_output_path(path: str) -> None:
    directory = os.path.dirname(os.path.normpath(path))
    if directory and directory != "." and not os.path.exists(directory):
        raise CopyError(f'invalid output path: directory "{directory}" does not exist')
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        raise CopyError(f'invalid output path: "{path}" must be a directory or a regular file: got a device')
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise CopyError(f'invalid output path: "{path}" must be a directory or a regular file: '
                        "got an irregular file")


class _ChunkReader:
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def read(self, _n: int = -1) -> bytes:
        for chunk in self._chunks:
            if chunk:
                return chunk
        return b""


def _copy_from_container(ctx, container: str, src: str, dst: str, follow: bool) -> None:
    if dst != "-":
        dst = resolve_local_path(dst)
        _validate_output_path(dst)
    elif follow:
        # docker's client asks for the link's target itself, so a stream's entries bear its name
        try:
            st = _files(ctx).stat_path(container, src)
            if stat.S_ISLNK(st.mode):
                src, follow = link_target_path(src, st.link_target), False
        except BarqueError:
            pass  # the copy below reports it
    try:
        path_stat, chunks = _files(ctx).copy_from(container, src, follow)
    except BarqueError as exc:
        _remote_fail(exc, container, src)
    if dst == "-":
        out = sys.stdout.buffer
        try:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
        except BarqueError as exc:
            _remote_fail(exc, container, src)
        return
    from cli.localtar import LocalCopyError, extract_local

    src_info = CopyInfo(src, exists=True, is_dir=stat.S_ISDIR(path_stat.mode))
    dst_info = _destination_info(dst)
    dst_dir, new_name = prepare_archive_copy(src_info, dst_info)
    rename = (archive_name(src), new_name) if new_name else None
    try:
        extract_local(_ChunkReader(chunks), dst_dir, rename)  # type: ignore[arg-type]
        for _ in chunks:
            pass  # the end marker's rest: the call ends as the runtime sent it, an error raised here
    except BarqueError as exc:
        _remote_fail(exc, container, src)
    except LocalCopyError as exc:
        raise CopyError(str(exc)) from exc


# ---- copy in -------------------------------------------------------------------------


def _source_info(path: str, follow: bool) -> CopyInfo:
    """moby's CopyInfoSourcePath (ResolveHostSourcePath, GetRebaseName): the
    parents resolved; the last component too with ``-L`` or a trailing ``/``,
    the archive then named as the path the user gave."""
    if follow:
        os.lstat(path)  # a missing source fails with the error docker prints
        resolved = os.path.realpath(path)
        if path.endswith("/.") and not resolved.endswith("/."):
            resolved += "/."
        elif path.endswith("/") and not resolved.endswith("/"):
            resolved += "/"
    else:
        head, base = path[: path.rfind("/") + 1], path[path.rfind("/") + 1 :]
        resolved = os.path.realpath(head or ".").rstrip("/") + "/" + base
    rebase = ""
    given, got = split_path_dir_entry(path)[1], split_path_dir_entry(resolved)[1]
    if (follow or path.endswith("/")) and given != got:
        rebase = given
    st = os.lstat(resolved)
    return CopyInfo(resolved, exists=True, is_dir=stat.S_ISDIR(st.st_mode), rebase_name=rebase)


def _local_archive(src: CopyInfo, name: str) -> Iterator[bytes]:
    """The tar of the local source, its top entry named ``name``, in chunks."""
    from cli.localtar import archive_local

    directory, base = split_path_dir_entry(src.path)
    return archive_local(directory, None if base == "." else base, name)


def _stdin_chunks() -> Iterator[bytes]:
    stream = sys.stdin.buffer
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        yield chunk


def _copy_to_container(ctx, container: str, src: str, dst: str, follow: bool, archive: bool) -> None:
    if src != "-":
        src = resolve_local_path(src)
    client = _files(ctx)
    dst_info = CopyInfo(dst)
    try:
        st = client.stat_path(container, dst)
        if stat.S_ISLNK(st.mode):
            dst_info.path = link_target_path(dst, st.link_target)
            st = client.stat_path(container, dst_info.path)
        if stat.S_ISCHR(st.mode) or stat.S_ISBLK(st.mode):
            raise CopyError(f'destination "{container}:{dst}" must be a directory or a regular file: got a device')
        dst_info.exists, dst_info.is_dir = True, stat.S_ISDIR(st.mode)
    except BarqueError:
        pass  # as docker: a missing path may still be created, a missing container fails below
    if src == "-":
        if not dst_info.is_dir:
            raise CopyError(f'destination "{container}:{dst}" must be a directory')
        target, content = dst_info.path, _stdin_chunks()
    else:
        try:
            src_info = _source_info(src, follow)
        except OSError as exc:
            raise CopyError(_os_text(exc)) from exc
        dst_dir, new_name = prepare_archive_copy(src_info, dst_info)
        _, src_base = split_path_dir_entry(src_info.path)
        name = new_name or src_info.rebase_name or src_base
        target, content = dst_dir, _local_archive(src_info, name)
    try:
        client.copy_to(container, target, content, copy_uid_gid=archive)
    except BarqueError as exc:
        _remote_fail(exc, container, target)


# ---- commands ----------------------------------------------------------------------------


def cmd_cp(ctx, args) -> int:
    if not args.src:
        _fail("source can not be empty")
    if not args.dest:
        _fail("destination can not be empty")
    src_container, src_path = split_cp_arg(args.src)
    dst_container, dst_path = split_cp_arg(args.dest)
    try:
        if src_container and dst_container:
            raise CopyError("copying between containers is not supported")
        if src_container:
            _copy_from_container(ctx, src_container, src_path, dst_path, args.follow_link)
        elif dst_container:
            _copy_to_container(ctx, dst_container, src_path, dst_path, args.follow_link, args.archive)
        else:
            raise CopyError("must specify at least one container source")
    except CopyError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(_os_text(exc, "open"))
    return 0


def cmd_export(ctx, args) -> int:
    if not args.output and sys.stdout.isatty():
        _fail("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    try:
        if args.output:
            _validate_output_path(args.output)
    except CopyError as exc:
        _fail(f"failed to export container: {exc}")
    try:
        chunks = _files(ctx).export(args.container)
        if not args.output:
            out = sys.stdout.buffer
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            return 0
        _write_file(args.output, chunks)
    except BarqueError as exc:
        _fail(f"Error response from daemon: {exc}" if exc.remote else str(exc))
    return 0


def _write_file(path: str, chunks: Iterator[bytes]) -> None:
    """docker's CopyToFile: a temp file beside ``path``, renamed over it once complete."""
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".docker_temp_", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def register(sub, container_group) -> None:
    for p in add_command([(sub, "cp"), (container_group, "cp")], cmd_cp,
                         help="Copy files/folders between a container and the local filesystem"):
        p.add_argument("-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid information)")
        p.add_argument("-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH")
        p.add_argument("src", metavar="SRC")
        p.add_argument("dest", metavar="DEST")
    for p in add_command([(sub, "export"), (container_group, "export")], cmd_export,
                         help="Export a container's filesystem as a tar archive"):
        p.add_argument("-o", "--output", default="", help="Write to a file, instead of STDOUT")
        p.add_argument("container", metavar="CONTAINER")
