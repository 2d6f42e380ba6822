"""What a foreground ``run``/``exec`` does beyond create/start: the signals
barque-oci gets go to the container's process (runc's signal handler
forwards them), and whether its terminal is barque-oci's own to relay
(:mod:`ptyrelay`).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

from . import spec as specmod

__all__ = ["FORWARDED", "Forwarder", "forwarding", "wants_relay"]

#: the signals a caller sends the runtime meaning the process (SIGWINCH is
#: the relay's, SIGCHLD and the stop signals the runtime's own)
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
             signal.SIGUSR1, signal.SIGUSR2)


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class Forwarder:
    """The handler of :data:`FORWARDED`: installed before the process exists
    (as runc installs its handler before it starts one, so that a signal in
    between does not kill the runtime and orphan the process), it queues
    what comes until :meth:`target` names the pid, then delivers it."""

    def __init__(self) -> None:
        self.pid = 0
        self.queued: list[int] = []

    def __call__(self, sig: int, _frame) -> None:
        if self.pid:
            _forward(self.pid, sig)
        else:
            self.queued.append(sig)

    def target(self, pid: int) -> None:
        self.pid = pid
        queued, self.queued = self.queued, []
        for sig in queued:
            _forward(pid, sig)


@contextlib.contextmanager
def forwarding() -> Iterator[Forwarder]:
    """While in the block, :data:`FORWARDED` signals we get go to the pid the
    yielded :class:`Forwarder` is given; the previous handlers come back after."""
    forwarder = Forwarder()
    previous = {s: signal.signal(s, forwarder) for s in FORWARDED}
    try:
        yield forwarder
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def wants_relay(bundle: str, console_socket: str | None) -> bool:
    """A foreground run's process has a terminal and no console socket was
    given (the bundle's errors are left to ``create``)."""
    if console_socket:
        return False
    try:
        spec = specmod.load_bundle(os.path.abspath(bundle))
    except Exception:  # noqa: BLE001 -- create reports it
        return False
    return bool((spec.get("process") or {}).get("terminal"))
