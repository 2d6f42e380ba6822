"""Replace a small file so that readers see the old or the new content, never
part of either, and the new content survives a crash once the call returned.

Imports only ``os``: the shim and the zygote load this module and are kept
lean on purpose (see :mod:`services.runtime.shim`).
"""

from __future__ import annotations

import os

__all__ = ["write_atomic", "fsync_dir", "is_temp_of"]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename, link or unlink in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_TOKEN_LEN = 12  # hex digits of the random part of a temporary file's name


def _temp_name(name: str) -> str:
    # unique per call, so concurrent writers of one file never share a temp file
    return f".{name}.{os.urandom(_TOKEN_LEN // 2).hex()}.tmp"


def is_temp_of(entry: str, name: str) -> bool:
    """Whether directory entry ``entry`` is a temporary file of :func:`write_atomic`
    for the file named ``name`` (one a crash left behind)."""
    prefix = f".{name}."
    token = entry[len(prefix):-len(".tmp")]
    return (entry.startswith(prefix) and entry.endswith(".tmp") and len(token) == _TOKEN_LEN
            and all(c in "0123456789abcdef" for c in token))


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to a new file next to ``path`` with exactly ``mode`` (the
    umask does not apply), fsync it, rename it over ``path`` and fsync the
    directory. On any error the temporary file is removed and ``path`` is
    left as it was."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, _temp_name(name))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory or ".")
