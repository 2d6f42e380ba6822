"""barque-oci with user namespaces, driven directly with an OCI bundle as
runc's ``userns.bats`` drives runc: the uid/gid maps applied, root in the
container the mapped host uid, device nodes bound from the host (no mknod in
a user namespace) yet still under the device cgroup, ``exec`` joining the
namespace, a second container joining the first's user namespace by path,
and a bind source the remapped root could not reach. Every container leaves
nothing behind (:func:`~tests.support.ocibundle.assert_clean`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ocibundle import Bundle, assert_clean, busybox_rootfs

pytestmark = [pytest.mark.root]

HOST_ID = 420000
SIZE = 65536


def _maps(size: int = SIZE) -> list[dict]:
    return [{"containerID": 0, "hostID": HOST_ID, "size": size}]


def _chown_tree(root: Path) -> None:
    """The bundle's rootfs owned by the mapped root, as runc's tests prepare it."""
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            os.lchown(os.path.join(dirpath, name), HOST_ID, HOST_ID)
    os.lchown(root, HOST_ID, HOST_ID)


@pytest.fixture(scope="module")
def rootfs() -> Iterator[Path]:
    """Under a dir of its own in /tmp: the remapped root must walk down to it
    (pytest's base temp dir is 0700), as it must to a barque rootfs."""
    base = Path(tempfile.mkdtemp(prefix="barque-userns-rootfs-"))
    try:
        os.chmod(base, 0o755)
        path = base / "rootfs"
        busybox_rootfs(path)
        _chown_tree(path)
        yield path
    finally:
        shutil.rmtree(base)


def _bundle(tmp: Path, rootfs: Path) -> Bundle:
    os.chmod(tmp, 0o755)
    b = Bundle(tmp, rootfs)
    linux = b.config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"], linux["gidMappings"] = _maps(), _maps()
    b.config["root"]["readonly"] = False
    return b


@pytest.fixture
def bundle(tmp_path: Path, rootfs: Path) -> Iterator[Bundle]:
    b = _bundle(tmp_path, rootfs)
    yield b
    b.cli("delete", "--force", b.id)
    assert_clean(b)


def _ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def _create(b: Bundle) -> None:
    """``create``; its stdio goes to files: the init inherits it, and a pipe
    would stay open until the container exits."""
    b.write()
    with open(b.dir / "create.err", "w+") as err:
        done = b.cli("create", "--bundle", str(b.dir), b.id, stdin=subprocess.DEVNULL,
                     capture_output=False, stdout=subprocess.DEVNULL, stderr=err)
        err.seek(0)
        assert done.returncode == 0, err.read()


def test_root_is_the_mapped_uid_and_devices_are_the_hosts_bound(bundle: Bundle, rootfs: Path):
    bundle.config["linux"]["devices"] = [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]
    out = _ok(bundle.run("sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; "
                                     "touch /tmp/by-root; mknod /tmp/n c 1 3 2>/dev/null || echo no-mknod; "
                                     "grep -cE ' /dev/(null|zero|full|random|urandom|tty|kmsg) ' /proc/self/mountinfo; "
                                     "echo x > /dev/null && echo null-ok; head -c 1 /dev/kmsg 2>/dev/null || echo kmsg-denied"))
    lines = out.splitlines()
    assert lines[:2] == ["0", "0"]
    assert lines[2].split() == ["0", str(HOST_ID), str(SIZE)] == lines[3].split()
    assert lines[4:] == ["no-mknod", "7", "null-ok", "kmsg-denied"]
    made = os.stat(rootfs / "tmp" / "by-root")
    os.unlink(rootfs / "tmp" / "by-root")
    assert (made.st_uid, made.st_gid) == (HOST_ID, HOST_ID)


def test_unreachable_bind_source_and_exec_in_the_namespace(bundle: Bundle, tmp_path: Path):
    closed = tmp_path / "closed"
    (closed / "inner").mkdir(parents=True)
    (closed / "inner" / "file").write_text("through the fd\n")
    os.chmod(closed, 0o700)  # the remapped root may not walk through it
    bundle.config["mounts"].append({"destination": "/mnt", "type": "bind", "source": str(closed / "inner"),
                                    "options": ["bind", "ro"]})
    bundle.args("sleep", "30")
    _create(bundle)
    _ok(bundle.cli("start", bundle.id))
    out = _ok(bundle.cli("exec", bundle.id, "sh", "-c", "cat /mnt/file; id -u; cat /proc/self/uid_map"))
    assert out.split() == ["through", "the", "fd", "0", "0", str(HOST_ID), str(SIZE)]
    pid = json.loads(_ok(bundle.cli("state", bundle.id)))["pid"]
    assert Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0] == str(HOST_ID)
    _ok(bundle.cli("delete", "--force", bundle.id))


def test_a_container_joins_anothers_user_namespace(bundle: Bundle, tmp_path: Path, rootfs: Path):
    bundle.args("sleep", "30")
    _create(bundle)
    pid = json.loads(_ok(bundle.cli("state", bundle.id)))["pid"]
    (tmp_path / "second").mkdir()
    other = _bundle(tmp_path / "second", rootfs)
    try:
        linux = other.config["linux"]
        linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "user"]
        linux["namespaces"].append({"type": "user", "path": f"/proc/{pid}/ns/user"})
        del linux["uidMappings"], linux["gidMappings"]
        out = _ok(other.run("sh", "-c", "readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u"))
        assert out.split() == [os.readlink(f"/proc/{pid}/ns/user"), "0", str(HOST_ID), str(SIZE), "0"]
    finally:
        other.cli("delete", "--force", other.id)
        assert_clean(other)
    _ok(bundle.cli("delete", "--force", bundle.id))


def test_maps_the_kernel_refuses_fail_cleanly(bundle: Bundle):
    # a map over host id 0 from a second line overlapping the first: the kernel refuses the write
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": SIZE},
                                             {"containerID": 10, "hostID": 1, "size": 5}]
    started = time.monotonic()
    done = bundle.run("true")
    assert done.returncode != 0 and "uid_map" in done.stderr, done.stderr
    assert time.monotonic() - started < 30


def test_joining_the_user_namespace_one_is_in(bundle: Bundle):
    """A path naming the host's own user namespace is joined as a no-op (setns would refuse it)."""
    linux = bundle.config["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "user"]
    linux["namespaces"].append({"type": "user", "path": f"/proc/{os.getpid()}/ns/user"})
    del linux["uidMappings"], linux["gidMappings"]
    out = _ok(bundle.run("sh", "-c", "cat /proc/self/uid_map; id -u"))
    assert out.split() == ["0", "0", "4294967295", "0"]


def test_hooks_in_a_user_namespace(bundle: Bundle, tmp_path: Path):
    """createRuntime and poststop run as the host's root; createContainer
    (before pivot_root, cwd the rootfs) and startContainer as the mapped root
    in the container's namespaces."""
    out = tmp_path / "out"
    out.mkdir()
    sh = lambda script: [{"path": "/bin/sh", "args": ["sh", "-c", script]}]  # noqa: E731
    bundle.config["hooks"] = {
        "createRuntime": sh(f"cat > {out}/cr; id -u >> {out}/cr"),
        "createContainer": sh("id -u > ./tmp/cc; cat /proc/self/uid_map >> ./tmp/cc"),
        "startContainer": sh("cat /proc/self/uid_map > /tmp/sc"),
        "poststop": sh(f"id -u > {out}/ps"),
    }
    done = bundle.run("sh", "-c", "cat /tmp/cc /tmp/sc; rm /tmp/cc /tmp/sc")
    assert _ok(done).split() == ["0", "0", str(HOST_ID), str(SIZE), "0", str(HOST_ID), str(SIZE)]
    state, uid = (out / "cr").read_text().rsplit("}", 1)
    assert json.loads(state + "}")["status"] == "creating" and uid.strip() == "0"
    assert (out / "ps").read_text().strip() == "0"
