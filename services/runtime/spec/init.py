"""``--init``: a minimal init as the container's PID 1, as Docker runs one
(moby ``daemon/oci_linux.go`` ``WithCommonOptions``).

Docker's init is tini. Debian's ``tini`` package ships a static build, so it
runs in images without a libc (busybox, scratch); it is bind-mounted
read-only at ``/sbin/docker-init`` and the process becomes
``/sbin/docker-init -- ARGS...``: tini reaps the zombies orphans leave and
forwards signals to the command, exiting with its status (128+signal when a
signal ended it). Inspect's Path and Args stay the command's, as Docker's.
"""

from __future__ import annotations

import os

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HostConfig
from client.errors import FailedPrecondition

from .context import SpecContext
from .options import applies

__all__ = ["INIT_BINARY", "IN_CONTAINER_PATH", "with_init"]

#: the static tini of Debian's ``tini`` package (the Makefile installs it)
INIT_BINARY = "/usr/bin/tini-static"
#: where Docker puts its init in the container (``inContainerInitPath``)
IN_CONTAINER_PATH = "/sbin/docker-init"


@applies("HostConfig.init")
def with_init(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """With ``--init`` (HostConfig.Init true) and a pid namespace of its own:
    ``process.args`` behind the init and the init bound read-only before the
    user's binds (where Docker's ``WithMounts`` leaves it). Run after
    :func:`~services.runtime.spec.mounts.with_mounts`."""
    if not (host.HasField("init") and host.init):
        return
    if host.pid_mode not in ("", "private"):
        return  # Docker: the init only in a pid namespace of the container's own
    if not os.access(INIT_BINARY, os.X_OK):
        raise FailedPrecondition(
            f"--init needs {INIT_BINARY} (Debian's tini package), which is missing on this host")
    spec["process"]["args"] = [IN_CONTAINER_PATH, "--", *spec["process"]["args"]]
    mount = {"destination": IN_CONTAINER_PATH, "type": "bind", "source": INIT_BINARY,
             "options": ["bind", "ro"]}
    mounts = spec["mounts"]
    first_bind = next((i for i, m in enumerate(mounts) if m["type"] == "bind"), len(mounts))
    mounts.insert(first_bind, mount)
