"""``docker pause`` / ``unpause``: the container's cgroup frozen and thawed
through the OCI runtime's ``pause`` and ``resume`` verbs (barque-oci's
freezer works on cgroup v1 and v2; runc's the same), with moby's errors and
events.

A paused container keeps ``record.status == "paused"`` while its process
lives (:func:`~services.runtime.engine.status.refresh` preserves it), so the
state survives a restart of the runtime; an exit turns it into "exited".
A stop, kill or ``rm -f`` of a paused container signals it, then thaws it,
as moby's killWithSignal does, so the signal lands and no cgroup stays
frozen. A mixin of :class:`~services.runtime.core.RuntimeService`.
"""

from __future__ import annotations

from client.errors import FailedPrecondition
from services.runtime.engine.containers import ContainerRecord
from services.runtime.engine.restart import RESTARTING
from services.runtime.engine.runtimestate import RuntimeState
from services.runtime.engine.status import refresh

__all__ = ["Pausing", "PAUSED", "state_name"]

#: the record's status while its cgroup is frozen (moby's State.Paused)
PAUSED = "paused"


def state_name(record: ContainerRecord, running: bool) -> str:
    """moby's State.StateString: "paused" over "running" while frozen."""
    if running:
        return PAUSED if record.status == PAUSED else "running"
    return record.status


class Pausing(RuntimeState):
    def pause(self, ref: str) -> None:
        record = self.store.find(ref)
        with self._lock(record.id):
            with self.store.lock:
                running = refresh(record, self._dir(record) / "shim")
            if record.status == RESTARTING:
                raise FailedPrecondition(
                    f"Container {record.id} is restarting, wait until the container is running")
            if not running:
                raise FailedPrecondition(f"Container {record.id} is not running")
            if record.status == PAUSED:
                raise FailedPrecondition(f"Container {record.id} is already paused")
            self._oci("pause", record.id)
            with self.store.lock:
                record.status = PAUSED
                self.store.save(record)
        self.events.emit("pause", record.id, name=record.name)

    def unpause(self, ref: str) -> None:
        record = self.store.find(ref)
        with self._lock(record.id):
            with self.store.lock:
                running = refresh(record, self._dir(record) / "shim")
            if not running or record.status != PAUSED:
                raise FailedPrecondition(f"Container {record.id} is not paused")
            self._oci("resume", record.id)
            with self.store.lock:
                record.status = "running"
                self.store.save(record)
        self.events.emit("unpause", record.id, name=record.name)

    def _thaw_after_signal(self, record: ContainerRecord) -> None:
        """After a signal to a paused container: thaw it so the signal is
        delivered (moby's killWithSignal); the container then runs until the
        signal ends it. Quiet when it was not frozen or is already gone."""
        if record.status != PAUSED:
            return
        self._oci("resume", record.id, check=False)
        with self.store.lock:
            if record.status == PAUSED:
                record.status = "running"
                self.store.save(record)
