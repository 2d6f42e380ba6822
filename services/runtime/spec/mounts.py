"""Options for the root filesystem and ``mounts``."""

from __future__ import annotations

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HostConfig
from client.errors import InvalidArgument

from ..volumes.propagation import rootfs_propagation
from .context import SpecContext
from .options import applies
from .paths import clean_abs

__all__ = ["SHM_SIZE", "default_mounts", "with_root", "with_mounts", "with_readonly_rootfs", "with_writable_sysfs"]

SHM_SIZE = 64 * 1024 * 1024          # Docker's default --shm-size

# Mounts Docker leaves writable on a read-only rootfs (WithMounts).
_RW_ON_READONLY_ROOT = ("/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev")


def default_mounts() -> list[dict]:
    """moby DefaultLinuxSpec's mounts plus /dev/shm at Docker's default size."""
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


def with_root(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``root.path``: the context's ``root_path``, else the rootfs itself."""
    spec["root"]["path"] = ctx.root_path if ctx.root_path is not None else str(ctx.rootfs)


@applies("HostConfig.readonly_rootfs")
def with_mounts(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``mounts`` as Docker's ``WithMounts``: the defaults, minus those a
    user mount replaces (one on /dev replaces every /dev mount), then the
    binds (host paths and volumes), the tmpfs mounts and the etc files,
    sorted parents first. A user mount wins over an etc file at the same
    place (Docker: ``HasMountFor``); etc files are read-only on a read-only
    rootfs. A shared bind makes the root's propagation ``shared``, a slave
    one ``rslave`` (``linux.rootfsPropagation``)."""
    extra: list[dict] = []
    seen: set[str] = set()

    def claim(dest: str) -> None:
        if dest == "/":
            raise InvalidArgument("invalid bind destination: can't be '/'")
        if dest in seen:
            raise InvalidArgument(f"duplicate mount point: {dest}")
        seen.add(dest)

    for bind in ctx.binds:
        dest = clean_abs(bind.destination, "bind destination")
        claim(dest)
        options = ["rbind"] + ([] if not bind.read_only else ["ro"]) + [bind.propagation or "rprivate"]
        extra.append({"destination": dest, "type": "bind", "source": clean_abs(bind.source, "bind source"),
                      "options": options})
    for dest_raw, tmpfs_options in ctx.tmpfs_mounts.items():
        dest = clean_abs(dest_raw, "tmpfs destination")
        claim(dest)
        extra.append({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": list(tmpfs_options)})
    for dest_raw, source in ctx.etc_files.items():
        dest = clean_abs(dest_raw, "etc file destination")
        if dest in seen:
            continue
        seen.add(dest)
        extra.append({"destination": dest, "type": "bind", "source": clean_abs(source, "etc file source"),
                      "options": ["rbind"] + (["ro"] if host.readonly_rootfs else []) + ["rprivate"]})
    extra.sort(key=lambda m: m["destination"].count("/"))   # stable: parents before children

    mounts = []
    for m in default_mounts():
        if m["destination"] in seen or ("/dev" in seen and m["destination"].startswith("/dev/")):
            continue
        mounts.append(m)
    spec["mounts"] = mounts + extra
    propagation = rootfs_propagation(b.propagation for b in ctx.binds)
    if propagation:
        spec["linux"]["rootfsPropagation"] = propagation


@applies("HostConfig.readonly_rootfs")
def with_readonly_rootfs(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``root.readonly`` from ``--read-only``, which also makes every non-bind
    mount read-only but /proc, /dev and its pts, shm and mqueue (Docker's
    ``WithMounts``). Binds and the user's tmpfs mounts keep their own mode.
    Run after :func:`with_mounts`."""
    spec["root"]["readonly"] = host.readonly_rootfs
    if not host.readonly_rootfs:
        return
    user = {clean_abs(d, "tmpfs destination") for d in ctx.tmpfs_mounts}
    for m in spec["mounts"]:
        if m["type"] == "bind" or m["destination"] in _RW_ON_READONLY_ROOT or m["destination"] in user:
            continue
        if "ro" not in m["options"]:
            m["options"].append("ro")


@applies("HostConfig.privileged")
def with_writable_sysfs(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """A privileged container gets /sys and the cgroup mount read-write, even
    on a read-only rootfs (Docker's ``WithMounts``). Run after the mount options."""
    if not host.privileged:
        return
    for m in spec["mounts"]:
        if m["destination"] == "/sys" or m["type"] == "cgroup":
            m["options"] = [o for o in m["options"] if o != "ro"]
