"""Leases: what an operation in progress holds, so that garbage collection
(a prune, an ``rmi``, a re-pull's clean-up) never takes it.

An operation of the image-store (pull, load, import, commit, push) runs
under a lease: :func:`leased` wraps it (a plain function or a generator,
whose first argument is the :class:`~services.images.core.ImageStore` or
anything with a ``leases`` attribute). While a lease is held, the garbage
collector keeps

- every blob and committed snapshot made since the oldest held lease began
  (by the file's or the layer directory's modification time), so nothing
  an operation writes is taken before its record names it; and
- every digest the operation named with :meth:`Lease.protect` (blobs,
  snapshot chain ids, image ids), so what it reuses from an image being
  removed at the same time stays too.

The lease in effect is found through a context variable, so the worker
threads a pull starts with ``contextvars.copy_context()`` see it too
(containerd's leases, ``core/leases``, without the persistence: a lease dies
with the process, and a restarted store starts with none).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import itertools
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

from client.errors import BarqueError
from services.common.log import get_logger

__all__ = ["Lease", "Leases", "leased", "current", "protect", "protect_image", "hold_images", "MTIME_SLACK_NS",
           "MAX_AGE_NS"]

log = get_logger()

#: a file's modification time may lag the clock read at the lease's start
#: by the filesystem's timestamp granularity; keep what is this much older too
MTIME_SLACK_NS = 2_000_000_000

#: past this age a lease's start no longer holds back what was written since (its digests stay protected)
MAX_AGE_NS = 24 * 3600 * 1_000_000_000

_current: contextvars.ContextVar["Lease | None"] = contextvars.ContextVar("barque_images_lease", default=None)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Lease:
    """One operation's hold on the store."""

    id: int
    what: str
    started_ns: int
    _digests: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def protect(self, *digests: str) -> None:
        """Keep these blobs, snapshot chain ids or image ids while the lease is held."""
        with self._lock:
            self._digests.update(d for d in digests if d)

    def digests(self) -> set[str]:
        with self._lock:
            return set(self._digests)


class Leases:
    """The leases held in one image-store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, Lease] = {}
        self._ids = itertools.count(1)
        self._deferred = False
        #: called (outside any lock of ours) when the last lease ends after a
        #: collection kept something only because a lease was held: the
        #: store's collection, finishing what was held back
        self.on_idle: Callable[[], Any] | None = None

    def defer(self) -> None:
        """A collection kept something only for the held leases: collect again once none is held."""
        with self._lock:
            self._deferred = True

    @contextmanager
    def hold(self, what: str) -> Iterator[Lease]:
        """A lease for the ``with`` block; nested holds share the outer one."""
        outer = _current.get()
        if outer is not None and outer.id in self._held:
            yield outer
            return
        with self._lock:
            lease = Lease(next(self._ids), what, time.time_ns())
            self._held[lease.id] = lease
        token = _current.set(lease)
        try:
            yield lease
        finally:
            try:
                _current.reset(token)
            except ValueError:  # a generator resumed in another context at its end
                _current.set(None)
            with self._lock:
                self._held.pop(lease.id, None)
                idle = not self._held and self._deferred
                if idle:
                    self._deferred = False
            if idle and self.on_idle is not None:
                try:
                    self.on_idle()
                except Exception as exc:  # the operation itself succeeded; the next collection retries
                    log.warning("lease.idle_collection_failed", error=str(exc))

    def protected(self, excluding: Lease | None = None) -> set[str]:
        """Every digest a held lease (other than ``excluding``) protects."""
        with self._lock:
            held = [lease for lease in self._held.values() if lease is not excluding]
        out: set[str] = set()
        for lease in held:
            out |= lease.digests()
        return out

    def oldest_ns(self, slack: int = MTIME_SLACK_NS) -> int | None:
        """Start of the oldest held lease (minus ``slack``: files' times lag
        the clock; an image record's own time does not, so 0 for those), or
        None when none is held. A lease older than :data:`MAX_AGE_NS` no
        longer counts here (logged): an operation abandoned without its end
        must not keep everything written since, for ever."""
        now = time.time_ns()
        with self._lock:
            leases = list(self._held.values())
        starts = [lease.started_ns for lease in leases if now - lease.started_ns < MAX_AGE_NS]
        for lease in leases:
            if now - lease.started_ns >= MAX_AGE_NS:
                log.warning("lease.expired", lease=lease.id, what=lease.what,
                            age_s=(now - lease.started_ns) // 1_000_000_000)
        return min(starts) - slack if starts else None

    def held(self) -> list[str]:
        """What each held lease is for ("pull docker.io/library/busybox:latest")."""
        with self._lock:
            return [lease.what for lease in self._held.values()]


def current() -> Lease | None:
    """The lease the calling operation runs under, if any."""
    return _current.get()


def protect(*digests: str) -> None:
    """:meth:`Lease.protect` on the current lease; nothing outside one."""
    lease = _current.get()
    if lease is not None:
        lease.protect(*digests)


def _image_digests(record: Any) -> list[str]:
    """An image record's id, blobs and layers' chain ids."""
    from services.images.snapshots import chain_ids

    return [record.id, record.manifest.digest, record.config.digest, record.target.digest, *record.extra_blobs,
            *(layer.digest for layer in record.layers), *chain_ids(record.diff_ids)]


def protect_image(record: Any) -> None:
    """Protect an image an operation reads (a push, a save): its id, blobs and layers."""
    protect(*_image_digests(record))


def hold_images(store: Any, lease: Lease, references: list[str]) -> list[str]:
    """Protect, under ``lease``, the images ``references`` name (ids or
    names; unknown ones skipped) with their blobs and layers; their ids."""
    held = []
    with store.db.lock:  # no collection between finding an image and protecting it
        for ref in references:
            try:
                record = store.find(ref)
            except BarqueError:
                continue
            lease.protect(*_image_digests(record))
            held.append(record.id)
    return held


def leased(what: str) -> Callable[[F], F]:
    """Run the decorated operation under a lease of ``args[0].leases``; a
    generator holds it until it is exhausted or closed."""

    def wrap(func: F) -> F:
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def gen(*args: Any, **kwargs: Any) -> Any:
                with args[0].leases.hold(what):
                    yield from func(*args, **kwargs)

            return gen  # type: ignore[return-value]

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            with args[0].leases.hold(what):
                return func(*args, **kwargs)

        return call  # type: ignore[return-value]

    return wrap
