"""runc 1.1's recursive mount attributes and its delayed read-only mounts
(services.runtime.oci.mountopts), and that parse_options leaves the
recursive options out of a filesystem's data."""

from __future__ import annotations

import pytest

from services.runtime.oci import mountapi as ma
from services.runtime.oci import mountopts, rootfs
from services.runtime.oci import syscalls as sc


@pytest.mark.parametrize("options, expected", [
    ([], (0, 0)),
    (["rbind", "ro"], (0, 0)),
    (["rbind", "rro"], (ma.MOUNT_ATTR_RDONLY, 0)),
    (["rro", "rrw"], (0, ma.MOUNT_ATTR_RDONLY)),
    (["rrw", "rro"], (ma.MOUNT_ATTR_RDONLY, 0)),
    (["rnosuid", "rnodev", "rnoexec"],
     (ma.MOUNT_ATTR_NOSUID | ma.MOUNT_ATTR_NODEV | ma.MOUNT_ATTR_NOEXEC, 0)),
    (["rsuid", "rdev", "rexec", "rdiratime", "rsymfollow"],
     (0, ma.MOUNT_ATTR_NOSUID | ma.MOUNT_ATTR_NODEV | ma.MOUNT_ATTR_NOEXEC
      | ma.MOUNT_ATTR_NODIRATIME | ma.MOUNT_ATTR_NOSYMFOLLOW)),
    (["rnoatime"], (ma.MOUNT_ATTR_NOATIME, ma.MOUNT_ATTR__ATIME)),
    (["rstrictatime"], (ma.MOUNT_ATTR_STRICTATIME, ma.MOUNT_ATTR__ATIME)),
    (["rrelatime"], (ma.MOUNT_ATTR_RELATIME, ma.MOUNT_ATTR__ATIME)),
])
def test_recursive_attrs(options, expected):
    assert mountopts.recursive_attrs(options) == expected


def test_parse_options_keeps_recursive_options_out_of_data():
    flags, prop, data = rootfs.parse_options(["rbind", "ro", "rro", "rnosuid", "size=1m"])
    assert flags == sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY
    assert prop == [] and data == "size=1m"


@pytest.mark.parametrize("fstype, dest, delayed", [
    ("tmpfs", "/run", True), ("tmpfs", "/dev", True), ("bind", "/dev", True),
    ("", "/dev/", True), ("", "//dev", True), ("devpts", "/dev/pts", False),
    ("proc", "/proc", False), ("bind", "/mnt", False)])
def test_delays_readonly(fstype, dest, delayed):
    assert mountopts.delays_readonly(fstype, dest) is delayed
