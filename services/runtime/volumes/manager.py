"""The runtime's volumes: Docker's volume API over the local driver's store,
and a container's mounts made ready at its create and given back at its
removal.

A volume is *used* by every container (running or not) whose record names
it, and by a create still in flight (its claims), so it is never removed
under one. A volume with driver options is mounted on its first use and
unmounted when the last user is gone, or at its removal. A create that
fails gives back what it took: the volumes it made, the mounts it added.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from client.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.log import get_logger
from services.runtime.oci.rootfs import open_in_root
from services.runtime.spec.flags import Bind
from services.runtime.spec.options import applies

from .copyup import copy_up
from .listing import filter_volumes, prunable
from .local import mount_data, parse_driver_opts, unmount_data
from .plan import MountRequest, PlannedMount, create_bind_sources, parse_volumes_from, plan_mounts
from .propagation import check_bind_propagation
from .store import DRIVER, Volume, VolumeNotFound, VolumeStore

__all__ = ["Volumes", "Attached"]

log = get_logger()

#: (container id, its record's mounts) for every container
ContainerMounts = Callable[[], Iterable[tuple[str, Sequence[Mapping]]]]
Emit = Callable[..., None]


@dataclass
class Attached:
    """A container's mounts ready for its spec: ``binds`` (host binds and
    volumes' data dirs), ``tmpfs`` (destination -> options) and the
    ``records`` its record keeps (Docker's MountPoint, plus a tmpfs's options)."""

    binds: list[Bind] = field(default_factory=list)
    tmpfs: dict[str, list[str]] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)


def _request(m) -> MountRequest:
    """A ``runtime.v1`` Mount (or anything with its fields) as a MountRequest."""
    return MountRequest(type=m.type, target=m.target, source=m.source, read_only=m.read_only,
                        bind_propagation=m.bind_propagation, volume_no_copy=m.volume_no_copy,
                        volume_labels=dict(m.volume_labels), tmpfs_size_bytes=m.tmpfs_size_bytes,
                        tmpfs_mode=m.tmpfs_mode)


class Volumes:
    def __init__(self, root: Path, containers: ContainerMounts, emit: Emit) -> None:
        self.store = VolumeStore(root)
        self._containers = containers
        self._emit = emit
        self._lock = threading.RLock()
        self._claims: dict[str, set[str]] = {}   # create in flight: container id -> volume names
        self._fresh: dict[str, set[str]] = {}    # ... of which it made
        self._copying: dict[str, threading.Lock] = {}  # one copy-up at a time into a volume

    # ---- the volume API -------------------------------------------------------------

    def users(self, exclude: str = "") -> dict[str, list[str]]:
        """Volume name -> ids of the containers using it."""
        out: dict[str, list[str]] = {}
        for cid, mounts in self._containers():
            if cid == exclude:
                continue
            for m in mounts:
                if m.get("Type") == "volume" and m.get("Name"):
                    out.setdefault(m["Name"], []).append(cid)
        with self._lock:
            for cid, names in self._claims.items():
                if cid != exclude:
                    for name in names:
                        out.setdefault(name, []).append(cid)
        return {k: sorted(set(v)) for k, v in out.items()}

    def create(self, name: str = "", driver: str = "", options: Mapping[str, str] | None = None,
               labels: Mapping[str, str] | None = None, *, anonymous: bool = False) -> tuple[Volume, bool]:
        """``docker volume create``: a new volume, or the existing one of that name."""
        if driver not in ("", DRIVER):
            raise NotFound(f"error looking up volume plugin {driver}: plugin \"{driver}\" not found")
        parse_driver_opts(options or {})
        with self._lock:
            volume, created = self.store.create(name, labels=dict(labels or {}), options=dict(options or {}),
                                                anonymous=anonymous)
        if created:
            self._emit("create", volume.name, event_type="volume", driver=volume.driver)
            log.info("volume.created", name=volume.name, anonymous=anonymous, options=sorted(volume.options))
        return volume, created

    def inspect(self, name: str) -> tuple[Volume, list[str]]:
        volume = self.store.get(name)
        return volume, self.users().get(volume.name, [])

    def list_volumes(self, filters: Iterable[str] = ()) -> list[tuple[Volume, list[str]]]:
        users = self.users()
        return [(v, users.get(v.name, [])) for v in filter_volumes(self.store.all(), users, filters)]

    def remove(self, name: str, force: bool = False) -> None:
        """``docker volume rm``: refused while used (whatever ``force`` says);
        with ``force`` a missing volume is no error."""
        with self._lock:
            try:
                volume = self.store.get(name)
            except VolumeNotFound:
                if force:
                    return
                raise
            using = self.users().get(volume.name)
            if using:
                raise FailedPrecondition(f"remove {name}: volume is in use - [{', '.join(using)}]")
            self._destroy(volume)

    def prune(self, filters: Iterable[str] = (), all_: bool = False) -> tuple[list[str], int]:
        """``docker volume prune``: (names removed, bytes reclaimed)."""
        removed, freed = [], 0
        with self._lock:
            for volume in prunable(self.store.all(), self.users(), filters, all_):
                size = self.store.size(volume.name) if not volume.options else 0
                self._destroy(volume)
                removed.append(volume.name)
                freed += size
        return removed, freed

    def _destroy(self, volume: Volume) -> None:
        data = Path(volume.mountpoint)
        if volume.options:
            unmount_data(data)
        self.store.remove(volume.name)
        self._emit("destroy", volume.name, event_type="volume", driver=volume.driver)
        log.info("volume.removed", name=volume.name)

    # ---- a container's mounts ----------------------------------------------------------

    @applies("HostConfig.mounts", "HostConfig.tmpfs", "HostConfig.volumes_from", "HostConfig.volume_driver",
             "Config.volumes")
    def plan(self, config, host, image_config: Mapping, find: Callable) -> list[PlannedMount]:
        """The mounts a container of ``config`` and ``host`` gets; the image's
        VOLUMEs join ``config.volumes`` (inspect shows them there, as Docker's).
        ``find`` looks a container up for ``--volumes-from``. The only volume
        driver is ``local``."""
        if host.volume_driver not in ("", DRIVER):
            raise NotFound(f'error looking up volume plugin {host.volume_driver}: plugin "{host.volume_driver}" '
                           "not found")
        for path in sorted(image_config.get("Volumes") or {}):
            if path not in config.volumes:
                config.volumes.append(path)
        others = []
        for spec in host.volumes_from:
            ref, rw = parse_volumes_from(spec)
            others.append((list(find(ref).mounts), rw))
        return plan_mounts(binds=list(host.binds), mounts=[_request(m) for m in host.mounts],
                           tmpfs=dict(host.tmpfs), volumes=list(config.volumes), volumes_from=others)

    def setup(self, container_id: str, plan: Sequence[PlannedMount], rootfs: Path) -> Attached:
        """Make ``plan`` ready over the container's mounted ``rootfs``:
        create missing volumes, mount volumes with driver options, copy the
        image's content into new empty ones. What it took is given back by
        :meth:`release` (or kept by :meth:`commit`)."""
        for p in plan:
            if p.type == "bind":
                check_bind_propagation(p.source, p.propagation)
        out = Attached()
        with self._lock:
            claims = self._claims.setdefault(container_id, set())
            fresh = self._fresh.setdefault(container_id, set())
        for p in create_bind_sources(plan):
            if p.type == "bind":
                out.binds.append(Bind(source=p.source, destination=p.destination, read_only=not p.rw,
                                      mode=p.mode, propagation=p.propagation))
                out.records.append({"Type": "bind", "Source": p.source, "Destination": p.destination,
                                    "Mode": p.mode, "RW": p.rw, "Propagation": p.propagation})
            elif p.type == "tmpfs":
                out.tmpfs[p.destination] = list(p.tmpfs)
                if p.listed:
                    out.records.append({"Type": "tmpfs", "Source": "", "Destination": p.destination, "Mode": "",
                                        "RW": p.rw, "Propagation": "", "Tmpfs": list(p.tmpfs)})
            else:
                if p.from_image:
                    _refuse_over_file(rootfs, p.destination)
                volume = self._claim(p, claims, fresh)
                data = Path(volume.mountpoint)
                opts = parse_driver_opts(volume.options)
                if opts is not None:
                    mount_data(opts, data)
                if p.copy:
                    with self._lock:
                        guard = self._copying.setdefault(volume.name, threading.Lock())
                    with guard:
                        copy_up(rootfs, p.destination, data)
                out.binds.append(Bind(source=volume.mountpoint, destination=p.destination, read_only=not p.rw,
                                      mode=p.mode))
                out.records.append({"Type": "volume", "Name": volume.name, "Source": volume.mountpoint,
                                    "Destination": p.destination, "Driver": volume.driver, "Mode": p.mode,
                                    "RW": p.rw, "Propagation": ""})
        return out

    def _claim(self, p: PlannedMount, claims: set[str], fresh: set[str]) -> Volume:
        with self._lock:
            if p.name:
                try:
                    volume = self.store.get(p.name)
                    claims.add(volume.name)
                    return volume
                except VolumeNotFound:
                    pass
            volume, created = self.store.create(p.name, labels=dict(p.labels), anonymous=p.anonymous)
            claims.add(volume.name)
            if created:
                fresh.add(volume.name)
        if created:
            self._emit("create", volume.name, event_type="volume", driver=volume.driver)
            log.info("volume.created", name=volume.name, anonymous=p.anonymous)
        return volume

    def commit(self, container_id: str) -> None:
        """The container's record now names its volumes: drop the claims."""
        with self._lock:
            self._claims.pop(container_id, None)
            self._fresh.pop(container_id, None)

    def release(self, container_id: str, mounts: Sequence[Mapping], remove_anonymous: bool = False) -> None:
        """Give back a removed (or never finished) container's volumes:
        unmount those nobody else uses; remove the ones a failed create made,
        and its anonymous ones with ``remove_anonymous`` (``rm -v``, ``--rm``)."""
        with self._lock:
            names = set(self._claims.pop(container_id, set()))
            fresh = self._fresh.pop(container_id, set())
            names |= {m["Name"] for m in mounts if m.get("Type") == "volume" and m.get("Name")}
            users = self.users(exclude=container_id)
            for name in sorted(names):
                try:
                    volume = self.store.get(name)
                except VolumeNotFound:
                    continue
                if users.get(name):
                    continue
                if name in fresh or (remove_anonymous and volume.anonymous):
                    self._destroy(volume)
                elif volume.options:
                    unmount_data(Path(volume.mountpoint))

    def events(self, action: str, container_id: str, mounts: Sequence[Mapping]) -> None:
        """Docker's volume "mount" (at a container's start) or "unmount"
        (at its stop) events, one per volume it mounts."""
        for m in mounts:
            if m.get("Type") != "volume":
                continue
            attrs = {"driver": m.get("Driver") or DRIVER, "container": container_id}
            if action == "mount":
                attrs.update({"destination": m["Destination"], "read/write": str(bool(m["RW"])).lower(),
                              "propagation": m.get("Propagation") or ""})
            self._emit(action, m["Name"], event_type="volume", **attrs)


def _refuse_over_file(rootfs: Path, destination: str) -> None:
    """An image VOLUME (or ``-v /path``) over a file is refused, as Docker does."""
    try:
        fd = open_in_root(str(rootfs), destination)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise InvalidArgument(f"cannot mount volume over existing file, file exists "
                                  f"{os.path.join(str(rootfs), destination.lstrip('/'))}")
    finally:
        os.close(fd)
