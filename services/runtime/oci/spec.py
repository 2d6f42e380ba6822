"""OCI runtime-spec 1.x config.json: default generation and validation.

``load_bundle`` returns the parsed config as plain dicts (the runtime-spec
schema is the contract; wrapping it in classes would only rename fields) after
checking the parts this runtime relies on, so later stages can index without
guessing. Paths in the result are resolved: ``root.path`` becomes absolute.
"""

from __future__ import annotations

import copy
import json
import os
import re

from client.errors import InvalidArgument, NotFound

__all__ = [
    "SpecError", "default_spec", "load_bundle", "validate_spec", "validate_process",
    "validate_id",
    "NAMESPACE_TYPES", "DEFAULT_MASKED_PATHS", "DEFAULT_READONLY_PATHS",
]

OCI_VERSION = "1.0.2"

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup")

DEFAULT_MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
    "/proc/scsi",
]
DEFAULT_READONLY_PATHS = [
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
]

_DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

_DEFAULT_SPEC: dict = {
    "ociVersion": OCI_VERSION,
    "process": {
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"],
        "cwd": "/",
        "capabilities": {k: list(_DEFAULT_CAPS) for k in
                         ("bounding", "effective", "permitted", "ambient")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "barque",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        "maskedPaths": DEFAULT_MASKED_PATHS,
        "readonlyPaths": DEFAULT_READONLY_PATHS,
    },
}

_ID_RE = re.compile(r"[\w+\-.]+", re.ASCII)


class SpecError(InvalidArgument):
    """config.json is missing, unreadable or violates the runtime-spec."""


def validate_id(container_id: str) -> str:
    """Container ids name a state directory, so they must be one safe path
    component (runc ``validateID``)."""
    if not container_id or not _ID_RE.fullmatch(container_id) or container_id in (".", ".."):
        raise InvalidArgument(f"invalid container id {container_id!r}")
    return container_id


def default_spec() -> dict:
    """A runc-like default config.json (a fresh deep copy)."""
    return copy.deepcopy(_DEFAULT_SPEC)


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise SpecError(message)


def _validate_process(process: dict, *, for_exec: bool = False) -> None:
    where = "process" if not for_exec else "exec process"
    _require(isinstance(process, dict), f"{where} must be an object")
    args = process.get("args")
    _require(isinstance(args, list) and len(args) > 0 and all(isinstance(a, str) for a in args),
             f"{where}.args must be a non-empty list of strings")
    cwd = process.get("cwd", "/")
    _require(isinstance(cwd, str) and cwd.startswith("/"), f"{where}.cwd {cwd!r} must be absolute")
    for env in process.get("env") or []:
        _require(isinstance(env, str) and "=" in env, f"{where}.env entry {env!r} is not KEY=value")
    user = process.get("user") or {}
    for key in ("uid", "gid"):
        value = user.get(key, 0)
        _require(isinstance(value, int) and 0 <= value < 2**32 - 1,
                 f"{where}.user.{key} {value!r} out of range")
    for gid in user.get("additionalGids") or []:
        _require(isinstance(gid, int) and 0 <= gid < 2**32 - 1,
                 f"{where}.user.additionalGids entry {gid!r} out of range")
    for rl in process.get("rlimits") or []:
        _require(isinstance(rl, dict) and str(rl.get("type", "")).startswith("RLIMIT_"),
                 f"{where}.rlimits entry {rl!r} has no RLIMIT_ type")
        _require(int(rl.get("soft", 0)) <= int(rl.get("hard", 0)),
                 f"{where}.rlimits {rl['type']}: soft limit above hard limit")
    if "oomScoreAdj" in process:
        _require(-1000 <= int(process["oomScoreAdj"]) <= 1000, f"{where}.oomScoreAdj out of range")


def validate_spec(spec: dict) -> None:
    """Check the fields the runtime reads; raise :class:`SpecError` on the first problem."""
    _require(isinstance(spec, dict), "config.json must hold an object")
    version = spec.get("ociVersion", "")
    _require(isinstance(version, str) and version.startswith("1."),
             f"unsupported ociVersion {version!r}")
    _require(isinstance(spec.get("root"), dict) and spec["root"].get("path"),
             "root.path is required")
    _validate_process(spec.get("process") or {})
    for m in spec.get("mounts") or []:
        _require(isinstance(m, dict) and str(m.get("destination", "")).startswith("/"),
                 f"mount {m!r} needs an absolute destination")
    linux = spec.get("linux") or {}
    seen = set()
    for ns in linux.get("namespaces") or []:
        kind = ns.get("type")
        _require(kind in NAMESPACE_TYPES, f"unknown namespace type {kind!r}")
        _require(kind not in seen, f"namespace {kind!r} listed twice")
        seen.add(kind)
    _validate_id_mappings(linux, "user" in seen)
    _validate_sysctls(linux)
    if "hostname" in spec and spec["hostname"]:
        _require("uts" in seen, "hostname set without a new uts namespace")
    for key in ("maskedPaths", "readonlyPaths"):
        for path in linux.get(key) or []:
            _require(isinstance(path, str) and path.startswith("/"),
                     f"linux.{key} entry {path!r} must be absolute")
    cgroups_path = linux.get("cgroupsPath")
    if cgroups_path:
        _require(".." not in cgroups_path.split("/"), f"cgroupsPath {cgroups_path!r} contains '..'")
    for dev in linux.get("devices") or []:
        _require(dev.get("type") in ("c", "b", "u", "p"), f"device {dev!r} has a bad type")
        _require(str(dev.get("path", "")).startswith("/dev/"), f"device {dev!r} not under /dev")


#: the IPC namespace's sysctls (runc's validSysctlMap), with every ``fs.mqueue.*``
_IPC_SYSCTLS = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                          "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                          "kernel.shm_rmid_forced"})


def _is_own_netns(path: str) -> bool:
    try:
        ours, theirs = os.stat("/proc/self/ns/net"), os.stat(path)
    except OSError as exc:
        raise SpecError(f"network namespace {path!r}: {exc.strerror}") from exc
    return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)


def _validate_sysctls(linux: dict) -> None:
    """runc 1.1's rule: a sysctl only of a namespace the container does not
    share with the runtime (IPC ones with a new ipc namespace, ``net.*``
    with a network namespace other than ours, ``kernel.domainname`` with a
    new uts namespace); anything else would change the host's."""
    namespaces = {ns.get("type"): ns.get("path") or "" for ns in linux.get("namespaces") or ()}
    for key in linux.get("sysctl") or {}:
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            _require("ipc" in namespaces,
                     f"sysctl {key!r} is not allowed in the hosts ipc namespace")
        elif key.startswith("net."):
            host = "network" not in namespaces or (
                bool(namespaces["network"]) and _is_own_netns(namespaces["network"]))
            _require(not host, f"sysctl {key!r} not allowed in host network namespace")
        elif key == "kernel.hostname" and "uts" in namespaces:
            raise SpecError(f"sysctl {key!r} is not allowed as it conflicts with the OCI "
                            "'hostname' field")
        else:
            _require(key == "kernel.domainname" and "uts" in namespaces,
                     f"sysctl {key!r} is not in a separate kernel namespace")


#: the kernel's limit on the lines of a uid_map or gid_map
_MAX_MAP_LINES = 340


def _validate_id_mappings(linux: dict, userns: bool) -> None:
    """linux.uidMappings/gidMappings: runc 1.1's rule (mappings only with a
    user namespace), then each entry's ids and size in the kernel's range."""
    uid_maps, gid_maps = linux.get("uidMappings"), linux.get("gidMappings")
    if not userns:
        _require(not uid_maps and not gid_maps,
                 "user namespace mappings specified, but user namespace isn't enabled in the config")
        return
    _require(os.path.exists("/proc/self/ns/user"), "user namespaces aren't enabled in the kernel")
    for key, maps in (("uidMappings", uid_maps), ("gidMappings", gid_maps)):
        _require(maps is None or isinstance(maps, list), f"linux.{key} must be a list")
        _require(len(maps or ()) <= _MAX_MAP_LINES,
                 f"linux.{key} has {len(maps or ())} entries: the kernel takes at most {_MAX_MAP_LINES}")
        for entry in maps or ():
            _require(isinstance(entry, dict), f"linux.{key} entry {entry!r} must be an object")
            values = [entry.get(k) for k in ("containerID", "hostID", "size")]
            _require(all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32 - 1
                         for v in values) and values[2] > 0,
                     f"linux.{key} entry {entry!r}: containerID, hostID and size must be "
                     "integers below 4294967295, size above 0")
    joined = any(ns.get("type") == "user" and ns.get("path") for ns in linux.get("namespaces") or ())
    if not joined:
        _require(bool(uid_maps) and bool(gid_maps),
                 "user namespace enabled, but no uid and gid mappings found")


def validate_process(process: dict) -> None:
    """Validation for an ``exec --process`` document."""
    _validate_process(process, for_exec=True)


def load_bundle(bundle: str) -> dict:
    """Read ``<bundle>/config.json``, validate it and make ``root.path`` absolute."""
    bundle = os.path.abspath(bundle)
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            spec = json.load(f)
    except FileNotFoundError as exc:
        raise NotFound(f"bundle {bundle!r} has no config.json") from exc
    except (OSError, ValueError) as exc:
        raise SpecError(f"read {path!r}: {exc}") from exc
    validate_spec(spec)
    root = spec["root"]["path"]
    root = root if os.path.isabs(root) else os.path.join(bundle, root)
    if not os.path.isdir(root):
        raise SpecError(f"rootfs {root!r} is not a directory")
    spec["root"]["path"] = os.path.realpath(root)
    return spec

