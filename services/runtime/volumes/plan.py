"""Which mounts a new container gets, from Docker's configuration: moby's
``registerMountPoints`` and ``createContainerOSSpecificSettings`` as data.

In order, later ones replacing earlier ones at the same destination:
``--volumes-from`` (the other container's volume and bind mounts, read-only
if it says ``ro``), ``-v`` binds and volumes (``HostConfig.Binds``),
``--mount`` (``HostConfig.Mounts``; a destination already given by ``-v``
is a duplicate), then an anonymous volume for each of ``Config.Volumes``
(the image's VOLUMEs and ``-v /path``) that nothing above or a tmpfs covers,
and the ``--tmpfs`` mounts. Pure: nothing here touches the host but the
existence check of a ``--mount`` bind source (and ``-v``'s creation of a
missing host directory, which :func:`create_bind_sources` does once the
whole plan is valid).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from client.errors import InvalidArgument
from services.common.log import get_logger
from services.runtime.spec.flags import parse_volume_spec
from services.runtime.spec.paths import clean_abs

from .store import validate_name

__all__ = ["MountRequest", "PlannedMount", "plan_mounts", "tmpfs_options", "parse_volumes_from",
           "create_bind_sources"]

#: tmpfs data keys Docker accepts (pkg/mount MergeTmpfsOptions validFlags)
_TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol")
#: mount flag words, by the flag they set or clear (a later one wins over an earlier one of its kind)
_TMPFS_FLAGS = {
    "ro": "rdonly", "rw": "rdonly", "suid": "nosuid", "nosuid": "nosuid", "dev": "nodev", "nodev": "nodev",
    "exec": "noexec", "noexec": "noexec", "sync": "sync", "async": "sync", "dirsync": "dirsync",
    "mand": "mand", "nomand": "mand", "atime": "noatime", "noatime": "noatime", "diratime": "nodiratime",
    "nodiratime": "nodiratime", "relatime": "relatime", "norelatime": "relatime",
    "strictatime": "strictatime", "nostrictatime": "strictatime",
    "private": "propagation", "rprivate": "propagation", "shared": "propagation",
    "rshared": "propagation", "slave": "propagation", "rslave": "propagation",
    "unbindable": "propagation", "runbindable": "propagation",
}
_TMPFS_DEFAULTS = ["noexec", "nosuid", "nodev", "rprivate"]
_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


@dataclass(frozen=True)
class MountRequest:
    """Docker's mount.Mount (``--mount``), the fields the engine reads."""

    type: str
    target: str
    source: str = ""
    read_only: bool = False
    bind_propagation: str = ""
    volume_no_copy: bool = False
    volume_labels: Mapping[str, str] = field(default_factory=dict)
    tmpfs_size_bytes: int = 0
    tmpfs_mode: int = 0


@dataclass(frozen=True)
class PlannedMount:
    """One mount of the container, as its record keeps it (Docker's
    MountPoint) plus what setting it up needs.

    ``type`` bind, volume or tmpfs. A volume's ``name`` is empty until an
    anonymous one is made; ``copy`` asks for copy-up; ``labels`` go to a
    volume ``--mount`` creates; ``anonymous`` says the engine names it;
    ``from_image`` marks a ``Config.Volumes`` path (over a file: refused).
    ``tmpfs`` are a tmpfs's merged mount options; ``listed`` says it shows in
    inspect's Mounts (``--tmpfs`` mounts do not, as in Docker).
    """

    type: str
    destination: str
    source: str = ""
    name: str = ""
    rw: bool = True
    mode: str = ""
    propagation: str = ""
    driver: str = ""
    copy: bool = False
    anonymous: bool = False
    from_image: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    tmpfs: Sequence[str] = ()
    listed: bool = True
    create_source: bool = False


def _dup(dest: str) -> InvalidArgument:
    return InvalidArgument(f"Duplicate mount point: {dest}")


def tmpfs_options(data: str, defaults: Sequence[str] = _TMPFS_DEFAULTS) -> list[str]:
    """Docker's ``MergeTmpfsOptions`` of the defaults then ``data``: one of
    each flag kind and data key, the last given winning, in given order."""
    options = [*defaults, *(o for o in data.split(",") if o)]
    seen: set[str] = set()
    out: list[str] = []
    for option in reversed(options):
        if option == "defaults":
            continue
        if option in _TMPFS_FLAGS:
            key = _TMPFS_FLAGS[option]
        else:
            name, sep, _ = option.partition("=")
            if not sep or name not in _TMPFS_DATA:
                shown = " ".join(f'"{p}"' for p in option.split("=", 1))
                raise InvalidArgument(f"Invalid tmpfs option [{shown}]")
            key = "=" + name
        if key in seen:
            continue
        seen.add(key)
        out.insert(0, option)
    return out


def _size_text(size: int) -> str:
    for suffix, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if size % divisor == 0:
            return f"{size // divisor}{suffix}"
    return str(size)


def _mount_error(kind: str, message: str) -> InvalidArgument:
    return InvalidArgument(f'invalid mount config for type "{kind}": {message}')


def _from_request(m: MountRequest) -> PlannedMount:
    """moby ``validateMountConfigImpl`` and ``parseMountSpec`` of one ``--mount``."""
    kind = m.type
    if not m.target:
        raise _mount_error(kind, "field Target must not be empty")
    if not m.target.startswith("/"):
        raise _mount_error(kind, f"invalid mount path: '{m.target}' mount path must be absolute")
    dest = clean_abs(m.target, "mount target")
    if dest == "/":
        raise _mount_error(kind, "invalid specification: destination can't be '/'")
    volume_opts = m.volume_no_copy or bool(m.volume_labels)
    if kind == "bind":
        if not m.source:
            raise _mount_error(kind, "field Source must not be empty")
        if m.bind_propagation and m.bind_propagation not in _PROPAGATIONS:
            raise _mount_error(kind, f"invalid propagation mode: {m.bind_propagation}")
        if volume_opts:
            raise _mount_error(kind, "field VolumeOptions must not be specified")
        if not m.source.startswith("/"):
            raise _mount_error(kind, f"invalid mount path: '{m.source}' mount path must be absolute")
        source = clean_abs(m.source, "bind source")
        if not os.path.lexists(source):
            raise _mount_error(kind, f"bind source path does not exist: {source}")
        return PlannedMount("bind", dest, source=source, rw=not m.read_only,
                            propagation=m.bind_propagation or "rprivate")
    if kind == "volume":
        if m.bind_propagation:
            raise _mount_error(kind, "field BindOptions must not be specified")
        if m.read_only and not m.source:
            raise _mount_error(kind, "must not set ReadOnly mode when using anonymous volumes")
        if m.source:
            validate_name(m.source)
        return PlannedMount("volume", dest, name=m.source, rw=not m.read_only, mode="z", driver="local",
                            copy=not m.volume_no_copy, anonymous=not m.source, labels=dict(m.volume_labels))
    if kind == "tmpfs":
        if m.bind_propagation:
            raise _mount_error(kind, "field BindOptions must not be specified")
        if m.source:
            raise _mount_error(kind, "field Source must not be specified")
        if m.tmpfs_size_bytes < 0:
            raise _mount_error(kind, f"invalid tmpfs size {m.tmpfs_size_bytes}")
        data = (["ro"] if m.read_only else []) + ([f"mode={m.tmpfs_mode:o}"] if m.tmpfs_mode else []) \
            + ([f"size={_size_text(m.tmpfs_size_bytes)}"] if m.tmpfs_size_bytes else [])
        return PlannedMount("tmpfs", dest, rw=not m.read_only, tmpfs=tmpfs_options(",".join(data)))
    raise _mount_error(kind, "mount type unknown")


def parse_volumes_from(spec: str) -> tuple[str, bool]:
    """``ctr[:ro|rw]`` -> (container, read-write); moby ``ParseVolumesFrom``."""
    if not spec:
        raise InvalidArgument("volumes-from specification cannot be an empty string")
    ref, _, mode = spec.partition(":")
    words = mode.split(",") if mode else []
    if any(w not in ("ro", "rw", "z", "Z") for w in words) or sum(w in ("ro", "rw") for w in words) > 1 \
            or sum(w in ("z", "Z") for w in words) > 1:
        raise InvalidArgument(f"invalid mode: {mode}")
    return ref, "ro" not in words


def _from_other(m: Mapping, rw: bool) -> PlannedMount | None:
    """A mount of another container's record (Docker's MountPoint dict)."""
    kind = m.get("Type", "")
    if kind == "bind":
        return PlannedMount("bind", m["Destination"], source=m["Source"], rw=m["RW"] and rw,
                            propagation=m.get("Propagation") or "rprivate")
    if kind == "volume":
        return PlannedMount("volume", m["Destination"], name=m["Name"], rw=m["RW"] and rw, driver="local")
    if kind == "tmpfs":
        return PlannedMount("tmpfs", m["Destination"], rw=m["RW"] and rw, tmpfs=list(m.get("Tmpfs") or ()))
    return None


def plan_mounts(*, binds: Sequence[str] = (), mounts: Sequence[MountRequest] = (),
                tmpfs: Mapping[str, str] | None = None, volumes: Iterable[str] = (),
                volumes_from: Sequence[tuple[Sequence[Mapping], bool]] = ()) -> list[PlannedMount]:
    """The container's mounts; ``volumes_from`` are each other container's
    record mounts with whether they stay read-write. Refuses what Docker
    refuses (InvalidArgument with its message)."""
    tmpfs = dict(tmpfs or {})
    planned: dict[str, PlannedMount] = {}
    for others, rw in volumes_from:
        for m in others:
            p = _from_other(m, rw)
            if p is not None:
                planned[p.destination] = p
    tmpfs_dests = {}
    for dest_raw, data in tmpfs.items():
        dest = clean_abs(dest_raw, "tmpfs destination")
        if dest == "/":
            raise InvalidArgument("invalid tmpfs destination: destination can't be '/'")
        tmpfs_dests[dest] = tmpfs_options(data)
    taken: set[str] = set()
    for raw in binds:
        spec = parse_volume_spec(raw)
        if spec.destination in taken or spec.destination in tmpfs_dests:
            raise _dup(spec.destination)
        taken.add(spec.destination)
        if spec.type == "bind":
            planned[spec.destination] = PlannedMount(
                "bind", spec.destination, source=spec.source, rw=not spec.read_only, mode=spec.mode,
                propagation=spec.propagation or "rprivate", create_source=True)
        else:
            if spec.source:
                validate_name(spec.source)
            planned[spec.destination] = PlannedMount(
                "volume", spec.destination, name=spec.source, rw=not spec.read_only, mode=spec.mode or "z",
                driver="local", copy=spec.copy, anonymous=not spec.source)
    for request in mounts:
        p = _from_request(request)
        if p.destination in taken or p.destination in tmpfs_dests:
            raise _dup(p.destination)
        taken.add(p.destination)
        planned[p.destination] = p
    for path in volumes:
        dest = clean_abs(path, "volume destination")
        if dest == "/":
            raise InvalidArgument("invalid volume specification: destination can't be '/'")
        if dest in planned or dest in tmpfs_dests:
            continue
        planned[dest] = PlannedMount("volume", dest, driver="local", copy=True, anonymous=True, from_image=True)
    for dest, options in tmpfs_dests.items():
        planned.pop(dest, None)  # a --volumes-from mount at a --tmpfs destination yields to it
        planned[dest] = PlannedMount("tmpfs", dest, tmpfs=options, listed=False)
    return list(planned.values())


def create_bind_sources(plan: Sequence[PlannedMount]) -> list[PlannedMount]:
    """Create the missing host directories of ``-v`` binds (0755, as Docker
    does; ``--mount`` binds must exist). Returns the plan with the flags cleared."""
    out = []
    for p in plan:
        if p.create_source and not os.path.lexists(p.source):
            try:
                os.makedirs(p.source, mode=0o755, exist_ok=True)
            except OSError as exc:
                raise InvalidArgument(f"create bind source {p.source!r}: {exc.strerror}") from exc
            get_logger(__name__).info("bind_source_created", source=p.source, destination=p.destination)
        out.append(replace(p, create_source=False))
    return out
