"""The image-store's part of ``docker info``: how many images it keeps and
its storage driver. No grpc here: the servicer converts :class:`StoreInfo`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from client.version import BuildInfo, build_info
from services.images.core import ImageStore

__all__ = ["StoreInfo", "DRIVER", "store_info", "backing_filesystem"]

#: layers are overlay lower directories, one per chain id, in the manner of
#: containerd's overlayfs snapshotter (services/images/snapshots.py); Docker
#: names that driver "overlayfs" when it uses containerd's snapshotter
DRIVER = "overlayfs"

#: fstype names Docker reports as ``Backing Filesystem`` (moby graphdriver FsNames)
_DOCKER_FS_NAMES = {"ext2": "extfs", "ext3": "extfs", "ext4": "extfs"}


@dataclass(frozen=True)
class StoreInfo:
    build: BuildInfo
    images: int
    driver: str
    driver_status: tuple[tuple[str, str], ...]


def store_info(store: ImageStore) -> StoreInfo:
    """Every kept image counts, tagged or dangling, as ``docker info``'s ``Images``."""
    with store.db.lock:
        count = len(store.db.images)
    status = (("Backing Filesystem", backing_filesystem(store.root)),)
    return StoreInfo(build_info(), count, DRIVER, status)


def backing_filesystem(path: Path, mountinfo: str | None = None) -> str:
    """The filesystem type of the mount holding ``path`` (the deepest mount
    point above it in /proc/self/mountinfo), in Docker's names; "" if unknown."""
    if mountinfo is None:
        try:
            with open("/proc/self/mountinfo") as f:
                mountinfo = f.read()
        except OSError:
            return ""
    target = os.path.realpath(path)
    best, fstype = "", ""
    for line in mountinfo.splitlines():
        pre, _, post = line.partition(" - ")
        fields, tail = pre.split(), post.split()
        if len(fields) < 5 or not tail:
            continue
        mountpoint = _unescape(fields[4])
        inside = target == mountpoint or target.startswith(mountpoint.rstrip("/") + "/")
        if inside and len(mountpoint) >= len(best):
            best, fstype = mountpoint, tail[0]
    return _DOCKER_FS_NAMES.get(fstype, fstype)


def _unescape(field: str) -> str:
    """mountinfo's octal escapes (``\\040`` for a space) decoded."""
    return field.encode().decode("unicode_escape") if "\\" in field else field
