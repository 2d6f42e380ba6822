"""Build an OCI runtime-spec config.json from Docker's Config and HostConfig.

:func:`build_spec` starts from a :func:`skeleton` and applies small options in
turn, in the style of containerd's ``SpecOpts``: each takes the spec, the
``runtime.v1`` ContainerConfig and HostConfig, and a :class:`SpecContext` of
facts that are not Docker configuration, and adjusts one concern of the spec.
An option that uses a Config or HostConfig field declares it with
:func:`~services.runtime.spec.options.applies`. A new option is one new function
here and its place in :data:`DEFAULT_OPTIONS`.

What comes out is what Docker (moby ``daemon/oci_linux.go`` on top of
``oci/defaults.go``) hands runc for the same request, with these fixed
choices of ours: the NOFILE rlimit is 1048576 (what Docker containers inherit
from dockerd's unit), HOME is filled in from passwd when absent (runc does that
at exec time; barque-oci does not), the device cgroup also lists the pts,
ptmx and tun rules runc would append, and privileged containers get no host
device nodes. Notable Docker behaviours reproduced (each with its moby
source): capabilities only in the bounding set for a uid other than 0
(``oci.SetCapabilities``); the ping and unprivileged-port sysctls in a
network namespace of the container's own (``WithCommonOptions``);
``--memory-swap`` 0 meaning twice the memory and -1 no swap limit
(``getMemoryResources``).
"""

from __future__ import annotations

from .builder import DEFAULT_OPTIONS, build_spec, skeleton
from .context import HostFacts, SpecContext, SpecOpt
from .mounts import SHM_SIZE, default_mounts, with_mounts, with_readonly_rootfs, with_root, with_writable_sysfs
from .namespaces import (
    NETNS_SYSCTLS,
    remapped,
    with_cgroups_path,
    with_hostname,
    with_namespaces,
    with_sysctls,
    with_userns,
)
from .process import (
    DEFAULT_PATH_ENV,
    NOFILE_LIMIT,
    base_env,
    host_nofile_limit,
    merged_env,
    process_args,
    stop_signal,
    with_args,
    with_env,
    with_home,
    with_no_new_privileges,
    with_rlimits,
    with_terminal,
    with_user,
    with_working_dir,
)
from .resources import (
    CPU_PERIOD,
    DEFAULT_DEVICE_RULES,
    MIN_MEMORY,
    cpu_resources,
    memory_resources,
    with_cpu,
    with_devices,
    with_memory,
    with_pids,
)
from .security import (
    DEFAULT_CAPS,
    MASKED_PATHS,
    READONLY_PATHS,
    all_capabilities,
    effective_caps,
    with_capabilities,
    with_masked_paths,
    with_readonly_paths,
    with_seccomp,
)

__all__ = [
    # building
    "build_spec", "skeleton", "DEFAULT_OPTIONS", "SpecContext", "HostFacts", "SpecOpt",
    # the options
    "with_args", "with_terminal", "with_env", "with_user", "with_working_dir", "with_capabilities",
    "with_devices", "with_memory", "with_cpu", "with_pids", "with_hostname", "with_namespaces",
    "with_sysctls", "with_masked_paths", "with_readonly_paths", "with_cgroups_path", "with_rlimits",
    "with_seccomp", "with_no_new_privileges", "with_root", "with_mounts", "with_readonly_rootfs",
    "with_writable_sysfs", "with_userns",
    # Docker's rules, usable alone
    "process_args", "base_env", "with_home", "merged_env", "stop_signal", "effective_caps",
    "all_capabilities", "memory_resources", "cpu_resources", "host_nofile_limit", "default_mounts", "remapped",
    # Docker's defaults
    "DEFAULT_CAPS", "DEFAULT_PATH_ENV", "MASKED_PATHS", "READONLY_PATHS", "DEFAULT_DEVICE_RULES",
    "NETNS_SYSCTLS", "NOFILE_LIMIT", "SHM_SIZE", "CPU_PERIOD", "MIN_MEMORY",
]
