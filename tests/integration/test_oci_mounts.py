"""barque-oci's mounts against the real kernel: flags, propagation and
tmpfs copy-up land on the mount just made, never on whatever a second lookup
of the destination path finds (the CVE-2021-30465 class), probed from inside
busybox containers.

The redirect cases use a destination ``/data/self`` where the image has
``/data/self -> .``: the destination resolves to ``/data`` when the mount is
made, but once the bind covers ``/data`` the same path resolves through the
*volume's* ``self``, which the container controls and points at another
mount. A runtime that resolves the path again after the mount (to remount it
read-only, change its propagation, or copy into it) acts on that other mount.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.host import mounts_naming, parse_mountinfo
from tests.support.ocibundle import Bundle, assert_clean, busybox_rootfs

pytestmark = [
    pytest.mark.root,
]

SEPARATOR = "---mountinfo"


@pytest.fixture
def rootfs(tmp_path) -> Path:
    if not os.path.exists("/bin/busybox"):
        pytest.skip("busybox-static is not installed")
    path = tmp_path / "rootfs"
    busybox_rootfs(path)
    return path


@pytest.fixture
def bundle(tmp_path, rootfs):
    b = Bundle(tmp_path, rootfs)
    yield b
    if (b.state_root / b.id).exists():
        b.cli("delete", "--force", b.id)
    assert_clean(b)
    assert not mounts_naming(str(tmp_path)), "a mount of the test's files outlived the container"


@pytest.fixture
def volume(tmp_path) -> Path:
    """A container-controlled host dir whose ``self`` points at ``/victim``."""
    vol = tmp_path / "volume"
    vol.mkdir()
    (vol / "file").write_text("volume\n")
    os.symlink("/victim", vol / "self")
    return vol


def _redirect_layout(rootfs: Path) -> None:
    (rootfs / "data").mkdir()
    os.symlink(".", rootfs / "data" / "self")
    (rootfs / "victim").mkdir()


def _run(b: Bundle, script: str) -> tuple[str, dict[str, dict]]:
    """Run ``script`` then dump the mount table; (script output, mounts by mount point)."""
    done = b.run("sh", "-c", f"{script}\necho {SEPARATOR}; cat /proc/self/mountinfo")
    assert done.returncode == 0, done.stderr
    out, _, table = done.stdout.partition(SEPARATOR)
    mounts = {m.point: {"root": m.root, "options": m.options.split(","), "optional": list(m.optional),
                        "fstype": m.fstype, "source": m.source, "super": m.super_options}
              for m in parse_mountinfo(table)}
    return out, mounts


def _writable(path: str) -> str:
    return f"touch {path} 2>/dev/null && echo {path}=rw || echo {path}=ro"


def test_readonly_bind_is_readonly_where_a_symlink_in_the_volume_points_elsewhere(
        bundle, rootfs, volume):
    _redirect_layout(rootfs)
    bundle.config["mounts"] += [
        {"destination": "/victim", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
        {"destination": "/data/self", "type": "bind", "source": str(volume),
         "options": ["rbind", "ro", "nosuid", "nodev"]},
    ]
    out, mounts = _run(bundle, f"cat /data/file; {_writable('/data/probe')}; "
                               f"{_writable('/victim/probe')}")
    assert out.split() == ["volume", "/data/probe=ro", "/victim/probe=rw"]
    assert mounts["/data"]["options"][:3] == ["ro", "nosuid", "nodev"]
    assert mounts["/victim"]["options"][0] == "rw"
    assert not (volume / "probe").exists()


def test_readonly_bind_onto_an_existing_mount_point(bundle, rootfs, tmp_path):
    """The destination is already a mount point (a tmpfs): the read-only
    flag goes on the bind stacked on top, which is what the container sees,
    not on the tmpfs the destination fd named before the bind."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "file").write_text("source\n")
    bundle.config["mounts"] += [
        {"destination": "/stack", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
        {"destination": "/stack", "type": "bind", "source": str(source),
         "options": ["bind", "ro"]},
    ]
    out, mounts = _run(bundle, f"cat /stack/file; {_writable('/stack/probe')}")
    assert out.split() == ["source", "/stack/probe=ro"]
    assert mounts["/stack"]["fstype"] != "tmpfs"
    assert mounts["/stack"]["options"][0] == "ro"
    assert not (source / "probe").exists()


@pytest.mark.parametrize("option,field", [("shared", "shared:"), ("unbindable", "unbindable")])
def test_propagation_lands_on_the_new_bind(bundle, rootfs, volume, option, field):
    _redirect_layout(rootfs)
    bundle.config["mounts"] += [
        {"destination": "/victim", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
        {"destination": "/data/self", "type": "bind", "source": str(volume),
         "options": ["rbind", option]},
    ]
    _, mounts = _run(bundle, "true")
    assert any(o.startswith(field) for o in mounts["/data"]["optional"]), mounts["/data"]
    assert not any(o.startswith(field) for o in mounts["/victim"]["optional"])


def test_propagation_lands_on_the_new_tmpfs(bundle, rootfs):
    _redirect_layout(rootfs)
    bundle.config["mounts"].append(
        {"destination": "/data/self", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "shared"]})
    _, mounts = _run(bundle, "true")
    assert mounts["/data"]["fstype"] == "tmpfs"
    assert any(o.startswith("shared:") for o in mounts["/data"]["optional"])


def _copyup_tree(directory: Path) -> None:
    directory.mkdir(mode=0o750)
    directory.chmod(0o750)
    (directory / "file").write_text("image\n")
    (directory / "file").chmod(0o640)
    (directory / "sub").mkdir()
    (directory / "sub" / "deep").write_text("deep\n")
    os.symlink("sub/deep", directory / "link")


@pytest.mark.parametrize("dest,mounted_at", [("/data", "/data"), ("/data/self", "/data")])
def test_tmpfs_copyup_copies_into_the_tmpfs(bundle, rootfs, dest, mounted_at):
    """tmpcopyup fills the new tmpfs (not the image's directory underneath)
    with what the directory held, also when the destination path would
    resolve differently once the tmpfs covers it."""
    _copyup_tree(rootfs / "data")
    os.symlink(".", rootfs / "data" / "self")
    bundle.config["mounts"].append(
        {"destination": dest, "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "tmpcopyup"]})
    out, mounts = _run(bundle, "cat /data/file /data/link; stat -c '%a %n' /data /data/file; "
                               "echo added > /data/new; ls /data | tr '\\n' ' '")
    assert mounts[mounted_at]["fstype"] == "tmpfs"
    assert out.split() == ["image", "deep", "750", "/data", "640", "/data/file",
                           "file", "link", "new", "self", "sub"]
    # the writes went to the tmpfs; the image's directory is as it was
    assert sorted(p.name for p in (rootfs / "data").iterdir()) == ["file", "link", "self", "sub"]


def test_readonly_tmpfs_copyup(bundle, rootfs):
    _copyup_tree(rootfs / "data")
    bundle.config["mounts"].append(
        {"destination": "/data", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "ro", "tmpcopyup"]})
    out, mounts = _run(bundle, f"cat /data/file; {_writable('/data/new')}")
    assert out.split() == ["image", "/data/new=ro"]
    assert mounts["/data"]["fstype"] == "tmpfs"
    assert mounts["/data"]["options"][:2] == ["ro", "nosuid"]



CGROUP_V1 = (os.path.isdir("/sys/fs/cgroup/pids")
             and not os.path.exists("/sys/fs/cgroup/cgroup.controllers"))
needs_cgroup_v1 = pytest.mark.skipif(not CGROUP_V1, reason="the host is not cgroup v1")

#: each probe prints "<command>: ok" or "<command>: <its error>"
CGROUP_PROBE = r"""
probe() { if out=$(sh -c "$1" 2>&1); then echo "$1: ok"; else echo "$1: $out"; fi; }
probe 'touch /sys/fs/cgroup/x'
probe 'mkdir /sys/fs/cgroup/d'
probe 'echo 64 > /sys/fs/cgroup/pids/pids.max'
"""


def _cgroup_mount(b: Bundle) -> dict:
    return next(m for m in b.config["mounts"] if m["type"] == "cgroup")


def _cgroup_rows(mounts: dict[str, dict]) -> dict[str, list[str]]:
    return {point: m["options"] for point, m in mounts.items()
            if point == "/sys/fs/cgroup" or point.startswith("/sys/fs/cgroup/")}


@needs_cgroup_v1
def test_cgroup_v1_tree_is_read_only(bundle):
    """The spec's cgroup mount is ``ro`` (the default): neither the tmpfs at
    /sys/fs/cgroup nor the controllers bound into it can be written."""
    assert "ro" in _cgroup_mount(bundle)["options"]
    out, mounts = _run(bundle, CGROUP_PROBE + "probe 'mkdir /sys/fs/cgroup/pids/child'")
    results = out.strip().splitlines()
    assert len(results) == 4, out
    for line in results:
        assert line.endswith("Read-only file system"), line
    rows = _cgroup_rows(mounts)
    assert "/sys/fs/cgroup/pids" in rows
    assert all(options[0] == "ro" for options in rows.values()), rows


@needs_cgroup_v1
def test_cgroup_v1_mount_requested_rw_is_writable_as_runc_makes_it(bundle, tmp_path):
    cgroup = _cgroup_mount(bundle)
    cgroup["options"] = [o for o in cgroup["options"] if o != "ro"]
    out, mounts = _run(bundle, CGROUP_PROBE)
    assert out.strip().splitlines() == [
        "touch /sys/fs/cgroup/x: ok", "mkdir /sys/fs/cgroup/d: ok",
        "echo 64 > /sys/fs/cgroup/pids/pids.max: ok"]
    rows = _cgroup_rows(mounts)
    assert all(options[0] == "rw" for options in rows.values()), rows
    if not shutil.which("runc"):
        return
    assert_clean(bundle)
    theirs = subprocess.run(["runc", "--root", str(tmp_path / "runc"), "run", "-b",
                             str(bundle.dir), bundle.id], capture_output=True, text=True,
                            timeout=60)
    assert theirs.returncode == 0, theirs.stderr
    their_out, _, their_table = theirs.stdout.partition(SEPARATOR)
    assert their_out == out
    their_rows = {}
    for line in their_table.strip().splitlines():
        f = line.partition(" - ")[0].split()
        if f[4] in rows:
            their_rows[f[4]] = f[5].split(",")
    assert their_rows == rows
