"""cgroup v1 and v2 managers for one container.

Contract: a container's cgroup is where its ``linux.cgroupsPath`` puts it, as
runc 1.1's cgroupfs drivers place it (:mod:`.cgrouppaths`): absolute paths
anywhere in each hierarchy, relative ones (and the empty path, ``<id>``)
below barque-oci's own cgroup. Directories are only ever made below the
mount points of mounted cgroup hierarchies (from /proc/self/mountinfo), never
as new entries of the /sys/fs/cgroup tmpfs. ``destroy`` removes the
container's directory and the ancestors this container's ``create`` made
(runc leaves those), once empty, but never a top-level ``barque`` directory,
which barque's engine shares between its containers. ``resources`` is the
runtime-spec ``linux.resources`` object. The value computations
(:func:`v1_writes`, :func:`v2_writes`) are pure, in :mod:`.cgrouplimits`, so
they can be unit-tested; the managers here only create directories, write
files and remove directories.

Which hierarchy a new container goes in comes from the ``[cgroups]`` config
(:func:`hierarchy`): v1, or the cgroup2 mount at ``v2_root``. On v2 the device
rules are an eBPF program attached to the container's directory
(:mod:`.devicefilter`, :mod:`.bpf`), default deny, as runc does.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time

from client.errors import FailedPrecondition, Internal, InvalidArgument
from . import cgrouppaths, devicefilter
from .cgrouppaths import Hierarchy, v1_hierarchies
from .cgrouplimits import shares_to_weight, v1_writes, v2_controllers, v2_writes
from .devicefilter import DEFAULT_ALLOWED_DEVICES
from .oplog import get_logger

__all__ = [
    "CgroupError", "ControllerMissing", "Hierarchy", "CgroupV1", "CgroupV2",
    "DEFAULT_ALLOWED_DEVICES", "is_v2", "hierarchy", "v1_hierarchies",
    "v1_writes", "v2_writes", "v2_controllers", "shares_to_weight",
    "new_manager", "manager_from_state", "v1_file",
]

CGROUP_ROOT = cgrouppaths.CGROUP_ROOT
BARQUE_SUBTREE = "barque"

log = get_logger(__name__)


class CgroupError(Internal):
    """A cgroup could not be created, written or removed."""


class ControllerMissing(FailedPrecondition):
    """A limit needs a controller the cgroup hierarchy does not offer."""


def is_v2(root: str = CGROUP_ROOT) -> bool:
    """The unified hierarchy is mounted at the root (not hybrid)."""
    return os.path.exists(os.path.join(root, "cgroup.controllers"))


def hierarchy(settings=None) -> tuple[int, str]:
    """(version, cgroup2 root) for new containers, from the ``[cgroups]``
    config (``client.config.CgroupConfig``; loaded when not given).

    ``auto`` is v2 when ``/sys/fs/cgroup`` is the unified hierarchy; ``2``
    uses the cgroup2 mount at ``v2_root`` (a hybrid host's ``unified``).
    """
    if settings is None:
        from client.config import load_config  # only on create
        settings = load_config().cgroups
    if settings.version == "1":
        return 1, CGROUP_ROOT
    if settings.version == "2":
        if not is_v2(settings.v2_root):
            raise FailedPrecondition(
                f"cgroup v2 root {settings.v2_root!r} is not a cgroup2 mount")
        return 2, settings.v2_root
    return (2, CGROUP_ROOT) if is_v2(CGROUP_ROOT) else (1, CGROUP_ROOT)


def _write(path: str, value: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except OSError as exc:
        raise CgroupError(f"open cgroup file {path!r}: {exc.strerror}") from exc
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise CgroupError(f"write {value!r} to {path!r}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _pids(directory: str) -> list[int]:
    try:
        return [int(p) for p in _read(os.path.join(directory, "cgroup.procs")).split()]
    except FileNotFoundError:
        return []


def _rmdir(directory: str, force: bool) -> None:
    """Remove a cgroup dir and the sub-cgroups made below it (by ``exec
    --cgroup`` users, or by the container through a writable cgroup mount),
    deepest first, as runc's RemovePaths does."""
    try:
        below = [d for d, _, _ in os.walk(directory, topdown=False) if d != directory]
    except OSError:
        below = []
    for sub in below:
        _rmdir_one(sub, force)
    _rmdir_one(directory, force)


def _rmdir_one(directory: str, force: bool) -> None:
    """Remove one cgroup dir, retrying while exiting tasks are still accounted."""
    deadline = time.monotonic() + 5
    while True:
        if force:
            for pid in _pids(directory):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise CgroupError(f"remove cgroup {directory!r}: {exc.strerror}") from exc
            if not force and _pids(directory):
                raise FailedPrecondition(f"cgroup {directory!r} still has processes") from exc
            time.sleep(0.02)


def _mkdir_chain(root: str, rel: str, on_new=None) -> list[str]:
    """Make ``root/rel`` and its missing ancestors below ``root`` (which must
    exist: a hierarchy's mount point is never made here); return the dirs
    made. An ancestor another container's ``destroy`` removes between two
    steps (ENOENT) makes the walk start again."""
    if not os.path.isdir(root):
        raise CgroupError(f"cgroup hierarchy {root!r} is not mounted")
    made: list[str] = []
    for _ in range(10):
        path = root
        try:
            for part in [p for p in rel.split("/") if p]:
                path = os.path.join(path, part)
                try:
                    os.mkdir(path, 0o755)
                except FileExistsError:
                    continue
                made.append(path)
                if on_new:
                    on_new(path)
            return made
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise CgroupError(f"create cgroup {path!r}: {exc.strerror}") from exc
    raise CgroupError(f"create cgroup {os.path.join(root, rel)!r}: its parent kept vanishing")


def _remove_made(made: list[str], roots: set[str]) -> None:
    """Remove the ancestors a create made, deepest first, once empty; one still
    in use (another container below it) or gone already is left alone, and
    so is ``<root>/barque`` (barque's engine creates below it concurrently)."""
    for directory in sorted(made, key=lambda d: -d.count("/")):
        if os.path.basename(directory) == BARQUE_SUBTREE and os.path.dirname(directory) in roots:
            continue
        try:
            os.rmdir(directory)
        except OSError:
            pass


def join_error(pid: int, path: str, exc: OSError) -> CgroupError:
    """runc's words for a failed join (its scripts match ``adding pid``, the
    file and the lower-case errno text)."""
    text = (exc.strerror or str(exc)).lower()
    return CgroupError(f"adding pid {pid} to cgroups: failed to write {pid}: "
                       f"open {path}: {text}")


def _join_dir(directory: str, pid: int) -> None:
    path = os.path.join(directory, "cgroup.procs")
    shown = pid or os.getpid()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise join_error(shown, path, exc) from exc
    try:
        os.write(fd, str(pid).encode())
    except OSError as exc:
        text = (exc.strerror or str(exc)).lower()
        raise CgroupError(f"adding pid {shown} to cgroups: failed to write {shown}: "
                          f"write {path}: {text}") from exc
    finally:
        os.close(fd)


class CgroupV1:
    """One directory per hierarchy (hybrid cgroup2 included, for joining only).

    ``paths`` maps each hierarchy's name to the container's directory in it
    (they differ for a relative cgroupsPath); ``made`` lists the directories
    ``create`` made, ancestors included, for ``destroy``."""

    version = 1

    def __init__(self, rel_path: str, hierarchies: list[Hierarchy] | None = None,
                 paths: dict[str, str] | None = None, made: list[str] | None = None):
        self.rel_path = rel_path
        self.hierarchies = v1_hierarchies() if hierarchies is None else hierarchies
        self.paths = paths if paths is not None else {
            h.name: os.path.join(h.mountpoint, rel_path.lstrip("/")) for h in self.hierarchies}
        self.made = list(made or ())

    def _by_subsystem(self, subsystem: str) -> str | None:
        for h in self.hierarchies:
            if subsystem in h.subsystems:
                return self.paths[h.name]
        return None

    def subsystem_dir(self, subsystem: str) -> str | None:
        """The container's directory in the hierarchy of ``subsystem``."""
        return self._by_subsystem(subsystem)

    def create(self) -> None:
        for h in self.hierarchies:
            rel = os.path.relpath(self.paths[h.name], h.mountpoint)
            self.made += _mkdir_chain(h.mountpoint, rel)
            if "cpuset" in h.subsystems:
                _cpuset_fill(h.mountpoint, rel)

    def apply(self, resources: dict | None) -> None:
        if (resources or {}).get("unified"):
            raise InvalidArgument("invalid configuration: cannot use unified on cgroup v1")
        writes = v1_writes(resources)
        for controller, name, value in writes:
            directory = self._by_subsystem(controller)
            if directory is None:
                raise CgroupError(f"cgroup controller {controller!r} is not mounted")
            path = v1_file(directory, name)
            if name == "memory.memsw.limit_in_bytes" and not os.path.exists(path):
                log.warning("cgroup_swap_unsupported", path=path)
                continue
            _write(path, value)

    def join(self, pid: int = 0) -> None:
        for directory in self.paths.values():
            _join_dir(directory, pid)

    def pids(self) -> list[int]:
        seen: set[int] = set()
        for directory in self.paths.values():
            seen.update(_pids(directory))
        return sorted(seen)

    def freeze(self, frozen: bool) -> bool:
        directory = self._by_subsystem("freezer")
        if directory is None or not os.path.isdir(directory):
            return False
        path = os.path.join(directory, "freezer.state")
        want = "FROZEN" if frozen else "THAWED"
        deadline = time.monotonic() + 5
        # as runc: FREEZING may stall while a task is in an uninterruptible
        # sleep; writing again retries the walk
        while True:
            _write(path, want)
            if _read(path) == want:
                return True
            if time.monotonic() > deadline:
                raise CgroupError(f"cgroup {directory!r} did not reach {want}")
            time.sleep(0.01)

    def frozen(self) -> bool:
        directory = self._by_subsystem("freezer")
        try:
            return directory is not None and _read(
                os.path.join(directory, "freezer.state")) in ("FROZEN", "FREEZING")
        except OSError:
            return False

    def destroy(self, force: bool = False) -> None:
        if force and self.freeze(True):
            # Frozen tasks cannot fork while we kill them; SIGKILL still lands.
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.freeze(False)
        for directory in self.paths.values():
            _rmdir(directory, force)
        leaves = set(self.paths.values())
        _remove_made([d for d in self.made if d not in leaves],
                     {h.mountpoint for h in self.hierarchies})

    def container_mounts(self) -> list[tuple[Hierarchy, str]]:
        """(hierarchy, host dir) pairs to bind at /sys/fs/cgroup/<name> inside."""
        return [(h, self.paths[h.name]) for h in self.hierarchies if h.subsystems]

    def to_state(self) -> dict:
        return {"version": 1, "path": self.rel_path, "paths": self.paths, "made": self.made,
                "hierarchies": [[h.mountpoint, list(h.subsystems)] for h in self.hierarchies]}


def _cpuset_fill(mountpoint: str, rel: str) -> None:
    """An empty v1 cpuset refuses tasks (ENOSPC): from the mount point down to
    the leaf, each dir whose cpus/mems are empty gets its parent's, made by
    us or not (a caller's pod parent), as runc's cpuset ensureParent does."""
    parent = mountpoint
    for part in [p for p in rel.split("/") if p]:
        path = os.path.join(parent, part)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not _read(os.path.join(path, name)):
                _write(os.path.join(path, name), _read(os.path.join(parent, name)))
        parent = path


def v1_file(directory: str, name: str) -> str:
    """The file for ``name`` in a v1 cgroup dir: with BFQ (no ``blkio.weight``)
    the blkio weights are ``blkio.bfq.weight``/``weight_device``, as runc's
    detectWeightFilenames picks them."""
    path = os.path.join(directory, name)
    if name in ("blkio.weight", "blkio.weight_device") and not os.path.exists(path):
        bfq = os.path.join(directory, name.replace("blkio.", "blkio.bfq.", 1))
        if os.path.exists(bfq):
            return bfq
    return path


class CgroupV2:
    """A single directory in the unified hierarchy mounted at ``root``."""

    version = 2

    def __init__(self, rel_path: str, root: str = CGROUP_ROOT, made: list[str] | None = None):
        self.rel_path = rel_path.strip("/")
        self.root = root
        self.path = os.path.join(root, self.rel_path)
        self.paths = {"unified": self.path}
        self.made = list(made or ())

    def _enable_controllers(self, needed: dict[str, str]) -> None:
        """Enable needed controllers in cgroup.subtree_control from the root down
        to the leaf's parent (a controller is usable only if every ancestor
        delegates it). A controller the hierarchy lacks is refused by name."""
        offered = set(_read(os.path.join(self.root, "cgroup.controllers")).split())
        for controller, name in needed.items():
            if controller not in offered:
                raise ControllerMissing(
                    f"cgroup v2 controller {controller!r} (for {name}) is not available "
                    f"in {self.root}: it offers {' '.join(sorted(offered)) or 'none'}")
        directory = self.root
        for part in self.rel_path.split("/"):
            available = set(_read(os.path.join(directory, "cgroup.controllers")).split())
            enable = sorted(needed.keys() & available)
            if enable:
                _write(os.path.join(directory, "cgroup.subtree_control"),
                       " ".join(f"+{c}" for c in enable))
            directory = os.path.join(directory, part)

    def create(self) -> None:
        self.made += _mkdir_chain(self.root, self.rel_path)

    def apply(self, resources: dict | None) -> None:
        self.write_limits(resources)
        self.attach_device_filter(resources)

    def write_limits(self, resources: dict | None) -> None:
        """The resource files; a controller the hierarchy lacks is refused by name."""
        writes = v2_writes(resources)
        self._enable_controllers(v2_controllers(writes))
        for name, value in writes:
            _write(os.path.join(self.path, name), value)

    def attach_device_filter(self, resources: dict | None) -> None:
        """The spec's device rules as an eBPF program on the container's directory."""
        program, allows_all = devicefilter.build_program(devicefilter.device_rules(resources))
        from . import bpf  # ctypes setup only where a v2 container is created
        try:
            prog_fd = bpf.load_device_program(program)
            try:
                bpf.attach_device_program(self.path, prog_fd)
            finally:
                os.close(prog_fd)
        except OSError as exc:
            # as runc: only rules that allow every device may go without the filter
            if allows_all:
                log.warning("cgroup_device_filter_skipped", path=self.path, error=str(exc))
                return
            raise CgroupError(f"cgroup {self.path!r}: device filter: {exc.strerror}") from exc

    def join(self, pid: int = 0) -> None:
        _join_dir(self.path, pid)

    def pids(self) -> list[int]:
        return _pids(self.path)

    def freeze(self, frozen: bool) -> bool:
        path = os.path.join(self.path, "cgroup.freeze")
        if not os.path.exists(path):
            return False
        _write(path, "1" if frozen else "0")
        return True

    def frozen(self) -> bool:
        try:
            return _read(os.path.join(self.path, "cgroup.freeze")) == "1"
        except OSError:
            return False

    def destroy(self, force: bool = False) -> None:
        if force and os.path.exists(os.path.join(self.path, "cgroup.kill")):
            _write(os.path.join(self.path, "cgroup.kill"), "1")
        _rmdir(self.path, force)
        _remove_made([d for d in self.made if d != self.path], {self.root})

    def container_mounts(self) -> list[tuple[Hierarchy, str]]:
        return []

    def to_state(self) -> dict:
        return {"version": 2, "path": self.rel_path, "root": self.root, "made": self.made}


def new_manager(cgroups_path: str | None, container_id: str,
                settings=None) -> CgroupV1 | CgroupV2:
    """The manager for a new container (nothing made yet: see ``create``)."""
    if cgrouppaths.is_systemd_form(cgroups_path):
        cgrouppaths.refuse_systemd(f"cgroupsPath {cgroups_path!r} (systemd's slice:prefix:name)")
    inner = cgrouppaths.inner_path(cgroups_path, container_id)
    version, root = hierarchy(settings)
    own = {} if inner.startswith("/") else cgrouppaths.own_cgroups()
    manager: CgroupV1 | CgroupV2
    if version == 2:
        manager = CgroupV2(cgrouppaths.v2_rel(inner, own), root)
    else:
        found = v1_hierarchies()
        paths = {h.name: cgrouppaths.v1_dir(h.mountpoint, h.subsystems, inner, own) for h in found}
        manager = CgroupV1(inner, found, paths)
    _preflight(manager)
    return manager


def _preflight(manager: CgroupV1 | CgroupV2) -> None:
    """runc's checks of a cgroup that exists before create (factory_linux.go):
    processes in it are a warning (on stderr, as runc's logrus warning), a
    frozen one is refused, before anything is made or written."""
    if isinstance(manager, CgroupV2):
        top = manager.path
    else:
        top = manager.subsystem_dir("devices") or next(iter(manager.paths.values()), "")
    if top and os.path.isdir(top):
        count = sum(len(_pids(d)) for d, _, _ in os.walk(top))
        if count:
            log.warning("cgroup_not_empty", path=top, processes=count)
            print(f"barque-oci: warning: container's cgroup is not empty: {count} process(es) found",
                  file=sys.stderr)
    if manager.frozen():
        raise FailedPrecondition("container's cgroup unexpectedly frozen")


def manager_from_state(state: dict) -> CgroupV1 | CgroupV2:
    if state.get("version") == 2:
        return CgroupV2(state["path"], state.get("root", CGROUP_ROOT), state.get("made"))
    return CgroupV1(state["path"], [Hierarchy(m, tuple(s)) for m, s in state["hierarchies"]],
                    state.get("paths"), state.get("made"))
