"""The build context of ``barque build``: where it comes from, which files a
COPY/ADD names, their content hash, and the tars that carry them to the
runtime's CopyTo.

Docker 20.10's legacy builder is the reference, both halves of it: its CLI
(docker/cli ``image/build.go`` and ``image/build/context.go``: context and
Dockerfile paths, ``.dockerignore``, the size it reports sending) and its
daemon (moby ``builder/dockerfile/copy.go`` and ``builder/remotecontext``:
source paths, wildcards, symlinks resolved in the context's scope, the
errors, the ``file:``/``dir:``/``multi:`` hashes). Nothing is copied: the
context is read where it lies, as the daemon would see it after receiving
it (see :mod:`cli.buildscope`), and only what a step copies is ever read.

Departure: a Dockerfile-only ``build -`` still has the Dockerfile in its
context, as Docker's (``COPY Dockerfile /`` works there too).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cli.buildfetch import FetchedFile, fetch_url, is_url
from cli.buildhash import ContentDigest, ContextScan, Hasher, go_entry_size, scan_context
from cli.buildscope import BuildContextError, ContextView, OutsideScope, contains_wildcards, go_match
from cli.buildtar import (Source, archive_stream as _archive_stream, compression_of, decompressed,
                          is_tar_header, read_full, source_stream)
from cli.localtar import LocalCopyError, extract_local

__all__ = [
    "BuildContext",
    "BuildContextError",
    "ContentDigest",
    "FetchedFile",
    "Source",
    "archive_stream",
    "fetch_url",
    "is_url",
]

_PREPARE = "unable to prepare context: "
# the Dockerfile outside the context travels as this entry (docker/cli
# AddDockerfileToBuildContext: ".dockerfile." and 20 random hex digits),
# and .dockerignore gains a line naming it
_OUTSIDE_NAME = ".dockerfile." + "0" * 20
_IGNORE_LINE = len("\n" + _OUTSIDE_NAME + "\n")


def _round(n: int) -> int:
    return -(-n // 512) * 512


class _Counted:
    """A read-once stream that first replays ``head``, counting every byte read."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest, self.count = head, rest, len(head)

    def read(self, n: int = -1) -> bytes:
        if self._head:
            piece = self._head if n < 0 else self._head[:n]
            self._head = self._head[len(piece):]
            return piece
        piece = self._rest.read(n)
        self.count += len(piece)
        return piece


def _read_in(view: ContextView, name: str) -> bytes | None:
    """The file ``name`` in the context, resolved in scope; None when absent."""
    try:
        rel = view.resolve(name)
    except OutsideScope:
        return None
    st = view.lstat(rel)
    if st is None or not stat.S_ISREG(st.st_mode):
        return None
    parent, _, leaf = rel.rpartition("/")
    dfd = view.open_dir(parent)
    try:
        fd = os.open(leaf, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    finally:
        os.close(dfd)
    with os.fdopen(fd, "rb") as f:
        return f.read()


class BuildContext:
    """A build's context. Make one with :meth:`from_dir` or :meth:`from_stdin`;
    :meth:`close` removes what :meth:`from_stdin` extracted."""

    def __init__(self, view: ContextView, dockerfile: bytes, dockerfile_name: str, *,
                 outside: bool = False, sent_size: int | None = None, owned: Path | None = None) -> None:
        self.view = view
        self.root = view.root
        self.dockerfile_bytes = dockerfile
        #: the Dockerfile's text (undecodable bytes kept as surrogates)
        self.dockerfile_text = dockerfile.decode("utf-8", "surrogateescape")
        #: the Dockerfile's name as Docker's messages give it
        self.dockerfile_name = dockerfile_name
        self._outside = outside
        self._sent_size = sent_size
        self._owned = owned
        self._scan: ContextScan | None = None
        self._hasher = Hasher(view, lambda: self.scan().links)

    # ---- making one ------------------------------------------------------------------------

    @classmethod
    def from_dir(cls, path: str, dockerfile: str | None = None, *,
                 stdin: BinaryIO | None = None) -> BuildContext:
        """A context directory, as ``docker build [-f DOCKERFILE] PATH``. A
        relative ``dockerfile`` is relative to the working directory; ``-``
        reads it from ``stdin``. Errors are Docker's."""
        if not os.path.exists(path):
            raise BuildContextError(f'{_PREPARE}path "{path}" not found')
        root = Path(os.path.realpath(os.path.abspath(path)))
        if not root.is_dir():
            raise BuildContextError(f"{_PREPARE}context must be a directory: {root}")
        ignore = root / ".dockerignore"
        ignore_text = ignore.read_text("utf-8", "surrogateescape") if ignore.is_file() else None
        if dockerfile == "-":
            if stdin is None:
                raise ValueError("dockerfile '-' needs stdin")
            view = ContextView(root, ignore_text, None)
            return cls(view, stdin.read(), "-", outside=True)
        real = cls._dockerfile_path(root, dockerfile)
        rel = os.path.relpath(real, root)
        outside = rel.startswith("../")
        try:
            text = Path(real).read_bytes()
        except OSError as exc:
            raise BuildContextError(f"{_PREPARE}unable to read Dockerfile: {exc}") from exc
        view = ContextView(root, ignore_text, None if outside else rel)
        return cls(view, text, dockerfile or "Dockerfile", outside=outside)

    @staticmethod
    def _dockerfile_path(root: Path, dockerfile: str | None) -> str:
        if dockerfile:
            given = os.path.abspath(dockerfile)
        else:
            given = str(root / "Dockerfile")
            if not os.path.lexists(given) and os.path.lexists(root / "dockerfile"):
                given = str(root / "dockerfile")
        try:
            return os.path.realpath(given, strict=True)
        except OSError as exc:
            raise BuildContextError(f"{_PREPARE}unable to evaluate symlinks in Dockerfile path: "
                                    f"lstat {exc.filename}: {os.strerror(exc.errno or 0).lower()}") from exc

    @classmethod
    def from_stdin(cls, stream: BinaryIO, tmpdir: Path, dockerfile: str | None = None) -> BuildContext:
        """``docker build - < INPUT``: a tar (plain, gzip, bzip2 or xz) is
        extracted safely into ``tmpdir/context`` and is the context (without
        .dockerignore filtering, as Docker's daemon receives a tar); anything
        else is the Dockerfile. ``stream`` is read once, in pieces."""
        if dockerfile == "-":
            raise BuildContextError("invalid argument: can't use stdin for both build context and dockerfile")
        head = read_full(stream, 512)
        root = Path(tmpdir) / "context"
        root.mkdir(mode=0o700)
        try:
            kind = compression_of(head)
            if kind is None and not (len(head) == 512 and is_tar_header(head)):
                return cls._stdin_dockerfile(root, head, stream, dockerfile)
            counted = _Counted(head, stream)
            try:
                extract_local(decompressed(counted, kind), str(root))  # type: ignore[arg-type]
            except (LocalCopyError, OSError, EOFError, ValueError) as exc:
                raise BuildContextError(f"error processing tar file from stdin: {exc}") from exc
            while counted.read(1 << 20):
                pass  # docker's CLI sends stdin to its end
            return cls._tar_context(root, dockerfile or "Dockerfile", counted.count)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise

    @classmethod
    def _stdin_dockerfile(cls, root: Path, head: bytes, stream: BinaryIO,
                          dockerfile: str | None) -> BuildContext:
        fd = os.open(root / "Dockerfile", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(head)
            shutil.copyfileobj(stream, out, 1 << 20)
        context = cls(ContextView(root, None, "Dockerfile"), (root / "Dockerfile").read_bytes(),
                      "Dockerfile", owned=root)
        return context

    @classmethod
    def _tar_context(cls, root: Path, name: str, sent: int) -> BuildContext:
        probe = ContextView(root, None, None, filtered=False)
        ignore = _read_in(probe, ".dockerignore")
        text = _read_in(probe, name)
        if text is None and name == "Dockerfile":
            text = _read_in(probe, "dockerfile")
            name = "dockerfile" if text is not None else name
        if text is None:
            raise BuildContextError(f"Cannot locate specified Dockerfile: {name}")
        ignore_text = None if ignore is None else ignore.decode("utf-8", "surrogateescape")
        view = ContextView(root, ignore_text, name, filtered=False)
        return cls(view, text, name, sent_size=sent, owned=root)

    def close(self) -> None:
        """Remove what :meth:`from_stdin` extracted (the caller owns ``tmpdir``)."""
        if self._owned is not None:
            shutil.rmtree(self._owned, ignore_errors=True)
            self._owned = None

    def __enter__(self) -> BuildContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the context as sent ----------------------------------------------------------------

    def scan(self) -> ContextScan:
        """The CLI's walk of the context (done once)."""
        if self._scan is None:
            self._scan = scan_context(self.view)
        return self._scan

    def tar_size(self) -> int:
        """Bytes of the context as docker's CLI sends it, for "Sending build
        context to Docker daemon  2.048kB" (also checks every file is readable,
        as Docker's does)."""
        if self._sent_size is not None:
            return self._sent_size
        scan = self.scan()
        size = scan.size
        if self._outside:
            size += go_entry_size(_OUTSIDE_NAME, size=len(self.dockerfile_bytes))
            if scan.dockerignore_size is None:
                size += go_entry_size(".dockerignore", size=len(".dockerignore") + _IGNORE_LINE)
            else:
                size += _round(scan.dockerignore_size + _IGNORE_LINE) - _round(scan.dockerignore_size)
        return size

    # ---- COPY/ADD ---------------------------------------------------------------------------

    def sources(self, patterns: list[str], instruction: str = "COPY") -> list[Source]:
        """The sources ``patterns`` name, as moby's calcCopyInfo (wildcards,
        a leading ``/`` meaning the root, symlinks resolved in scope)."""
        found: list[Source] = []
        for orig in patterns:
            path = orig[1:] if len(orig) > 1 and orig.startswith("/") else orig
            path = path[2:] if path.startswith("./") else path
            if contains_wildcards(path):
                found.extend(self._matches(path, instruction))
            else:
                found.append(self._source(path, instruction))
        if not found:
            raise BuildContextError(f"{instruction} failed: no source files were specified")
        return found

    def _matches(self, pattern: str, instruction: str) -> list[Source]:
        whole, prune = go_match(pattern)
        if whole is None:
            return []
        return [self._source(entry.rel, instruction)
                for entry in self.view.walk("", "visible", prune) if whole.match(entry.rel)]

    def _source(self, path: str, instruction: str) -> Source:
        try:
            rel = self.view.resolve(path)
        except OutsideScope as exc:
            raise BuildContextError(
                f"{instruction} failed: forbidden path outside the build context: {path} ()") from exc
        st = self.view.lstat(rel)
        if st is None or stat.S_ISSOCK(st.st_mode):
            raise BuildContextError(f"{instruction} failed: file not found in build context or "
                                    f"excluded by .dockerignore: stat {path}: file does not exist")
        return Source(name=path, is_dir=stat.S_ISDIR(st.st_mode), path=rel)

    def digest(self, sources: list[Source]) -> ContentDigest:
        """The sources' content hash (names, types, modes, link targets and
        content; not mtimes), as Docker's history and cache key use it."""
        return self._hasher.digest(sources)

    def tar_stream(self, sources: list[Source], *, rename: str | None = None, uid: int = 0,
                   gid: int = 0, chmod: int | None = None) -> Iterator[bytes]:
        """The tar for CopyTo (see :func:`cli.buildtar.source_stream`)."""
        return source_stream(self.view, sources, rename=rename, uid=uid, gid=gid, chmod=chmod)


def archive_stream(ctx: BuildContext, source: Source) -> Iterator[bytes] | None:
    """ADD of a local archive: its decompressed tar, or None when the file is
    not one (see :func:`cli.buildtar.archive_stream`)."""
    return _archive_stream(ctx.view, source)
