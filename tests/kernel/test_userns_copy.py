"""The chowned copy of a layer for a remap range (the fallback where the
kernel lacks idmapped overlay layers): ids moved into the range, modes with
setuid kept after the chown, whiteouts, opaque xattrs, symlinks and hard
links kept; reused while its layer exists, removed once it is gone."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from client.errors import FailedPrecondition
from services.common.idmap import IdMapping
from services.runtime.usernscopy import LayerCopies

pytestmark = [pytest.mark.root]

RANGE = IdMapping(((0, 430000, 65536),), ((0, 440000, 65536),))


def _layer(root: Path) -> Path:
    layer = root / "layer"
    (layer / "bin").mkdir(parents=True)
    (layer / "bin" / "tool").write_bytes(b"\x7fELF")
    os.chmod(layer / "bin" / "tool", 0o4755)
    os.link(layer / "bin" / "tool", layer / "bin" / "alias")
    os.symlink("tool", layer / "bin" / "link")
    (layer / "home").mkdir()
    os.chown(layer / "home", 1000, 1000)
    os.setxattr(layer / "home", "trusted.overlay.opaque", b"y")
    os.mknod(layer / "gone", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    return layer


def test_copy_maps_ids_and_keeps_what_overlayfs_needs(tmp_path: Path):
    layer = _layer(tmp_path)
    copies = LayerCopies(tmp_path / "copies", RANGE)
    fs = copies.get(str(layer))
    tool = os.stat(fs / "bin" / "tool")
    assert (tool.st_uid, tool.st_gid, stat.S_IMODE(tool.st_mode)) == (430000, 440000, 0o4755)
    assert os.stat(fs / "bin" / "alias").st_ino == tool.st_ino
    assert os.readlink(fs / "bin" / "link") == "tool" and os.lstat(fs / "bin" / "link").st_uid == 430000
    assert (os.stat(fs / "home").st_uid, os.getxattr(fs / "home", "trusted.overlay.opaque")) == (431000, b"y")
    gone = os.stat(fs / "gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == os.makedev(0, 0)
    assert os.stat(fs).st_uid == 430000
    assert copies.get(str(layer)) == fs and copies.prune() == 0, "a copy of a present layer is kept"
    shutil.rmtree(layer)
    assert copies.prune() == 1
    assert not (tmp_path / "copies").exists()


def test_an_id_outside_the_range_is_refused_and_nothing_kept(tmp_path: Path):
    layer = _layer(tmp_path)
    os.chown(layer / "bin" / "tool", 70000, 0)
    copies = LayerCopies(tmp_path / "copies", RANGE)
    with pytest.raises(FailedPrecondition, match="cannot be mapped"):
        copies.get(str(layer))
    assert list((tmp_path / "copies").iterdir()) == []
