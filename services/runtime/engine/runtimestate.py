"""What the runtime's behaviour mixins (:mod:`.lifecycle`, :mod:`.queries`)
rely on :class:`~services.runtime.core.RuntimeService` to hold: its state,
declared here by type, and the few helpers core defines. Nothing here runs;
``RuntimeService.__init__`` sets every attribute."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.idmap import IdMapping
from services.runtime.engine.containers import ContainerRecord, ContainerStore
from services.common.events import EventLog
from services.runtime.engine.exitwatch import ExitWatcher
from services.runtime.engine.networkapi import NetworkAPI
from services.runtime.engine.networking import ContainerNetworks
from services.runtime.engine.restart import RestartManager
from services.runtime.network.dnsprocess import DnsResponder
from services.runtime.network.manager import Networks
from services.runtime.shim.client import Zygote
from services.runtime.userns import RemapLayers
from services.runtime.volumes.manager import Volumes

__all__ = ["RuntimeState", "ExitStatus", "ContainerView"]


@dataclass(frozen=True)
class ExitStatus:
    exit_code: int
    oom_killed: bool = False
    error: str = ""


@dataclass(frozen=True)
class ContainerView:
    record: ContainerRecord
    running: bool
    endpoints: tuple = ()   # its live endpoints (LiveEndpoint) while it runs


class RuntimeState:
    root: Path
    store: ContainerStore
    images: Any                     # core.ImageSource: the image-store as the runtime needs it
    events: EventLog
    restarts: RestartManager
    netglue: ContainerNetworks
    networks: Networks              # the network state (endpoints and the names DNS answers)
    dns: DnsResponder
    network_api: NetworkAPI
    volumes: Volumes
    zygote: Zygote | None           # the warm fork server, None on the cold path or with runc
    oci: list[str]                  # the OCI runtime's command line
    oci_root: Path
    cgroup_v2: bool
    cgroup_root: Path
    idmap: IdMapping | None         # the --userns-remap range, None without one
    remap: RemapLayers | None       # its snapshot layers made the remapped root's, None without one
    _exited: dict[str, threading.Event]       # container id -> set once its last run's exit is handled
    _exits: ExitWatcher
    _removed_exits: dict[str, ExitStatus]     # --rm containers' statuses, kept after removal
    _guard: threading.Lock

    def _lock(self, container_id: str) -> threading.Lock:
        raise NotImplementedError

    def _dir(self, record: ContainerRecord) -> Path:
        raise NotImplementedError

    def _oci(self, *args: str, check: bool = True) -> tuple[int, str]:
        raise NotImplementedError

    def _oom_cgroup(self, container_id: str) -> str:
        raise NotImplementedError

    def delete(self, ref: str, force: bool = False, remove_volumes: bool = False) -> str:
        raise NotImplementedError

    def _thaw_after_signal(self, record: ContainerRecord) -> None:  # engine/pausing.py
        raise NotImplementedError
