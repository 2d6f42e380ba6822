"""The runtime's side of ``docker system df``: every container with its
writable layer's size, and every volume with the containers that mount it
and its size (moby ``daemon/disk_usage.go``).

A container's sizes are ``ps --size``'s (:mod:`services.runtime.engine.sizes`);
``local_volumes`` counts its volume mounts (docker-cli's LocalVolumes: the
mounts of the local driver). A volume with driver options (a mounted
filesystem) has size -1, as moby reports what it does not measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from client.errors import NotFound
from services.runtime.engine.runtimestate import ContainerView

if TYPE_CHECKING:
    from services.runtime.core import RuntimeService

__all__ = ["ContainerUsage", "VolumeUsage", "RuntimeUsage", "disk_usage"]


@dataclass(frozen=True)
class ContainerUsage:
    view: ContainerView
    size_rw: int
    size_root_fs: int
    local_volumes: int


@dataclass(frozen=True)
class VolumeUsage:
    name: str
    links: int
    size: int


@dataclass(frozen=True)
class RuntimeUsage:
    containers: list[ContainerUsage]
    volumes: list[VolumeUsage]


def disk_usage(rt: RuntimeService) -> RuntimeUsage:
    containers = []
    for view in rt.list(all_=True):  # newest first
        rw, root_fs = rt.sizes(view.record)
        local = sum(1 for m in view.record.mounts if m.get("Type") == "volume")
        containers.append(ContainerUsage(view, rw, root_fs, local))
    users = rt.volumes.users()
    volumes = []
    for volume in rt.volumes.store.all():
        try:
            size = rt.volumes.store.size(volume.name) if not volume.options else -1
        except (NotFound, OSError):
            size = -1
        volumes.append(VolumeUsage(volume.name, len(users.get(volume.name, [])), size))
    return RuntimeUsage(containers, volumes)
