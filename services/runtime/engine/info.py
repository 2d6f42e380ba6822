"""What ``docker info`` says of an engine, gathered for barque's runtime:
the host (kernel, distribution, CPUs, memory), what the kernel offers in the
cgroup hierarchy containers go in, the OCI runtimes, the security defaults
and the engine's identity. :meth:`RuntimeService.info` adds the container
counts. No grpc here: the servicer converts :class:`EngineInfo` to proto.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from client.version import BuildInfo, build_info
from services.common.log import get_logger

__all__ = [
    "EngineInfo", "OciRuntime", "CgroupSupport", "ContainerCounts", "LOG_DRIVERS",
    "engine_info", "engine_id", "os_release", "mem_total", "cgroup_support", "oci_runtime",
    "security_options", "warnings",
]

#: the log drivers a container may name; the first is the default
LOG_DRIVERS = ("json-file", "k8s-file")
#: the network drivers a container may use, as Docker names them ("null" is --network none)
NETWORK_DRIVERS = ("bridge", "host", "null")

log = get_logger()


@dataclass(frozen=True)
class OciRuntime:
    """An OCI runtime containers run with (Docker's ``Runtimes``): the binary
    and its extra arguments, and the name, version and commit it reports."""

    #: the key in ``docker info``'s Runtimes (``barque-oci``, ``runc``)
    name: str
    #: the binary the shim runs, absolute
    path: str
    #: arguments before the runtime's own command (``--root`` and the like)
    args: tuple[str, ...]
    #: from ``<binary> --version``: runc's "runc version 1.1.5" or ours
    version: str
    #: the commit that version line names, or ""
    git_commit: str


@dataclass(frozen=True)
class CgroupSupport:
    """What the kernel offers in the hierarchy containers go in (Docker's
    ``sysinfo``): the booleans of ``docker info``'s JSON."""

    memory_limit: bool = False
    swap_limit: bool = False
    cpu_cfs_period: bool = False
    cpu_cfs_quota: bool = False
    cpu_shares: bool = False
    cpu_set: bool = False
    pids_limit: bool = False
    oom_kill_disable: bool = False


@dataclass(frozen=True)
class ContainerCounts:
    running: int = 0
    paused: int = 0
    stopped: int = 0

    @property
    def total(self) -> int:
        return self.running + self.paused + self.stopped


@dataclass(frozen=True)
class EngineInfo:
    """The runtime's part of Docker's ``Info``, in proto field names."""

    build: BuildInfo
    id: str
    containers: int
    containers_running: int
    containers_paused: int
    containers_stopped: int
    logging_driver: str
    log_drivers: tuple[str, ...]
    network_drivers: tuple[str, ...]
    cgroup_driver: str
    cgroup_version: str
    memory_limit: bool
    swap_limit: bool
    cpu_cfs_period: bool
    cpu_cfs_quota: bool
    cpu_shares: bool
    cpu_set: bool
    pids_limit: bool
    oom_kill_disable: bool
    runtimes: tuple[OciRuntime, ...]
    default_runtime: str
    security_options: tuple[str, ...]
    kernel_version: str
    operating_system: str
    os_version: str
    os_type: str
    architecture: str
    ncpu: int
    mem_total: int
    name: str
    root_dir: str
    debug: bool
    live_restore_enabled: bool
    warnings: tuple[str, ...]


def engine_info(*, root: Path, oci: list[str], counts: ContainerCounts, cgroup_v2: bool,
                cgroup_root: Path, userns: bool = False) -> EngineInfo:
    """The engine whose runtime state is ``root`` (``<state_dir>/runtime``),
    running containers with the ``oci`` command, in the v1 hierarchies under
    ``cgroup_root`` or the cgroup2 mount there."""
    support = cgroup_support(cgroup_v2, cgroup_root)
    version = "2" if cgroup_v2 else "1"
    runtime = oci_runtime(oci)
    pretty, version_id = os_release()
    uname = os.uname()
    return EngineInfo(
        build=build_info(), id=engine_id(root),
        containers=counts.total, containers_running=counts.running,
        containers_paused=counts.paused, containers_stopped=counts.stopped,
        logging_driver=LOG_DRIVERS[0], log_drivers=LOG_DRIVERS, network_drivers=NETWORK_DRIVERS,
        cgroup_driver="cgroupfs", cgroup_version=version, **vars(support),
        runtimes=(runtime,), default_runtime=runtime.name,
        security_options=security_options(cgroup_v2, userns),
        kernel_version=uname.release, operating_system=pretty, os_version=version_id,
        os_type=sys.platform, architecture=uname.machine, ncpu=len(os.sched_getaffinity(0)),
        mem_total=mem_total(), name=uname.nodename, root_dir=str(root.parent),
        debug=log.bind().is_enabled_for(logging.DEBUG), live_restore_enabled=True,
        warnings=warnings(support, version),
    )


def engine_id(root: Path) -> str:
    """The engine's UUID, kept in ``root/engine-id`` (Docker keeps one in its
    root dir): made on first use, published by ``link`` so concurrent first
    calls agree on one and nobody reads a half-written file."""
    path = root / "engine-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    tmp = root / f".engine-id.{uuid.uuid4().hex}"
    tmp.write_text(str(uuid.uuid4()) + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


def os_release(paths: tuple[str, ...] = ("/etc/os-release", "/usr/lib/os-release")) -> tuple[str, str]:
    """(PRETTY_NAME, VERSION_ID) of the host's os-release; ("Linux", "") without one."""
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        values = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip().strip("\"'")
        return values.get("PRETTY_NAME") or values.get("NAME") or "Linux", values.get("VERSION_ID", "")
    return "Linux", ""


def mem_total(meminfo: str = "/proc/meminfo") -> int:
    """Host memory in bytes (``MemTotal`` of /proc/meminfo); 0 when unreadable."""
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def cgroup_support(v2: bool, root: Path) -> CgroupSupport:
    """What the kernel offers where containers go: on v2 the controllers the
    cgroup2 mount at ``root`` lists, on v1 the controller files under
    ``root/<controller>/`` (Docker's ``sysinfo`` checks)."""
    if v2:
        try:
            controllers = set((root / "cgroup.controllers").read_text().split())
        except OSError:
            controllers = set()
        cpu = "cpu" in controllers
        return CgroupSupport(
            memory_limit="memory" in controllers, swap_limit="memory" in controllers,
            cpu_cfs_period=cpu, cpu_cfs_quota=cpu, cpu_shares=cpu, cpu_set="cpuset" in controllers,
            pids_limit="pids" in controllers, oom_kill_disable=False,
        )

    def has(name: str) -> bool:
        return (root / name).exists()

    return CgroupSupport(
        memory_limit=has("memory/memory.limit_in_bytes"), swap_limit=has("memory/memory.memsw.limit_in_bytes"),
        cpu_cfs_period=has("cpu/cpu.cfs_period_us"), cpu_cfs_quota=has("cpu/cpu.cfs_quota_us"),
        cpu_shares=has("cpu/cpu.shares"), cpu_set=has("cpuset/cpuset.cpus"), pids_limit=has("pids"),
        oom_kill_disable=has("memory/memory.oom_control"),
    )


def warnings(support: CgroupSupport, cgroup_version: str) -> tuple[str, ...]:
    """Docker's warnings for what the hierarchy lacks, in its words and order
    (moby ``daemon/info_unix.go``); the v1-only ones only on v1."""
    out = []
    checks = [
        (support.memory_limit, "WARNING: No memory limit support", True),
        (support.swap_limit, "WARNING: No swap limit support", True),
        (support.oom_kill_disable, "WARNING: No oom kill disable support", cgroup_version == "1"),
        (support.cpu_cfs_quota, "WARNING: No cpu cfs quota support", True),
        (support.cpu_cfs_period, "WARNING: No cpu cfs period support", True),
        (support.cpu_shares, "WARNING: No cpu shares support", True),
        (support.cpu_set, "WARNING: No cpuset support", True),
    ]
    for supported, text, applies in checks:
        if applies and not supported:
            out.append(text)
    return tuple(out)


def security_options(cgroup_v2: bool, userns: bool = False) -> tuple[str, ...]:
    """Confinement every container gets by default, in Docker's form and
    order: the builtin seccomp profile when the kernel has seccomp, user
    namespaces under a ``--userns-remap``, and a cgroup namespace on v2.
    no-new-privileges only when asked for, so not listed."""
    out = []
    if _kernel_has_seccomp():
        out.append("name=seccomp,profile=builtin")
    if userns:
        out.append("name=userns")
    if cgroup_v2:
        out.append("name=cgroupns")
    return tuple(out)


def _kernel_has_seccomp(status: str = "/proc/self/status") -> bool:
    try:
        with open(status) as f:
            return any(line.startswith("Seccomp:") for line in f)
    except OSError:
        return False


_VERSION_LINE = re.compile(r"(\S+) version (\S+)")


def oci_runtime(command: list[str]) -> OciRuntime:
    """The OCI runtime ``command`` runs. barque-oci (the script or the module)
    is this package, so its version is known without running it; another
    runtime (runc, given by ``oci_command``) is asked with ``--version``,
    whose first line runc and barque-oci write as ``<name> version <x>``."""
    path, args = command[0], tuple(command[1:])
    if Path(path).name == "barque-oci" or args[-2:] == ("-m", "services.runtime.oci"):
        from services.runtime.oci.versioninfo import VERSION

        return OciRuntime("barque-oci", path, args, VERSION, build_info().git_commit)
    name, version, commit = Path(path).name, "", ""
    try:
        proc = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=10,
                              stdin=subprocess.DEVNULL)
        lines = proc.stdout.splitlines()
        m = _VERSION_LINE.match(lines[0]) if lines else None
        if m:
            name, version = m.group(1), m.group(2)
        commit = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("commit:")), "")
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("info.oci_version_failed", command=command, error=str(exc))
    return OciRuntime(name, path, args, version, commit)
