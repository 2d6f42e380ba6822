"""The build context as Docker's legacy builder sees it: which paths exist,
how a COPY source path resolves, and the walks over it.

docker 20.10's CLI tars a context directory through ``.dockerignore``
(docker/cli ``build.TrimBuildFilesFromExcludes`` and moby
``archive.TarWithOptions``) and the daemon extracts it, then deletes the
Dockerfile and ``.dockerignore`` when the patterns exclude them (moby
``remotecontext.removeDockerfile``). :class:`ContextView` answers the same
questions over the directory on disk, without a copy:

* the CLI's walk (``mode="send"``): an excluded file is left out; an excluded
  directory is left out and not entered unless an exception pattern starts
  with its path (``!dir/keep``), in which case its children are tested one by
  one and it exists on the daemon only as the parent of what was sent;
* the daemon's view (``mode="visible"``): what was sent, less a removed
  Dockerfile/.dockerignore; a directory that exists only as a parent is an
  *implicit* entry;
* :meth:`ContextView.resolve` is moby's ``FollowSymlinkInScope`` over that
  view: an absolute or ``../`` symlink target is re-rooted at the context,
  never read from outside it; more than 255 links is an error.

Every directory is entered with ``O_NOFOLLOW|O_DIRECTORY`` relative to its
parent's fd, so a symlink swapped in during a walk is never followed.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from client.dockerfile.ignore import IgnoreMatcher, clean_path, go_class, read_dockerignore
from client.errors import InvalidArgument

__all__ = [
    "BuildContextError",
    "ContextView",
    "Entry",
    "OutsideScope",
    "contains_wildcards",
    "go_match",
]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_LINKS = 255


class BuildContextError(InvalidArgument):
    """The context, a source or a download is refused; the message is complete
    (Docker's words, e.g. ``COPY failed: ...``) and is printed as it is."""


class OutsideScope(Exception):
    """A path leaves the context root, or resolving it failed (moby reports
    both as "forbidden path outside the build context")."""


@dataclass(frozen=True)
class Entry:
    """One walked path: ``rel`` from the context root, its lstat, and the fd of
    its parent directory (open while the walk is at this entry)."""

    rel: str
    name: str
    st: os.stat_result
    dfd: int
    implicit: bool = False

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


def _sort_key(name: str) -> bytes:
    return os.fsencode(name)  # Go sorts names as bytes


class ContextView:
    """The context directory ``root`` (resolved, a directory) filtered as the
    daemon would see it. ``ignore_text`` is the .dockerignore text (None: no
    file); ``dockerfile_rel`` the Dockerfile's path in the context, if inside.
    ``filtered=False`` is a context that came as a tar: nothing is filtered,
    only the Dockerfile and .dockerignore are removed when excluded."""

    def __init__(self, root: Path, ignore_text: str | None, dockerfile_rel: str | None,
                 *, filtered: bool = True) -> None:
        self.root = root
        keep = IgnoreMatcher.from_dockerignore(ignore_text or "")
        patterns = read_dockerignore(ignore_text or "")
        self._removed = {n for n in (".dockerignore", dockerfile_rel)
                         if n and keep.is_excluded(n)}
        if not filtered:
            patterns = []
        elif patterns:
            patterns += ["!" + n for n in sorted(self._removed, key=_sort_key)]
        self._send = IgnoreMatcher(patterns)
        self._exceptions = [p.text + "/" for p in self._send.patterns if p.exception]
        self._filled: dict[str, bool] = {}

    # ---- what exists -----------------------------------------------------------------------

    def sent_excluded(self, rel: str) -> bool:
        """Whether the CLI leaves ``rel`` out (it may still exist as a parent)."""
        return self._send.is_excluded(rel)

    def _enters(self, rel: str) -> bool:
        """Whether the CLI's walk enters directory ``rel``."""
        if not self._send.is_excluded(rel):
            return True
        prefix = rel + "/"
        return any(e.startswith(prefix) for e in self._exceptions)

    def is_visible(self, rel: str, is_dir: bool) -> bool:
        """Whether ``rel`` (which exists on disk) exists in the daemon's view."""
        if not rel:
            return True
        parts = rel.split("/")
        for i in range(1, len(parts)):
            if not self._enters("/".join(parts[:i])):
                return False
        if rel in self._removed:
            return False
        if not self._send.is_excluded(rel):
            return True
        return is_dir and self._enters(rel) and self._filled_below(rel)

    def is_implicit(self, rel: str, is_dir: bool) -> bool:
        """A visible directory that exists only as the parent of sent paths."""
        return bool(rel) and is_dir and self._send.is_excluded(rel) and self.is_visible(rel, True)

    def _filled_below(self, rel: str) -> bool:
        if rel not in self._filled:
            fd = self.open_dir(rel)
            try:
                self._filled[rel] = next(iter(self._walk_fd(fd, rel, "visible", None)), None) is not None
            finally:
                os.close(fd)
        return self._filled[rel]

    def lstat(self, rel: str) -> os.stat_result | None:
        """The lstat of ``rel`` when it exists in the view, else None."""
        try:
            st = os.lstat(self.root / rel if rel else self.root)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st if self.is_visible(rel, stat.S_ISDIR(st.st_mode)) else None

    # ---- fds ---------------------------------------------------------------------------------

    def open_dir(self, rel: str) -> int:
        """An fd of directory ``rel``, opened one component at a time, never
        through a symlink (ELOOP/ENOTDIR raise OSError)."""
        fd = os.open(self.root, _DIR)
        try:
            for part in rel.split("/") if rel else []:
                nxt = os.open(part, _DIR, dir_fd=fd)
                os.close(fd)
                fd = nxt
            return fd
        except BaseException:
            os.close(fd)
            raise

    # ---- walks -------------------------------------------------------------------------------

    def walk(self, top: str = "", mode: str = "visible",
             prune: re.Pattern[str] | None = None) -> Iterator[Entry]:
        """Entries strictly below directory ``top``, preorder, names sorted as
        Go's filepath.Walk. ``mode`` "visible": the daemon's view, implicit
        directories flagged; "send": what the CLI tars. ``prune``: a regexp a
        directory's path must match (as a prefix of a pattern) to be entered."""
        fd = self.open_dir(top)
        try:
            yield from self._walk_fd(fd, top, mode, prune)
        finally:
            os.close(fd)

    def _walk_fd(self, dfd: int, top: str, mode: str,
                 prune: re.Pattern[str] | None) -> Iterator[Entry]:
        with os.scandir(dfd) as it:
            names = sorted((e.name for e in it), key=_sort_key)
        for name in names:
            rel = f"{top}/{name}" if top else name
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed since it was listed
            is_dir = stat.S_ISDIR(st.st_mode)
            implicit = False
            if self._send.is_excluded(rel):
                if not is_dir or not self._enters(rel):
                    continue
                if mode == "visible":
                    if not self._filled_below(rel):
                        continue
                    implicit = True
                else:
                    yield from self._enter(dfd, name, rel, mode, prune)
                    continue
            elif mode == "visible" and rel in self._removed:
                continue
            yield Entry(rel, name, st, dfd, implicit)
            if is_dir and (prune is None or prune.match(rel)):
                yield from self._enter(dfd, name, rel, mode, prune)

    def _enter(self, dfd: int, name: str, rel: str, mode: str,
               prune: re.Pattern[str] | None) -> Iterator[Entry]:
        try:
            sub = os.open(name, _DIR, dir_fd=dfd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                return  # replaced since it was listed
            raise
        try:
            yield from self._walk_fd(sub, rel, mode, prune)
        finally:
            os.close(sub)

    # ---- FollowSymlinkInScope ----------------------------------------------------------------

    def resolve(self, path: str) -> str:
        """``path`` (relative to the root) with every symlink resolved inside
        the view; "" is the root. Components that do not exist are kept.
        Raises :class:`OutsideScope` for a path that leaves the root, a loop,
        or a component that is not a directory."""
        cleaned = clean_path(path)
        if cleaned == ".." or cleaned.startswith("../"):
            raise OutsideScope(path)
        pending = [p for p in cleaned.split("/") if p not in ("", ".")]
        done: list[str] = []
        missing = -1  # the index in ``done`` of the first component not in the view
        rounds = 0
        while pending:
            rounds += 1
            if rounds > _MAX_LINKS:
                raise OutsideScope(f"too many links in {path}")
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                if missing >= len(done):
                    missing = -1
                continue
            rel = "/".join([*done, part])
            if missing >= 0:
                done.append(part)
                continue
            try:
                st = os.lstat(self.root / rel)
            except FileNotFoundError:
                st = None
            except OSError as exc:
                raise OutsideScope(f"{path}: {exc.strerror}") from exc
            if st is None or not self.is_visible(rel, stat.S_ISDIR(st.st_mode)):
                missing = len(done)
                done.append(part)
                continue
            if not stat.S_ISLNK(st.st_mode):
                done.append(part)
                continue
            target = os.readlink(self.root / rel)
            if target.startswith("/"):
                done = []
            pending[:0] = target.split("/")
        return "/".join(done)


# ---- Go's filepath.Match ---------------------------------------------------------------------


def contains_wildcards(path: str) -> bool:
    """moby's containsWildcards: an unescaped ``*``, ``?`` or ``[``."""
    i = 0
    while i < len(path):
        if path[i] == "\\":
            i += 2
            continue
        if path[i] in "*?[":
            return True
        i += 1
    return False


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            text, i = go_class(pattern, i)
            out.append(text)
            continue
        elif ch == "\\":
            i += 1
            if i >= len(pattern):
                raise ValueError("bad escape")
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def go_match(pattern: str) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """(whole-path matcher, directory prune) for a Go ``filepath.Match``
    pattern; (None, None) for a malformed one, which Docker's wildcard walk
    treats as matching nothing. The prune regexp matches a directory that a
    match could lie below (None when the pattern has a class or an escape,
    whose "/" cannot be told apart: the whole tree is walked)."""
    try:
        whole = re.compile(_translate(pattern) + r"\Z", re.DOTALL)
    except ValueError:
        return None, None
    if "[" in pattern or "\\" in pattern:
        return whole, None
    segments = [_translate(s) for s in pattern.split("/")[:-1]]
    if not segments:
        return whole, re.compile(r"(?!)")
    prefix = ""
    for seg in reversed(segments):
        prefix = seg + (f"(?:/{prefix})?" if prefix else "")
    return whole, re.compile(prefix + r"\Z", re.DOTALL)
