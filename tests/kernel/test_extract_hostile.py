"""Hostile layers (security-reliability.md §1.2 T1-T13, §1.3): refused or contained, host untouched (root).

The breakout corpus (tests/support/hostilecorpus.py, run by
tests/kernel/test_breakout_corpus.py) holds the cases mapped to containerd
and the CVEs, barque's T1-T8 among them; this module keeps the variants and
limits beside them (more '..' spellings, invalid whiteout names, admin
xattrs, hardlinks to directories, a symlink replaced by a directory, caps,
an out-of-range uid). Every test plants a sentinel tree next to the extraction root, snapshots it and
the temp dir, applies the layer, and asserts that nothing outside the root was
created, changed or linked. Each runs with openat2 and with the fallback walk.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from services.common.safetar import beneath as fdpath
from services.common.safetar.apply import LayerLimits, UnsafeLayer, apply_layer
from services.common.safetar.errors import LayerTooLarge, MalformedLayer
from tests.support.layers import build_tar, dir_entry, file_entry, hardlink_entry, symlink_entry

pytestmark = [
    pytest.mark.root,
]


def _state(base: Path, skip: Path) -> dict[str, tuple]:
    """Everything under ``base`` except ``skip``: type, mode, owner, size, mtime, links, content."""
    out: dict[str, tuple] = {}
    for dirpath, dirs, files in os.walk(base):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            continue
        for name in dirs + files:
            p = Path(dirpath) / name
            if p == skip:
                continue
            st = p.lstat()
            content = p.read_bytes() if stat.S_ISREG(st.st_mode) else (
                os.readlink(p) if stat.S_ISLNK(st.st_mode) else None)
            out[str(p)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_nlink,
                           content, sorted(os.listxattr(p, follow_symlinks=False)))
    return out


class Host:
    """tmp/{sentinel/{file,dir/}, root/}: the layer goes into root, nothing else may move."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sentinel = tmp / "sentinel"
        (self.sentinel / "dir").mkdir(parents=True)
        (self.sentinel / "file").write_text("sentinel\n")
        self.root = tmp / "root"
        self.root.mkdir()
        self._before = _state(tmp, self.root)
        self._passwd = os.stat("/etc/passwd")
        self._slash = sorted(os.listdir("/"))

    def apply(self, raw: bytes, **limits):
        return apply_layer(io.BytesIO(raw), self.root, limits=LayerLimits(**limits))

    def assert_untouched(self) -> None:
        assert _state(self.tmp, self.root) == self._before
        passwd = os.stat("/etc/passwd")
        assert (passwd.st_nlink, passwd.st_mtime_ns, passwd.st_mode) == (
            self._passwd.st_nlink, self._passwd.st_mtime_ns, self._passwd.st_mode)
        assert sorted(os.listdir("/")) == self._slash


@pytest.fixture(params=["openat2", "walk"])
def host(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    if request.param == "walk":
        monkeypatch.setattr(fdpath._openat2(), "usable", False)
    h = Host(tmp_path)
    yield h
    h.assert_untouched()


@pytest.mark.parametrize("name", ["a/../../x", "/../x", "..", "a/b/../../../x", "./../x"])
def test_dotdot_variants_refused(host: Host, name: str) -> None:
    with pytest.raises(UnsafeLayer, match="'..' component"):
        host.apply(build_tar([file_entry(name, b"escape")]))
    assert not (host.tmp / "x").exists()


def test_hardlink_to_directory_or_missing_refused(host: Host) -> None:
    with pytest.raises(UnsafeLayer, match="directory"):
        host.apply(build_tar([dir_entry("d/"), hardlink_entry("h", "d")]))
    with pytest.raises(UnsafeLayer, match="not an earlier entry"):
        host.apply(build_tar([hardlink_entry("h2", "missing")]))


def test_symlink_replaced_by_dir_does_not_touch_target(host: Host) -> None:
    raw = build_tar([
        symlink_entry("foo", str(host.sentinel / "dir")),
        dir_entry("foo/", mode=0o700),
        file_entry("foo/bar", b"inside"),
    ])
    host.apply(raw)
    assert (host.root / "foo").is_dir() and not (host.root / "foo").is_symlink()
    assert (host.root / "foo/bar").read_bytes() == b"inside"


@pytest.mark.parametrize("name", [".wh.", ".wh..", ".wh...", "etc/.wh..", ".wh..wh.plnk", "d/.wh..wh.aufs"])
def test_invalid_whiteouts_refused(host: Host, name: str) -> None:
    with pytest.raises(UnsafeLayer, match="invalid whiteout"):
        host.apply(build_tar([file_entry(name, b"")]))


@pytest.mark.parametrize("key", ["trusted.overlay.opaque", "trusted.overlay.redirect", "weird.ns"])
def test_forged_admin_xattrs_refused(host: Host, key: str) -> None:
    with pytest.raises(UnsafeLayer, match="xattr"):
        host.apply(build_tar([file_entry("f", b"x", xattrs={key: "y"})]))


def test_caps_on_bytes_and_entries(host: Host) -> None:
    with pytest.raises(LayerTooLarge):
        host.apply(build_tar([file_entry("big", b"z" * 100_000)]), max_bytes=50_000)
    with pytest.raises(LayerTooLarge):
        host.apply(build_tar([file_entry(f"n{i}", b"") for i in range(20)]), max_entries=10)


def test_uid_that_would_mean_unchanged_refused(host: Host) -> None:
    info, data = file_entry("f", b"x")
    info.pax_headers = {"uid": str((1 << 32) - 1)}
    with pytest.raises(MalformedLayer, match="out of range"):
        host.apply(build_tar([(info, data)]))
