"""``barque-oci events``: runc 1.1's event stream (events.go) as JSON lines.

Contract: each line is Go's encoding of ``types.Event``:
``{"type":"stats","id":ID,"data":STATS}`` (:mod:`.cgroupstats`) or
``{"type":"oom","id":ID}``. ``--stats`` prints one stats event and exits.
Otherwise a stats event every ``--interval`` (Go duration, > 0; default 5s)
and an oom event whenever the kernel reports one, until the container's
cgroup is gone (runc stops when its OOM notifier closes, i.e. the memory
cgroup was removed by ``delete``). A container that is not running is
refused with runc's words.

OOM notification: on v1, an eventfd registered on ``memory.oom_control``
through ``cgroup.event_control`` (the kernel also signals it when the
cgroup is removed, which ends the stream); on v2, the ``oom_kill`` count
of ``memory.events`` polled at each wakeup.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time

from client.errors import FailedPrecondition, InvalidArgument
from client.units import parse_duration

from . import cgroups, cgroupstats
from .state import STATUS_STOPPED, StateStore

__all__ = ["events", "encode"]

_V2_POLL = 0.2


def encode(kind: str, container_id: str, data: dict | None = None) -> str:
    """Go's ``json.Encoder`` line for a ``types.Event`` (data omitted when nil)."""
    event: dict = {"type": kind, "id": container_id}
    if data is not None:
        event["data"] = data
    text = json.dumps(event, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class _OomWatch:
    """Readable fd + ``fired()`` per hierarchy version; ``gone()`` when the cgroup is."""

    def __init__(self, manager):
        self.manager = manager
        self.fd = -1
        self.kills = 0
        if isinstance(manager, cgroups.CgroupV1):
            self.dir = manager.subsystem_dir("memory")
            if self.dir and os.path.isdir(self.dir):
                self._register_v1()
        else:
            self.dir = manager.path
            self.kills = self._v2_kills()

    def _register_v1(self) -> None:
        control = os.open(os.path.join(self.dir, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.fd = os.eventfd(0, os.EFD_CLOEXEC)
            with open(os.path.join(self.dir, "cgroup.event_control"), "w") as f:
                f.write(f"{self.fd} {control}")
        finally:
            os.close(control)

    def _v2_kills(self) -> int:
        try:
            with open(os.path.join(self.dir, "memory.events")) as f:
                for line in f:
                    name, _, value = line.partition(" ")
                    if name == "oom_kill":
                        return int(value)
        except OSError:
            pass
        return 0

    def gone(self) -> bool:
        return not self.dir or not os.path.isdir(self.dir)

    def wait(self, timeout: float) -> int:
        """Sleep up to ``timeout``; return how many OOMs happened meanwhile."""
        if self.fd >= 0:
            ready, _, _ = select.select([self.fd], [], [], max(timeout, 0))
            if not ready:
                return 0
            os.eventfd_read(self.fd)
            # the kernel signals the eventfd on removal too: that is no OOM
            return 0 if self.gone() else 1
        time.sleep(max(min(timeout, _V2_POLL), 0))
        now = self._v2_kills()
        fired, self.kills = max(now - self.kills, 0), now
        return fired

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def events(store: StateStore, container_id: str, stats_once: bool, interval: str = "5s") -> None:
    nanos = parse_duration(interval)
    if nanos <= 0:
        raise InvalidArgument("duration interval must be greater than 0")
    st = store.load(container_id)
    if store.status(st) == STATUS_STOPPED:
        raise FailedPrecondition(f"container with id {container_id} is not running")
    if not st.cgroup:
        raise FailedPrecondition(f"container {container_id!r} has no cgroup")
    manager = cgroups.manager_from_state(st.cgroup)
    if stats_once:
        _emit(encode("stats", container_id, cgroupstats.stats(manager)))
        return
    period = nanos / 1e9
    watch = _OomWatch(manager)
    try:
        due = time.monotonic() + period
        while not watch.gone():
            for _ in range(watch.wait(due - time.monotonic())):
                _emit(encode("oom", container_id))
            if watch.gone():
                break
            if time.monotonic() >= due:
                _emit(encode("stats", container_id, cgroupstats.stats(manager)))
                due += period
    finally:
        watch.close()
