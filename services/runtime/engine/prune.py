"""``docker container prune``: remove every stopped container (moby
``daemon/prune.go`` ContainersPrune).

Running, paused and restarting containers stay; the others go as a plain
``rm`` would take them (no force, anonymous volumes kept), when
``until=``, ``label=`` and ``label!=`` let them through
(:class:`~services.common.prunefilter.PruneFilter`, on the container's
created time and labels). One that fails to go is logged and skipped, as
moby's. The space reclaimed is the writable layers' bytes, measured before
removal; one ``prune`` event (type container) carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from client.errors import BarqueError
from services.common.log import get_logger
from services.common.prunefilter import PruneFilter, parse_created
from services.runtime.engine.restart import RESTARTING

if TYPE_CHECKING:
    from services.runtime.core import RuntimeService

__all__ = ["ContainersPruned", "prune_containers"]

log = get_logger()


@dataclass(frozen=True)
class ContainersPruned:
    deleted: list[str]
    reclaimed: int


def prune_containers(rt: RuntimeService, filters: list[str]) -> ContainersPruned:
    wanted = PruneFilter.parse(filters)  # its errors before any work
    deleted, reclaimed = [], 0
    for view in rt.list(all_=True):
        record = view.record
        if view.running or record.status in (RESTARTING, "running", "paused"):
            continue
        if not wanted.include(parse_created(record.created), dict(record.config.labels)):
            continue
        size_rw, _ = rt.sizes(record)
        try:
            rt.delete(record.id)
        except BarqueError as exc:
            log.warning("container.prune_skipped", id=record.id, error=str(exc))
            continue
        deleted.append(record.id)
        reclaimed += size_rw
    rt.events.emit("prune", "", reclaimed=str(reclaimed))
    log.info("containers.pruned", filters=filters, deleted=len(deleted), reclaimed_bytes=reclaimed)
    return ContainersPruned(deleted, reclaimed)
