"""``docker cp``'s path rules, pure: which side is a container, where an
archive lands and under which name (docker/cli ``cli/command/container/cp.go``
splitCpArg; moby ``pkg/archive/copy.go`` SplitPathDirEntry, CopyInfo,
PrepareArchiveCopy, GetRebaseName). Errors carry Docker's texts."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

__all__ = [
    "CopyError",
    "CopyInfo",
    "archive_name",
    "asserts_directory",
    "link_target_path",
    "prepare_archive_copy",
    "preserve_trailing",
    "resolve_local_path",
    "split_cp_arg",
    "split_path_dir_entry",
]


class CopyError(Exception):
    """A copy refused on the client's side; the message is Docker's."""


@dataclass
class CopyInfo:
    """moby's CopyInfo: a source or destination as the copy sees it."""

    path: str
    exists: bool = False
    is_dir: bool = False
    rebase_name: str = ""


def split_cp_arg(arg: str) -> tuple[str, str]:
    """``("ctr", "/path")`` for ``ctr:/path``; ``("", arg)`` for a local path
    (absolute, no colon, or starting with ``.`` before the colon)."""
    if arg.startswith("/"):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return "", arg
    return container, path


def _specifies_current_dir(path: str) -> bool:
    return posixpath.basename(path) == "."


def asserts_directory(path: str) -> bool:
    """The path ends in ``/`` or ``/.``: it must be a directory."""
    return path.endswith("/") or _specifies_current_dir(path)


def preserve_trailing(cleaned: str, original: str) -> str:
    """``cleaned`` with the ``/.`` or ``/`` that ``original`` ended with put back."""
    if not _specifies_current_dir(cleaned) and _specifies_current_dir(original):
        if not cleaned.endswith("/"):
            cleaned += "/"
        cleaned += "."
    if not cleaned.endswith("/") and original.endswith("/"):
        cleaned += "/"
    return cleaned


def split_path_dir_entry(path: str) -> tuple[str, str]:
    """(directory, base) of a cleaned ``path``, keeping a trailing ``.``."""
    cleaned = posixpath.normpath(path) if path else "."
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if _specifies_current_dir(path):
        cleaned = cleaned.rstrip("/") + "/."
    directory = posixpath.dirname(cleaned) or "."
    if directory != "/":
        directory = directory.rstrip("/") or "/"
    base = posixpath.basename(cleaned) or "/"
    return directory, base


def archive_name(path: str) -> str:
    """The top name of the archive of ``path`` (the runtime's engine/copy.py
    names CopyFrom's entries so): its base, or ``.`` for ``/`` and ``dir/.``."""
    if path.rstrip("/") in ("", ".") or path.endswith("/."):
        return "."
    return posixpath.basename(path.rstrip("/"))


def resolve_local_path(path: str) -> str:
    """An absolute local path, keeping a trailing ``/`` or ``/.``."""
    return preserve_trailing(os.path.abspath(path), path)


def link_target_path(link_path: str, target: str) -> str:
    """Where a symlink's target lies, joined with the link's directory if relative."""
    if target.startswith("/"):
        return target
    parent, _ = split_path_dir_entry(link_path)
    return posixpath.normpath(posixpath.join(parent, target))


def prepare_archive_copy(src: CopyInfo, dst: CopyInfo) -> tuple[str, str | None]:
    """moby's PrepareArchiveCopy: (the directory to extract into, the name the
    archive's top entry must take there, or None to keep it)."""
    dst_dir, dst_base = split_path_dir_entry(dst.path)
    if dst.exists and dst.is_dir:
        return dst.path, None
    if dst.exists and src.is_dir:
        raise CopyError("cannot copy directory")
    if dst.exists or src.is_dir:
        return dst_dir, dst_base
    if asserts_directory(dst.path):
        raise CopyError("no such directory")
    return dst_dir, dst_base
