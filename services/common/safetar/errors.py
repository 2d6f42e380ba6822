"""Errors raised while reading or applying a layer tar.

All of them are :class:`UnsafeLayer`, an ``InvalidArgument``: whatever the reason
(hostile path, malformed header, size cap), the layer is refused as a whole and
nothing of it is kept.
"""

from __future__ import annotations

from client.errors import InvalidArgument

__all__ = ["UnsafeLayer", "MalformedLayer", "LayerTooLarge"]


class UnsafeLayer(InvalidArgument):
    """A layer entry would write, link or follow outside the root, or is otherwise refused."""


class MalformedLayer(UnsafeLayer):
    """The tar stream is not a well-formed archive barque can parse."""


class LayerTooLarge(UnsafeLayer):
    """The layer exceeds the uncompressed-size, entry-count or header-size caps."""
