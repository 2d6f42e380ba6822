"""Container state kept under ``<root>/<id>/``: state.json and the exec fifo.

state.json is written atomically (temp file, fsync, rename) so a reader never
sees half a document. The status is derived, not stored: the init pid is alive
(checked against its recorded start time, so a recycled pid does not count)
and the exec fifo still exists -> ``created``; alive without fifo, its cgroup
frozen -> ``paused``, not frozen -> ``running``; otherwise ``stopped``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields

from client.errors import AlreadyExists, Internal, NotFound
from services.common.atomic import is_temp_of, write_atomic

from . import cgroups, syscalls
from .spec import validate_id

__all__ = [
    "ContainerState", "StateStore", "ContainerNotFound", "ContainerExists",
    "STATUS_CREATED", "STATUS_RUNNING", "STATUS_STOPPED", "STATUS_PAUSED", "EXEC_FIFO",
]

STATUS_CREATED = "created"
STATUS_RUNNING = "running"
STATUS_STOPPED = "stopped"
STATUS_PAUSED = "paused"
EXEC_FIFO = "exec.fifo"


class ContainerNotFound(NotFound):
    pass


class ContainerExists(AlreadyExists):
    pass


@dataclass
class ContainerState:
    id: str
    bundle: str
    rootfs: str
    pid: int = 0
    pid_start: int = 0
    created: str = ""
    annotations: dict = field(default_factory=dict)
    cgroup: dict = field(default_factory=dict)
    namespaces: list = field(default_factory=list)
    #: config.json as loaded at create time; exec reuses its seccomp profile
    config: dict = field(default_factory=dict)
    oci_version: str = "1.0.2"


class StateStore:
    """All containers of one ``--root`` directory."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    def dir(self, container_id: str) -> str:
        return os.path.join(self.root, validate_id(container_id))

    def fifo(self, container_id: str) -> str:
        return os.path.join(self.dir(container_id), EXEC_FIFO)

    def reserve(self, container_id: str) -> str:
        """Create the container's state dir and exec fifo; fail if it exists."""
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        directory = self.dir(container_id)
        try:
            os.mkdir(directory, 0o711)
        except FileExistsError as exc:
            raise ContainerExists(f"container {container_id!r} already exists") from exc
        fifo = os.path.join(directory, EXEC_FIFO)
        os.mkfifo(fifo, 0o622)
        # as runc: writable by the container's user, whom the init has become
        # by the time it opens the fifo (the umask would have taken that away)
        os.chmod(fifo, 0o622)
        return directory

    def save(self, state: ContainerState) -> None:
        # the fields as they are, not asdict's deep copy of the whole spec (~5 ms per create)
        fields_ = {f.name: getattr(state, f.name) for f in fields(state)}
        write_atomic(os.path.join(self.dir(state.id), "state.json"), json.dumps(fields_).encode())

    def load(self, container_id: str) -> ContainerState:
        path = os.path.join(self.dir(container_id), "state.json")
        try:
            with open(path) as f:
                raw = json.load(f)
        except FileNotFoundError as exc:
            raise ContainerNotFound(f"container {container_id!r} does not exist") from exc
        except (OSError, ValueError) as exc:
            raise Internal(f"read state of container {container_id!r}: {exc}") from exc
        return ContainerState(**raw)

    def list_ids(self) -> list[str]:
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        return [n for n in names if os.path.exists(os.path.join(self.root, n, "state.json"))]

    def remove(self, container_id: str) -> None:
        directory = self.dir(container_id)
        try:
            names = [n for n in os.listdir(directory)
                     if n in ("state.json", EXEC_FIFO) or is_temp_of(n, "state.json")]
        except FileNotFoundError:
            names = []
        for name in names:
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(directory)
        except FileNotFoundError:
            pass

    def alive(self, state: ContainerState) -> bool:
        return state.pid > 0 and syscalls.process_start_time(state.pid) == state.pid_start

    def status(self, state: ContainerState) -> str:
        if not self.alive(state):
            return STATUS_STOPPED
        if os.path.exists(self.fifo(state.id)):
            return STATUS_CREATED
        if state.cgroup and cgroups.manager_from_state(state.cgroup).frozen():
            return STATUS_PAUSED
        return STATUS_RUNNING

    def describe(self, state: ContainerState) -> dict:
        """The runtime-spec ``state`` document (runc's field set)."""
        status = self.status(state)
        return {
            "ociVersion": state.oci_version,
            "id": state.id,
            "pid": state.pid if status != STATUS_STOPPED else 0,
            "status": status,
            "bundle": state.bundle,
            "rootfs": state.rootfs,
            "created": state.created,
            "annotations": state.annotations,
        }
