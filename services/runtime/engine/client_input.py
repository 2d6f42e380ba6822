"""A client's later messages on a bidirectional stream (``Run``, ``Attach``,
``Exec``): stdin frames and terminal resizes, after the first message that
named the container or the process.

They are read on a thread from the start, so that a terminal size sent right
after the first message is known before the process starts or the shim is
attached. Everything read before a target is bound is held; once bound, the
held messages then the later ones are forwarded in order on a thread of their
own, and the next message is read only when the previous ones were delivered
(a target that does not take stdin slows the client down instead of filling
memory). A client that goes away stops the reading and nothing is sent for
it: no stdin EOF (it may attach again).
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Iterable, Protocol

__all__ = ["ClientInput", "InputTarget", "deliver_input"]


class InputTarget(Protocol):
    """Where stdin and resizes go: an exec session or a shim attachment."""

    def send_stdin(self, data: bytes) -> None: ...

    def close_stdin(self) -> None: ...

    def resize(self, height: int, width: int) -> None: ...


def deliver_input(target: InputTarget, req: Any, *, stdin: bool = True) -> None:
    """Hand one message's stdin frame (only with ``stdin``) or resize to ``target``."""
    which = req.WhichOneof("msg")
    if which == "stdin" and stdin:
        if req.stdin.data:
            target.send_stdin(req.stdin.data)
        if req.stdin.eof:
            target.close_stdin()
    elif which == "resize":
        target.resize(req.resize.height, req.resize.width)


class ClientInput:
    """The rest of one client stream (see the module docstring).

    ``size`` is the last terminal size the client sent, (0, 0) before any;
    ``stdin=False`` drops stdin frames (the client did not ask to attach it).
    """

    def __init__(self, requests: Iterable[Any], *, stdin: bool = True) -> None:
        self.size = (0, 0)
        self._stdin = stdin
        self._queue: queue.Queue[Any] = queue.Queue()
        self._changed = threading.Condition()
        self._resized = False
        self._ended = False
        self._bound = False
        threading.Thread(target=self._read, args=(requests,), daemon=True, name="client-input").start()

    def wait_size(self, timeout: float) -> tuple[int, int]:
        """``size`` once the client sent one, the stream ended or ``timeout`` passed."""
        with self._changed:
            self._changed.wait_for(lambda: self._resized or self._ended, timeout)
            return self.size

    def bind(self, target: InputTarget) -> None:
        """Forward to ``target`` from now on, after what was held (call once)."""
        self._bound = True
        threading.Thread(target=self._forward, args=(target,), daemon=True, name="client-forward").start()

    def _read(self, requests: Iterable[Any]) -> None:
        try:
            for req in requests:
                if req.WhichOneof("msg") == "resize":
                    with self._changed:
                        self.size = (req.resize.height, req.resize.width)
                        self._resized = True
                        self._changed.notify_all()
                self._queue.put(req)
                if self._bound:
                    self._queue.join()
        except Exception:  # the client went away; the container or process goes on
            pass
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()
            self._queue.put(None)

    def _forward(self, target: InputTarget) -> None:
        while True:
            req = self._queue.get()
            try:
                if req is None:
                    return
                deliver_input(target, req, stdin=self._stdin)
            except Exception:  # the container exited (or its shim is gone): nothing to forward to
                pass
            finally:
                self._queue.task_done()
