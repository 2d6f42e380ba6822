"""A lease the CLI holds on the image-store while it works (images.v1
``HoldLease``): a build names each image it reuses or makes, and a prune
meanwhile leaves them, with their blobs and layers, so the next step's
parent is still there. The lease ends when :meth:`LeaseHolder.close` is
called or the process goes (the stream closes with its channel).

An image-store without ``HoldLease`` (an older one) makes the holder a
no-op: the build goes on as before.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Iterator

from barque.images.v1 import images_pb2
from client.errors import BarqueError

__all__ = ["LeaseHolder"]


class LeaseHolder:
    """One ``HoldLease`` stream over ``stub`` (a RemoteStub of the image-store), opened on first use."""

    def __init__(self, stub: Any, what: str) -> None:
        self._stub = stub
        self._what = what
        self._requests: queue.Queue[images_pb2.HoldLeaseRequest | None] | None = None
        self._answers: Iterator[images_pb2.HoldLeaseResponse] | None = None
        self._broken = False
        self._lock = threading.Lock()  # a build's stages run on several threads: one exchange at a time

    def _send(self, request: images_pb2.HoldLeaseRequest) -> list[str]:
        with self._lock:
            return self._exchange(request)

    def _exchange(self, request: images_pb2.HoldLeaseRequest) -> list[str]:
        if self._broken:
            return []
        try:
            if self._requests is None:
                self._requests = queue.Queue()
                self._answers = self._stub.HoldLease(iter(self._requests.get, None))
            assert self._answers is not None
            self._requests.put(request)
            return list(next(self._answers).held)
        except (BarqueError, StopIteration):
            self._broken = True  # no lease service: nothing is held, nothing fails
            return []

    @property
    def active(self) -> bool:
        """False once the image-store turned out to have no lease service (nothing is held then)."""
        return not self._broken

    def hold(self, *images: str) -> list[str]:
        """Hold these images (ids or names) until the lease ends; the ids held."""
        wanted = [i for i in images if i]
        if not wanted:
            return []
        return self._send(images_pb2.HoldLeaseRequest(what=self._what, images=wanted))

    def close(self) -> None:
        with self._lock:
            if self._requests is not None:
                self._requests.put(None)
                self._requests = None
