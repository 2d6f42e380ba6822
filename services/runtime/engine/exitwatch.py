"""How the runtime learns that a container exited.

A supervisor (shim) exits only after it wrote the container's final status,
so its exit is the signal. One thread waits on a pidfd per supervisor, all
in one epoll set, and hands each exit to a short-lived thread of its own
(removing an ``--rm`` container takes a while). The supervisors hold no
connection for this, and the service no thread per running container: both
would cost memory for every container's whole life.

A container whose supervisor is gone already (killed, or it exited before
it was watched) is followed by its status file and its process instead.
A supervisor gone without a final status (SIGKILLed) leaves a container
nobody reaps and whose stdio nobody holds: ``on_lost`` is called first,
to kill it and record its status.
"""

from __future__ import annotations

import os
import select
import threading
from pathlib import Path
from typing import Callable

from services.runtime.engine.status import follow_process
from services.runtime.shim import client as shimclient

__all__ = ["ExitWatcher"]


class ExitWatcher:
    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._pending: dict[int, tuple[Callable[[], None], str]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, shim_dir: Path, pid_hint: int, on_exit: Callable[[], None], name: str,
              on_lost: Callable[[], None] | None = None) -> None:
        """Call ``on_exit`` in a thread named ``name`` once the container of
        ``shim_dir`` exited and its final status is recorded; ``on_lost``
        before it when the supervisor died without recording one."""
        def exited() -> None:
            if on_lost is not None and shimclient.supervisor_lost(str(shim_dir)):
                on_lost()
            follow_process(shim_dir, pid_hint)  # at once when the supervisor recorded the status
            on_exit()

        fd = shimclient.shim_pidfd(str(shim_dir))
        if fd is None:
            threading.Thread(target=exited, daemon=True, name=name).start()
            return
        with self._lock:
            self._pending[fd] = (exited, name)
            self._epoll.register(fd, select.EPOLLIN)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="exit-watcher")
                self._thread.start()

    def watching(self) -> int:
        """How many supervisors are waited on."""
        with self._lock:
            return len(self._pending)

    def _run(self) -> None:
        while True:
            for fd, _ in self._epoll.poll():
                with self._lock:
                    exited, name = self._pending.pop(fd)
                    self._epoll.unregister(fd)
                os.close(fd)
                threading.Thread(target=exited, daemon=True, name=name).start()
