"""What a spec option may read besides Docker's Config and HostConfig.

:class:`SpecContext` holds the facts the engine has decided or found for one
container (its id, the image's config, where its root filesystem is, the
parsed binds and security options, the etc files it wrote, the network it
joins) and, in :class:`HostFacts`, what the host offers. Neither repeats a field of
Docker's Config or HostConfig: an option that needs one reads the proto
message, and says so with ``@applies``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HostConfig

from services.common.idmap import IdMapping

from .flags import Bind, SecurityOpts

__all__ = ["HostFacts", "SpecContext", "SpecOpt"]


@dataclass(frozen=True)
class HostFacts:
    """The host as the spec needs it; ``None`` means probe this host.

    ``kernel`` (major, minor) selects seccomp rules; ``last_cap`` is
    ``cap_last_cap``; ``host_cpus`` bounds ``--cpus``; ``swap_supported`` says
    the memory cgroup accounts swap; ``nofile`` is the NOFILE limit a
    container can get (see :func:`~services.runtime.spec.process.host_nofile_limit`);
    ``cgroup_v2`` adds a cgroup namespace, as Docker does on a unified host.
    """

    kernel: tuple[int, int] | None = None
    last_cap: int | None = None
    host_cpus: int | None = None
    swap_supported: bool = True
    nofile: int | None = None
    cgroup_v2: bool = False


@dataclass(frozen=True)
class SpecContext:
    """One container's facts that are not Docker configuration.

    ``hostname`` is the one the engine chose (Config.Hostname, else the id's
    first 12 characters, which is also the default here). ``rootfs`` is read
    (its /etc/passwd and /etc/group, never leaving it) to resolve the user;
    ``root_path`` is what goes into ``root.path`` (default: ``rootfs``).
    ``binds`` are the bind mounts the engine made ready (host paths from
    HostConfig.Binds and Mounts, volumes' data directories), ``tmpfs_mounts``
    its tmpfs mounts (destination -> mount options), ``security``
    HostConfig.SecurityOpt parsed. ``etc_files`` maps a container path
    (``/etc/hosts``...) to the host file bound there. ``network`` is ``none`` (a new, empty namespace),
    ``host``, or the path of a network namespace to join.
    ``cgroups_path`` defaults to ``/barque/<id>``. ``facts`` describe the host.
    ``idmap`` is the engine's user-namespace remap (None: it has none).
    """

    id: str
    rootfs: Path | str
    image_config: Mapping = field(default_factory=dict)
    hostname: str = ""
    root_path: str | None = None
    binds: Sequence[Bind] = ()
    tmpfs_mounts: Mapping[str, Sequence[str]] = field(default_factory=dict)
    security: SecurityOpts = field(default_factory=SecurityOpts)
    etc_files: Mapping[str, str] = field(default_factory=dict)
    network: str = "none"
    cgroups_path: str = ""
    facts: HostFacts = field(default_factory=HostFacts)
    idmap: IdMapping | None = None

    @property
    def uts_hostname(self) -> str:
        """The container's hostname: the chosen one, else the id's first 12 characters."""
        return self.hostname or self.id[:12]


#: one spec option: adjusts one concern of ``spec`` in place (containerd's SpecOpts)
SpecOpt = Callable[[dict, ContainerConfig, HostConfig, SpecContext], None]
