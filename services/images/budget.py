"""Decompression-bomb caps per layer and per image, as configured.

``[images]`` in barque.toml (:class:`client.config.ImageLimitsConfig`) sets
four caps: a layer's uncompressed tar bytes and entries (the tar reader's own
caps, :class:`services.common.safetar.apply.LayerLimits`) and the same two
summed over the layers one image unpacks. A pull, a load (per image of the
archive) and an import run under a :class:`Meter` (:func:`metered`); every
layer the snapshotter applies meanwhile is read with the smaller of its
layer cap and what is left of the image's budget, and charged what it read.
A layer that runs past the image's budget fails as the layer caps do
(:class:`ImageTooLarge`, a :class:`LayerTooLarge`), naming the budget, so the
caller drops everything it made.

The meter in effect is found through a context variable, as the leases are:
the pull's worker thread sets it, and the stage worker of a load or an import
runs in a copy of its caller's context.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from services.common.safetar.apply import DEFAULT_LIMITS, ApplyStats, LayerLimits
from services.common.safetar.errors import LayerTooLarge

__all__ = ["ImageBudget", "ImageTooLarge", "Meter", "metered", "use", "apply_metered", "DEFAULT_BUDGET"]


class ImageTooLarge(LayerTooLarge):
    """The layers of one image exceed the image's byte or entry budget."""


@dataclass(frozen=True)
class ImageBudget:
    """The four caps; the defaults are barque.toml's."""

    layer_bytes: int = DEFAULT_LIMITS.max_bytes
    layer_entries: int = DEFAULT_LIMITS.max_entries
    image_bytes: int = 4 * DEFAULT_LIMITS.max_bytes
    image_entries: int = 4 * DEFAULT_LIMITS.max_entries

    @property
    def layer_limits(self) -> LayerLimits:
        return LayerLimits(max_bytes=self.layer_bytes, max_entries=self.layer_entries)


DEFAULT_BUDGET = ImageBudget()


class Meter:
    """What one image's layers have used of its budget so far (thread-safe)."""

    def __init__(self, budget: ImageBudget, what: str) -> None:
        self.budget = budget
        self.what = what
        self.bytes = 0
        self.entries = 0
        self._lock = threading.Lock()

    def limits(self, base: LayerLimits) -> LayerLimits:
        """The caps for the next layer: its own, and no more than the image has left."""
        b = self.budget
        with self._lock:
            return LayerLimits(
                max_bytes=max(0, min(base.max_bytes, b.layer_bytes, b.image_bytes - self.bytes)),
                max_entries=max(0, min(base.max_entries, b.layer_entries, b.image_entries - self.entries)),
            )

    def charge(self, stats: ApplyStats) -> None:
        with self._lock:
            self.bytes += stats.stream_bytes
            self.entries += stats.files

    def refusal(self, limits: LayerLimits, exc: LayerTooLarge) -> LayerTooLarge:
        """``exc`` as the image budget's refusal when that budget, not the layer's cap, bound it."""
        b = self.budget
        text = str(exc)
        if "entries" in text and limits.max_entries < b.layer_entries:
            return ImageTooLarge(f"{self.what}: its layers exceed the image budget of {b.image_entries} entries "
                                 f"({self.entries} in the layers before this one)")
        if "size cap" in text and limits.max_bytes < b.layer_bytes:
            return ImageTooLarge(f"{self.what}: its layers exceed the {b.image_bytes}-byte image budget "
                                 f"({self.bytes} bytes in the layers before this one)")
        return exc


_current: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("barque_images_meter", default=None)


@contextmanager
def metered(budget: ImageBudget, what: str) -> Iterator[Meter]:
    """Apply the layers of one image under ``budget`` for the ``with`` block (this thread's context)."""
    meter = Meter(budget, what)
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)


def use(meter: Meter | None) -> None:
    """Make ``meter`` the one in effect in this thread's context (a worker's first call)."""
    _current.set(meter)


def apply_metered(apply: Callable[[LayerLimits], ApplyStats], base: LayerLimits) -> ApplyStats:
    """``apply(limits)`` with the caps of the meter in effect (``base`` without one), charged to it."""
    meter = _current.get()
    if meter is None:
        return apply(base)
    limits = meter.limits(base)
    try:
        stats = apply(limits)
    except LayerTooLarge as exc:
        refusal = meter.refusal(limits, exc)
        if refusal is exc:  # the layer's own cap: named with its image
            raise LayerTooLarge(f"{meter.what}: {exc}") from exc
        raise refusal from exc
    meter.charge(stats)
    return stats
