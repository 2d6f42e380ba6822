"""The local driver's options (``--opt type=... --opt device=... --opt o=...``)
and the mount they ask for on a volume's data directory.

As Docker's ``volume/local``: a volume without options is a plain directory;
with options its data directory is a mount point, mounted when a container
first uses it and unmounted when the last one is gone. Two kinds are
supported: ``type=tmpfs`` (a tmpfs with the ``o`` options: size=, mode=,
uid=, gid=, nr_inodes= and mount flags) and ``type=none,o=bind,device=PATH``
(a host directory bound there). Other filesystems (nfs, ext4...) are refused
at creation, so a volume that exists can always be mounted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from client.errors import FailedPrecondition, InvalidArgument
from services.runtime.engine.mounts import MS_BIND, MS_REC, is_mounted, mount_fs, unmount

__all__ = ["DriverOpts", "parse_driver_opts", "mount_data", "unmount_data"]

#: the local driver's option keys (volume/local/local_unix.go validOpts)
_VALID = ("type", "device", "o", "size")

#: mount(8) flag words the ``o`` option may carry (the rest is filesystem data)
_FLAGS = {
    "ro": 0x1, "nosuid": 0x2, "nodev": 0x4, "noexec": 0x8, "sync": 0x10, "dirsync": 0x80,
    "noatime": 0x400, "nodiratime": 0x800, "relatime": 0x200000, "strictatime": 0x1000000,
    "bind": MS_BIND, "rbind": MS_BIND | MS_REC,
}
_NOOP = ("rw", "defaults", "suid", "dev", "exec", "async", "atime", "diratime")
#: tmpfs data keys
_TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", "huge")


@dataclass(frozen=True)
class DriverOpts:
    """What to mount on the data directory: ``fstype`` ("tmpfs", or None for
    a bind), ``source`` (the device), mount ``flags`` and filesystem ``data``."""

    fstype: str | None
    source: str
    flags: int
    data: str


def parse_driver_opts(opts: Mapping[str, str]) -> DriverOpts | None:
    """The mount ``opts`` ask for, None for a plain directory; refuses with
    Docker's messages where Docker refuses, and names what is unsupported."""
    if not opts:
        return None
    for key in opts:
        if key not in _VALID:
            raise InvalidArgument(f'invalid option: "{key}"')
    if "size" in opts:
        raise InvalidArgument("quota size requested but no quota support")
    kind, device, o = opts.get("type", ""), opts.get("device", ""), opts.get("o", "")
    if not kind:
        raise InvalidArgument('missing required option: "type"')
    flags, data = 0, []
    for word in (w for w in o.split(",") if w):
        if word in _FLAGS:
            flags |= _FLAGS[word]
        elif word in _NOOP:
            continue
        else:
            data.append(word)
    if kind == "tmpfs":
        if device not in ("", "tmpfs"):
            raise InvalidArgument(f"volume option device={device!r}: a tmpfs volume takes no device (or 'tmpfs')")
        if flags & MS_BIND:
            raise InvalidArgument("volume option o=bind needs type=none")
        for word in data:
            key = word.partition("=")[0]
            if key not in _TMPFS_DATA:
                raise InvalidArgument(f"volume option o: {word!r} is not a tmpfs option")
        return DriverOpts("tmpfs", "tmpfs", flags, ",".join(data))
    if kind == "none":
        if not flags & MS_BIND:
            raise InvalidArgument("volume option type=none needs o=bind (or rbind)")
        if not device.startswith("/") or "\x00" in device:
            raise InvalidArgument(f"volume option device={device!r} must be an absolute host path")
        if data:
            raise InvalidArgument(f"volume option o: {','.join(data)!r} is not a bind mount option")
        return DriverOpts(None, os.path.normpath(device), flags, "")
    raise InvalidArgument(f"volume option type={kind!r} is not supported: use type=tmpfs, "
                          "or type=none with o=bind and device=PATH")


def mount_data(opts: DriverOpts, data_dir: Path) -> bool:
    """Mount ``opts`` on ``data_dir`` unless already mounted; whether it mounted now."""
    if is_mounted(data_dir):
        return False
    if opts.fstype is None and not os.path.isdir(opts.source):
        raise FailedPrecondition(f"error while mounting volume {str(data_dir)!r}: "
                                 f"bind device {opts.source!r}: no such directory")
    mount_fs(opts.source, data_dir, opts.fstype, opts.flags, opts.data)
    return True


def unmount_data(data_dir: Path) -> None:
    unmount(data_dir)
