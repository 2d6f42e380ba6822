"""--user resolution never opens a device node put where /etc/passwd should
be (mknod, hence root); the rest of --user resolution is tests/unit/test_users.py."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from client.errors import InvalidArgument
from services.runtime.spec.users import resolve_user
from tests.support.host import watch_opens

pytestmark = [pytest.mark.root]

# Both resolution strategies must agree.
MODES = [pytest.param(True, id="openat2"), pytest.param(False, id="nofollow-walk")]

GROUP = "root:x:0:\napp:x:1000:\n"


def make_rootfs(base: Path, passwd: str | None = None, group: str | None = GROUP) -> Path:
    rootfs = base / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    if passwd is not None:
        (rootfs / "etc" / "passwd").write_text(passwd)
    if group is not None:
        (rootfs / "etc" / "group").write_text(group)
    return rootfs


@pytest.mark.parametrize("openat2", MODES)
def test_device_node_passwd_is_never_opened(tmp_path: Path, openat2):
    # 1:3 is /dev/null: harmless even if it were opened
    rootfs = make_rootfs(tmp_path, passwd=None)
    node = rootfs / "etc" / "passwd"
    os.mknod(node, stat.S_IFCHR | 0o644, os.makedev(1, 3))
    with watch_opens(node) as seen:
        with pytest.raises(InvalidArgument, match="not a regular file"):
            resolve_user(rootfs, "app", use_openat2=openat2)
    assert seen == [], "the device node was opened by the engine"
