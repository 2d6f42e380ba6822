"""``build_spec``: a skeleton config.json, then each option in turn."""

from __future__ import annotations

from collections.abc import Sequence

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HostConfig

from ..oci.spec import validate_id
from .context import SpecContext, SpecOpt
from .init import with_init
from .mounts import with_mounts, with_readonly_rootfs, with_root, with_writable_sysfs
from .namespaces import with_cgroups_path, with_hostname, with_namespaces, with_sysctls, with_userns
from .process import (
    with_args,
    with_env,
    with_no_new_privileges,
    with_oom_score_adj,
    with_rlimits,
    with_terminal,
    with_user,
    with_working_dir,
)
from .resources import with_cpu, with_devices, with_memory, with_pids
from .security import with_capabilities, with_masked_paths, with_readonly_paths, with_seccomp

__all__ = ["skeleton", "DEFAULT_OPTIONS", "build_spec"]


def skeleton() -> dict:
    """Every key of the config.json barque writes, in its order, each empty
    or at its zero value; the options fill them in. Keys an option adds
    (``linux.resources.memory``, ``linux.seccomp``...) follow these."""
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0, "additionalGids": []},
            "args": [],
            "env": [],
            "cwd": "/",
            "capabilities": {"bounding": [], "effective": [], "permitted": [], "inheritable": [], "ambient": []},
            "rlimits": [],
            "noNewPrivileges": False,
            "oomScoreAdj": 0,
        },
        "root": {"path": "", "readonly": False},
        "hostname": "",
        "mounts": [],
        "linux": {
            "namespaces": [],
            "maskedPaths": [],
            "readonlyPaths": [],
            "resources": {"devices": []},
            "cgroupsPath": "",
            "sysctl": {},
            "devices": [],
        },
    }


#: the options ``build_spec`` applies, in order. An option may read what an
#: earlier one wrote: with_user fills HOME into with_env's environment,
#: with_capabilities reads the uid, with_seccomp the bounding set, and the
#: read-only and privileged mount options adjust with_mounts' list; with_init
#: wraps with_args' argv and adds its mount before with_mounts' binds.
DEFAULT_OPTIONS: tuple[SpecOpt, ...] = (
    with_args,
    with_terminal,
    with_env,
    with_user,
    with_working_dir,
    with_capabilities,
    with_devices,
    with_memory,
    with_cpu,
    with_pids,
    with_hostname,
    with_namespaces,
    with_userns,
    with_sysctls,
    with_masked_paths,
    with_readonly_paths,
    with_cgroups_path,
    with_oom_score_adj,
    with_rlimits,
    with_seccomp,
    with_no_new_privileges,
    with_root,
    with_mounts,
    with_readonly_rootfs,
    with_writable_sysfs,
    with_init,
)


def build_spec(config: ContainerConfig, host: HostConfig, ctx: SpecContext,
               options: Sequence[SpecOpt] = DEFAULT_OPTIONS) -> dict:
    """config.json for Docker's ``config`` and ``host`` over the context's
    rootfs: :func:`skeleton`, then each of ``options``. Neither message is
    modified. Inputs are validated with Docker's rules and messages and
    refused with InvalidArgument."""
    validate_id(ctx.id)
    spec = skeleton()
    for option in options:
        option(spec, config, host, ctx)
    return spec
