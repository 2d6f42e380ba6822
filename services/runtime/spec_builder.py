"""Build an OCI runtime-spec config.json from an image config and Docker's flags.

What comes out is what Docker (moby ``daemon/oci_linux.go`` on top of
``oci/defaults.go``) hands runc for the same request, with these fixed
choices of ours: the NOFILE rlimit is 1048576 (what Docker containers inherit
from dockerd's unit), HOME is filled in from passwd when absent (runc does that
at exec time; barque-oci does not), the device cgroup also lists the pts,
ptmx and tun rules runc would append, and privileged containers get no host
device nodes. Inputs are validated with Docker's rules and messages and
rejected with :class:`InvalidArgument`.

Notable Docker behaviours reproduced here (each with its moby source):

* capabilities: bounding/effective/permitted for root, but only bounding for
  any other uid ("to match what execve does", ``oci.SetCapabilities``);
  inheritable and ambient are empty (CVE-2022-24769);
* a container with its own network namespace gets the sysctls
  ``net.ipv4.ping_group_range=0 2147483647`` and
  ``net.ipv4.ip_unprivileged_port_start=0`` (``WithCommonOptions``);
* ``--memory-swap`` 0 with ``-m`` means twice the memory, -1 means no swap
  limit, which leaves ``swap`` out of the spec (``getMemoryResources``).
"""

from __future__ import annotations

import os
import posixpath
import resource
from dataclasses import dataclass, field
from pathlib import Path

from services.common.errors import InvalidArgument
from services.common.log import get_logger

from .flags import Bind, parse_signal
from .oci.caps import CAPABILITIES, DOCKER_DEFAULT_CAPS
from .oci.spec import validate_id
from .seccomp_profile import default_profile
from .users import resolve_user

__all__ = [
    "DEFAULT_CAPS", "DEFAULT_PATH_ENV", "MASKED_PATHS", "READONLY_PATHS", "DEFAULT_DEVICE_RULES",
    "ContainerRequest", "all_capabilities", "effective_caps", "process_args", "merged_env",
    "stop_signal", "memory_resources", "cpu_resources", "host_nofile_limit", "build_spec",
]

log = get_logger(__name__)

#: Docker's 14 default capabilities, in moby's order (CapEff 00000000a80425fb)
DEFAULT_CAPS: list[str] = list(DOCKER_DEFAULT_CAPS)

DEFAULT_PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MASKED_PATHS: list[str] = [
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
]
READONLY_PATHS: list[str] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _dev(major: int, minor: int | None, allow: bool = True) -> dict:
    rule = {"allow": allow, "type": "c", "major": major, "access": "rwm"}
    if minor is not None:
        rule["minor"] = minor
    return rule


#: moby DefaultLinuxSpec's device cgroup (deny all; null, zero, urandom,
#: random, tty, console; deny fuse) plus runc's implicit pts, ptmx and tun
DEFAULT_DEVICE_RULES: list[dict] = [
    {"allow": False, "access": "rwm"},
    _dev(1, 5), _dev(1, 3), _dev(1, 9), _dev(1, 8), _dev(5, 0), _dev(5, 1),
    _dev(10, 229, allow=False),
    _dev(136, None), _dev(5, 2), _dev(10, 200),
]

NOFILE_LIMIT = 1048576
SHM_SIZE = 64 * 1024 * 1024          # Docker's default --shm-size
CPU_PERIOD = 100_000                 # 100 ms, in microseconds
MIN_MEMORY = 6 * 1024 * 1024         # linuxMinMemory
MIN_CPU_SHARES, MAX_CPU_SHARES = 2, 262144

# Mounts Docker leaves writable on a read-only rootfs (WithMounts).
_RW_ON_READONLY_ROOT = ("/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev")

# Sysctls Docker sets in a container's own network namespace.
_NETNS_SYSCTLS = {
    "net.ipv4.ping_group_range": "0 2147483647",
    "net.ipv4.ip_unprivileged_port_start": "0",
}


@dataclass
class ContainerRequest:
    """Everything ``docker run`` decides about a container, already parsed.

    ``entrypoint``/``cmd`` None keep the image's; an entrypoint of ``[]`` or
    ``[""]`` is ``--entrypoint ""``. ``env`` is the user's ``-e``/``--env-file``
    list, merged over the image's Env. Empty ``working_dir``/``user`` take the
    image's. ``memory_swap`` 0 means default (twice ``memory``), -1 unlimited;
    ``pids_limit`` 0 means none, negative unlimited. ``network`` is ``none``
    (a new, empty namespace), ``host``, or the path of a network namespace
    to join. ``etc_files`` maps a container path (``/etc/hosts``...) to the host
    file bound there.
    """

    id: str
    hostname: str
    image_config: dict
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""
    tty: bool = False
    open_stdin: bool = False
    memory: int = 0
    memory_swap: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    pids_limit: int = 0
    read_only: bool = False
    binds: list[Bind] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    no_new_privileges: bool = False
    seccomp_unconfined: bool = False
    network: str = "none"
    cgroups_path: str = ""
    etc_files: dict[str, str] = field(default_factory=dict)


def _own_bounding_set() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return ~0


def all_capabilities(last_cap: int | None = None) -> list[str]:
    """Every capability the kernel knows (``cap_last_cap``), in number order.

    When probing the host (``last_cap`` None) only those in the engine's own
    bounding set count, as moby's GetAllCapabilities: a container cannot be
    given what the engine does not hold (a confined host, a nested engine).
    """
    bounding = ~0
    if last_cap is None:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last_cap = int(f.read())
        bounding = _own_bounding_set()
    return [name for name, number in sorted(CAPABILITIES.items(), key=lambda kv: kv[1])
            if number <= last_cap and bounding & (1 << number)]


def _normalize_caps(names: list[str], flag: str) -> list[str]:
    out = []
    for raw in names:
        name = raw.strip().upper()
        if name != "ALL" and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != "ALL" and name not in CAPABILITIES:
            raise InvalidArgument(f"{flag}: unknown capability: {raw!r}")
        out.append(name)
    return out


def effective_caps(cap_add: list[str], cap_drop: list[str], privileged: bool,
                   *, last_cap: int | None = None) -> list[str]:
    """Docker's ``caps.TweakCapabilities`` over :data:`DEFAULT_CAPS`.

    Names are case-insensitive, with or without ``CAP_``; ``ALL`` is allowed in
    either list. Privileged means every capability. ``--cap-add ALL`` keeps all
    but the dropped ones; ``--cap-drop ALL`` keeps only the added ones;
    otherwise drops come off the defaults and adds are appended. The result
    has no duplicates and keeps first-seen order.
    """
    if privileged:
        return all_capabilities(last_cap)
    adds = _normalize_caps(cap_add, "--cap-add")
    drops = _normalize_caps(cap_drop, "--cap-drop")
    if "ALL" in adds:
        caps = [c for c in all_capabilities(last_cap) if c not in drops]
    elif "ALL" in drops:
        caps = [c for c in adds if c != "ALL"]
    else:
        caps = [c for c in DEFAULT_CAPS if c not in drops] + adds
    return list(dict.fromkeys(caps))


def _str_list(value, what: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{what} must be a list of strings, got {value!r}")
    if any("\x00" in v for v in value):
        raise InvalidArgument(f"{what} contains a NUL byte")
    return value


def process_args(image_config: dict, entrypoint: list[str] | None, cmd: list[str] | None) -> list[str]:
    """The process's argv by Docker's merge rules (daemon ``merge`` + ``mergeAndVerifyConfig``).

    * No ``--entrypoint`` (None): the image's Entrypoint, then ``cmd`` if
      given and non-empty, else the image's Cmd.
    * ``--entrypoint X``: X then ``cmd``; the image's Cmd is dropped even when
      ``cmd`` is empty ("--entrypoint clears the default command").
    * ``--entrypoint ""`` (``[]`` or ``[""]``): no entrypoint and, as above,
      no image Cmd: ``cmd`` alone.

    An empty result raises ``InvalidArgument("no command specified")``.
    """
    image_entry = _str_list(image_config.get("Entrypoint"), "image Entrypoint")
    image_cmd = _str_list(image_config.get("Cmd"), "image Cmd")
    user_entry = _str_list(entrypoint, "entrypoint")
    user_cmd = _str_list(cmd, "cmd")
    if user_entry is not None and len(user_entry) == 0:
        user_entry = [""]
    if not user_entry:
        if not user_cmd:
            user_cmd = image_cmd
        if user_entry is None:
            user_entry = image_entry
    if user_entry == [""]:
        user_entry = None
    args = [*(user_entry or []), *(user_cmd or [])]
    if not args:
        raise InvalidArgument("no command specified")
    return args


def _env_key(entry: str) -> str:
    return entry.split("=", 1)[0]


def _check_env(entries: list[str], what: str) -> None:
    for entry in entries:
        if "\x00" in entry:
            raise InvalidArgument(f"{what}: environment variable {entry!r} contains a NUL byte")
        if entry.startswith("="):
            raise InvalidArgument(f"{what}: invalid environment variable: {entry!r}")


def _replace_or_append(defaults: list[str], overrides: list[str]) -> list[str]:
    # moby container.ReplaceOrAppendEnvValues: overrides replace defaults with
    # the same key in place, others are appended; an override without "="
    # removes the default of that name.
    out: list[str | None] = list(defaults)
    index = {_env_key(e): i for i, e in enumerate(defaults)}
    for value in overrides:
        if "=" not in value:
            if value in index:
                out[index[value]] = None
            continue
        key = _env_key(value)
        if key in index:
            out[index[key]] = value
        else:
            out.append(value)
    return [e for e in out if e is not None]


def merged_env(image_env: list[str] | None, env: list[str], home: str, hostname: str,
               *, tty: bool = False) -> list[str]:
    """The process environment, in Docker's order.

    ``PATH`` (Docker's default), ``HOSTNAME`` and, with a tty, ``TERM=xterm``
    come first; the container's Env (the user's entries, then the image's
    entries whose key the user did not set) replaces those in place or is
    appended. ``HOME`` is appended from passwd when still absent or empty.
    """
    image_env = _str_list(image_env, "image Env") or []
    user_env = _str_list(env, "env") or []
    _check_env(image_env, "image Env")
    _check_env(user_env, "env")
    if user_env:
        user_keys = {_env_key(e) for e in user_env}
        config_env = user_env + [e for e in image_env if _env_key(e) not in user_keys]
    else:
        config_env = list(image_env)
    defaults = [f"PATH={DEFAULT_PATH_ENV}", f"HOSTNAME={hostname}"]
    if tty:
        defaults.append("TERM=xterm")
    out = _replace_or_append(defaults, config_env)
    homes = [i for i, e in enumerate(out) if _env_key(e) == "HOME"]
    if not homes:
        out.append(f"HOME={home}")
    elif out[homes[0]] == "HOME=":
        out[homes[0]] = f"HOME={home}"
    return out


def stop_signal(image_config: dict, override: str | None = None) -> int:
    """``--stop-signal``, else the image's StopSignal, else SIGTERM (15)."""
    if override:
        return parse_signal(override)
    if image_config.get("StopSignal"):
        return parse_signal(str(image_config["StopSignal"]))
    return 15


def memory_resources(memory: int, memory_swap: int, *, swap_supported: bool = True) -> dict | None:
    """``linux.resources.memory`` for ``-m``/``--memory-swap``, Docker-validated.

    ``swap`` is the memory+swap total (cgroup v1 ``memsw`` semantics), as in
    Docker. ``swap_supported`` False (no swap accounting on the host) drops the
    swap limit, as Docker does with a warning.
    """
    if memory != 0 and memory < MIN_MEMORY:
        raise InvalidArgument("minimum memory limit allowed is 6MB")
    if memory_swap < -1:
        raise InvalidArgument(f"invalid memory swap {memory_swap}: use -1 for unlimited")
    if memory > 0 and memory_swap == 0:
        memory_swap = 2 * memory
    if memory > 0 and memory_swap > 0 and memory_swap < memory:
        raise InvalidArgument("minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and memory_swap > 0:
        raise InvalidArgument("you should always set the memory limit when using memoryswap limit, see usage")
    out: dict = {}
    if memory > 0:
        out["limit"] = memory
    if memory_swap > 0:
        if swap_supported:
            out["swap"] = memory_swap
        else:
            log.warning("memory_swap_unsupported", swap=memory_swap)
    return out or None


def cpu_resources(nano_cpus: int, cpu_shares: int, *, host_cpus: int | None = None) -> dict | None:
    """``linux.resources.cpu`` for ``--cpus`` and ``--cpu-shares``, Docker-validated."""
    ncpu = host_cpus or os.cpu_count() or 1
    if nano_cpus < 0 or nano_cpus > ncpu * 1_000_000_000:
        raise InvalidArgument(f"range of cpus is from 0.01 to {ncpu}.00, as there are only {ncpu} cpus available")
    if cpu_shares < 0:
        raise InvalidArgument(f"invalid cpu shares ({cpu_shares}): value must be a positive integer")
    out: dict = {}
    if cpu_shares > 0:
        clamped = min(max(cpu_shares, MIN_CPU_SHARES), MAX_CPU_SHARES)
        if clamped != cpu_shares:
            log.warning("cpu_shares_clamped", requested=cpu_shares, applied=clamped)
        out["shares"] = clamped
    if nano_cpus > 0:
        out["period"] = CPU_PERIOD
        out["quota"] = nano_cpus * CPU_PERIOD // 1_000_000_000
    return out or None


def _clean_abs(path: str, what: str) -> str:
    if not path.startswith("/") or "\x00" in path:
        raise InvalidArgument(f"{what} {path!r} must be an absolute path")
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/")


def _default_mounts() -> list[dict]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={SHM_SIZE}"]},
    ]


def _mounts(req: ContainerRequest) -> list[dict]:
    """Docker's ``WithMounts``: defaults, minus the ones user mounts override,
    then user binds and the etc files sorted parents first."""
    extra: list[tuple[str, str, bool, str]] = []   # (destination, source, writable, propagation)
    seen: set[str] = set()
    for bind in req.binds:
        dest = _clean_abs(bind.destination, "bind destination")
        if dest == "/":
            raise InvalidArgument("invalid bind destination: can't be '/'")
        if dest in seen:
            raise InvalidArgument(f"duplicate mount point: {dest}")
        seen.add(dest)
        extra.append((dest, _clean_abs(bind.source, "bind source"), not bind.read_only, bind.propagation))
    for dest_raw, source in req.etc_files.items():
        dest = _clean_abs(dest_raw, "etc file destination")
        if dest in seen:
            continue   # a user mount at the same place wins (Docker: HasMountFor)
        seen.add(dest)
        extra.append((dest, _clean_abs(source, "etc file source"), not req.read_only, "rprivate"))
    extra.sort(key=lambda m: m[0].count("/"))   # stable: parents before children

    mounts = []
    for m in _default_mounts():
        if m["destination"] in seen or ("/dev" in seen and m["destination"].startswith("/dev/")):
            continue
        mounts.append(m)
    for dest, source, writable, propagation in extra:
        options = ["rbind"] + ([] if writable else ["ro"]) + [propagation]
        mounts.append({"destination": dest, "type": "bind", "source": source, "options": options})

    if req.read_only:
        for m in mounts:
            if m["destination"] not in _RW_ON_READONLY_ROOT and m["destination"] not in seen \
                    and "ro" not in m["options"]:
                m["options"].append("ro")
    if req.privileged:
        for m in mounts:
            if m["destination"] == "/sys" or m["type"] == "cgroup":
                m["options"] = [o for o in m["options"] if o != "ro"]
    return mounts


def _namespaces(req: ContainerRequest, cgroup_v2: bool) -> tuple[list[dict], bool]:
    """(namespaces, own network namespace?) in Docker's order."""
    namespaces: list[dict] = [{"type": "mount"}]
    own_netns = True
    if req.network == "none":
        namespaces.append({"type": "network"})
    elif req.network == "host":
        own_netns = False
    elif req.network.startswith("/"):
        namespaces.append({"type": "network", "path": req.network})
    else:
        raise InvalidArgument(f"unsupported network mode {req.network!r}: use none, host or a netns path")
    namespaces += [{"type": "uts"}, {"type": "pid"}, {"type": "ipc"}]
    if cgroup_v2:
        namespaces.append({"type": "cgroup"})
    return namespaces, own_netns


def host_nofile_limit() -> int:
    """The NOFILE limit a container can get here: :data:`NOFILE_LIMIT`, or less
    when this process lacks CAP_SYS_RESOURCE and its own hard limit is lower
    (the runtime, our child, could not raise it: setrlimit fails with EPERM)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard >= NOFILE_LIMIT:
        return NOFILE_LIMIT
    with open("/proc/self/status") as f:
        cap_eff = next((int(line.split()[1], 16) for line in f if line.startswith("CapEff:")), 0)
    if cap_eff & (1 << CAPABILITIES["CAP_SYS_RESOURCE"]):
        return NOFILE_LIMIT
    log.warning("nofile_limit_clamped", wanted=NOFILE_LIMIT, applied=hard)
    return hard


def _sysctl_exists(name: str) -> bool:
    return os.path.exists(os.path.join("/proc/sys", name.replace(".", "/")))


def build_spec(req: ContainerRequest, rootfs: Path | str, *, root_path: str | None = None,
               cgroup_v2: bool = False, kernel: tuple[int, int] | None = None,
               last_cap: int | None = None, host_cpus: int | None = None,
               swap_supported: bool = True, nofile: int | None = None) -> dict:
    """config.json for ``req`` over the mounted image ``rootfs``.

    ``rootfs`` is read (its /etc/passwd and /etc/group, never leaving it) to
    resolve the user; ``root_path`` is what goes into ``root.path`` (default:
    ``rootfs`` itself). ``cgroup_v2`` adds a cgroup namespace as Docker does on
    a unified host; ``kernel``, ``last_cap``, ``host_cpus``, ``swap_supported``
    and ``nofile`` (see :func:`host_nofile_limit`) describe the host and
    default to probing it.
    """
    validate_id(req.id)
    cfg = req.image_config or {}
    hostname = req.hostname or req.id[:12]
    args = process_args(cfg, req.entrypoint, req.cmd)
    user = resolve_user(rootfs, req.user or str(cfg.get("User") or ""))
    working_dir = req.working_dir or str(cfg.get("WorkingDir") or "")
    cwd = _clean_abs(working_dir, "working directory") if working_dir else "/"
    env = merged_env(cfg.get("Env"), req.env, user.home, hostname, tty=req.tty)

    caps = effective_caps(req.cap_add, req.cap_drop, req.privileged, last_cap=last_cap)
    root_user = user.uid == 0
    capabilities = {
        "bounding": list(caps),
        "effective": list(caps) if root_user else [],
        "permitted": list(caps) if root_user else [],
        "inheritable": [],
        "ambient": [],
    }
    if req.pids_limit < 0:
        pids = {"limit": -1}
    elif req.pids_limit > 0:
        pids = {"limit": req.pids_limit}
    else:
        pids = None

    resources: dict = {
        "devices": [{"allow": True, "access": "rwm"}] if req.privileged
        else [dict(rule) for rule in DEFAULT_DEVICE_RULES],
    }
    memory = memory_resources(req.memory, req.memory_swap, swap_supported=swap_supported)
    cpu = cpu_resources(req.nano_cpus, req.cpu_shares, host_cpus=host_cpus)
    if memory:
        resources["memory"] = memory
    if cpu:
        resources["cpu"] = cpu
    if pids:
        resources["pids"] = pids

    namespaces, own_netns = _namespaces(req, cgroup_v2)
    sysctl = {k: v for k, v in _NETNS_SYSCTLS.items() if _sysctl_exists(k)} if own_netns else {}

    linux: dict = {
        "namespaces": namespaces,
        "maskedPaths": [] if req.privileged else list(MASKED_PATHS),
        "readonlyPaths": [] if req.privileged else list(READONLY_PATHS),
        "resources": resources,
        "cgroupsPath": req.cgroups_path or f"/barque/{req.id}",
        "sysctl": sysctl,
        "devices": [],
    }
    limit = nofile if nofile is not None else host_nofile_limit()
    if not (req.privileged or req.seccomp_unconfined):
        linux["seccomp"] = default_profile(caps, kernel=kernel)

    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": req.tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": list(user.additional_gids)},
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": capabilities,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": limit, "soft": limit}],
            "noNewPrivileges": req.no_new_privileges,
            "oomScoreAdj": 0,
        },
        "root": {"path": root_path if root_path is not None else str(rootfs), "readonly": req.read_only},
        "hostname": hostname,
        "mounts": _mounts(req),
        "linux": linux,
    }
