"""Paths as the spec holds them."""

from __future__ import annotations

import posixpath

from client.errors import InvalidArgument

__all__ = ["clean_abs"]


def clean_abs(path: str, what: str) -> str:
    """``path`` cleaned (no ``..``, ``.`` or doubled slashes); it must be
    absolute and free of NUL bytes, else InvalidArgument naming ``what``."""
    if not path.startswith("/") or "\x00" in path:
        raise InvalidArgument(f"{what} {path!r} must be an absolute path")
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/")
