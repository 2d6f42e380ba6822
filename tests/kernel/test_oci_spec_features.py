"""runc 1.1's runtime-spec features in barque-oci, each seen from inside a
real container: sysctls, rlimits, the OOM score, noNewPrivileges, seccomp
with every action and every argument operator, masked and read-only paths,
devices (node and cgroup), bind propagation and ``rootfsPropagation``.
Every container leaves nothing behind."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ocibundle import Bundle, delete_and_assert_clean, temp_busybox_rootfs

pytestmark = [pytest.mark.root]


@pytest.fixture(scope="module")
def rootfs() -> Iterator[Path]:
    with temp_busybox_rootfs("barque-specfeat-rootfs-") as root:
        (root / "secret").mkdir()
        (root / "secret" / "file").write_text("hidden\n")
        yield root


@pytest.fixture
def bundle(tmp_path: Path, rootfs: Path) -> Iterator[Bundle]:
    b = Bundle(tmp_path, rootfs)
    yield b
    delete_and_assert_clean(b)


def _out(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_sysctls_rlimits_oom_score_and_no_new_privileges(bundle: Bundle):
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1",
                                        "net.ipv4.tcp_keepalive_time": "321",
                                        "kernel.shmmni": "1234"}
    bundle.config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 333, "hard": 444},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 55, "hard": 66}]
    bundle.config["process"]["oomScoreAdj"] = 321
    out = _out(bundle.run("sh", "-c", "cat /proc/sys/net/ipv4/ip_forward "
                                      "/proc/sys/net/ipv4/tcp_keepalive_time /proc/sys/kernel/shmmni "
                                      "/proc/self/oom_score_adj; ulimit -n; ulimit -Hn; ulimit -c; "
                                      "ulimit -u; ulimit -Hu; grep NoNewPrivs /proc/self/status"))
    assert out.split() == ["1", "321", "1234", "321", "333", "444", "0", "55", "66",
                           "NoNewPrivs:", "1"]
    # the host's own values are untouched (the container has its net and ipc namespaces)
    assert Path("/proc/sys/kernel/shmmni").read_text().strip() != "1234"
    assert Path("/proc/self/oom_score_adj").read_text().strip() != "321"
    bundle.config["process"]["noNewPrivileges"] = False
    bundle.config["linux"].pop("sysctl")
    assert _out(bundle.run("grep", "NoNewPrivs", "/proc/self/status")).split() == ["NoNewPrivs:", "0"]


def test_a_sysctl_of_a_namespace_the_container_does_not_own_is_refused(bundle: Bundle):
    bundle.config["linux"]["namespaces"] = [ns for ns in bundle.config["linux"]["namespaces"]
                                            if ns["type"] != "network"]
    before = Path("/proc/sys/net/ipv4/tcp_keepalive_time").read_text()
    bundle.config["linux"]["sysctl"] = {"net.ipv4.tcp_keepalive_time": "4321"}
    done = bundle.run("true")
    assert done.returncode != 0
    assert Path("/proc/sys/net/ipv4/tcp_keepalive_time").read_text() == before


SIGSYS_EXIT = 128 + 31


def test_seccomp_every_action(bundle: Bundle):
    """One profile, one syscall family per action; each command in its own
    subshell so a killed one reports 128+SIGSYS."""
    bundle.config["root"]["readonly"] = False
    bundle.config["process"]["noNewPrivileges"] = True
    rules = [
        (["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errno.EROFS),
        (["rmdir"], "SCMP_ACT_KILL", None),
        (["chmod", "fchmodat", "fchmod"], "SCMP_ACT_KILL_PROCESS", None),
        (["chown", "fchownat", "lchown", "fchown"], "SCMP_ACT_TRAP", None),
        (["symlink", "symlinkat"], "SCMP_ACT_LOG", None),
        (["rename", "renameat", "renameat2"], "SCMP_ACT_TRACE", None),
        (["getcwd"], "SCMP_ACT_ALLOW", None),
    ]
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": names, "action": action,
                      **({"errnoRet": ret} if ret is not None else {})}
                     for names, action, ret in rules]}
    script = "; ".join([
        "(mkdir /tmp/d 2>&1; echo mkdir=$?)",
        "(rmdir /tmp 2>/dev/null; echo rmdir=$?)",
        "(chmod 700 /tmp 2>/dev/null; echo chmod=$?)",
        "(chown 0 /tmp 2>/dev/null; echo chown=$?)",
        "(ln -s /x /tmp/l && rm /tmp/l; echo ln=$?)",
        "(touch /tmp/a; mv /tmp/a /tmp/b 2>&1; s=$?; rm -f /tmp/a /tmp/b; echo mv=$s)",
        "(pwd; echo pwd=$?)"])
    out = _out(bundle.run("sh", "-c", script))
    assert "Read-only file system" in out  # mkdir's errnoRet
    lines = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert lines["mkdir"] == "1"
    assert lines["rmdir"] == lines["chmod"] == lines["chown"] == str(SIGSYS_EXIT)
    assert lines["ln"] == "0"  # logged, then run
    # SECCOMP_RET_TRACE with no tracer attached: the syscall fails with ENOSYS
    assert "Function not implemented" in out and lines["mv"] == "1"
    assert lines["pwd"] == "0"


@pytest.mark.parametrize("op, value, value_two, denied", [
    ("SCMP_CMP_EQ", 18, 0, {18}),
    ("SCMP_CMP_NE", 18, 0, {0, 28}),
    ("SCMP_CMP_GT", 18, 0, {28}),
    ("SCMP_CMP_GE", 18, 0, {18, 28}),
    ("SCMP_CMP_LT", 18, 0, {0}),
    ("SCMP_CMP_LE", 18, 0, {0, 18}),
    ("SCMP_CMP_MASKED_EQ", 0x10, 0x10, {18, 28}),
])
def test_seccomp_argument_operators(bundle: Bundle, op: str, value: int, value_two: int,
                                    denied: set[int]):
    """kill(2)'s signal number (argument 1) against each operator: the
    shell signals itself with 0, SIGCONT (18) and SIGWINCH (28), all
    harmless; a matching call fails with the rule's errno."""
    arg = {"index": 1, "op": op, "value": value}
    if op == "SCMP_CMP_MASKED_EQ":
        arg["valueTwo"] = value_two
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV,
                      "args": [arg]}]}
    out = _out(bundle.run("sh", "-c", "for s in 0 18 28; do "
                                      "if kill -$s $$ 2>/dev/null; then echo $s=ok; "
                                      "else echo $s=denied; fi; done"))
    got = {int(k) for k, v in (line.split("=") for line in out.split()) if v == "denied"}
    assert got == denied


def test_masked_and_readonly_paths(bundle: Bundle):
    bundle.config["linux"]["maskedPaths"] = ["/proc/interrupts", "/secret", "/proc/no-such-path"]
    bundle.config["linux"]["readonlyPaths"] = ["/proc/sys", "/proc/sysrq-trigger"]
    bundle.config["root"]["readonly"] = False
    assert Path("/proc/interrupts").read_text()  # not empty on the host
    out = _out(bundle.run("sh", "-c", "wc -c < /proc/interrupts; ls -A /secret | wc -l; "
                                      "echo 1 > /proc/sys/kernel/shmmni 2>&1 || echo sys-ro; "
                                      "touch /secret/x 2>/dev/null || echo secret-ro; "
                                      "umount /secret 2>/dev/null || echo no-umount"))
    assert out.split() == ["0", "0", "sys-ro", "secret-ro", "no-umount"]


def test_devices_nodes_and_cgroup(bundle: Bundle):
    """A node from linux.devices with its mode and owner; the device cgroup
    decides whether it opens."""
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse on this host")
    bundle.config["linux"]["devices"] = [{"path": "/dev/myfuse", "type": "c", "major": 10,
                                          "minor": 229, "fileMode": 0o640, "uid": 7, "gid": 8}]
    script = ("stat -c '%t:%T %a %u:%g' /dev/myfuse; "
              "if (exec 3</dev/myfuse) 2>/dev/null; then echo opened; else echo refused; fi")
    denied = _out(bundle.run("sh", "-c", script)).splitlines()
    assert denied == ["a:e5 640 7:8", "refused"]
    bundle.config["linux"]["resources"]["devices"].append(
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"})
    allowed = _out(bundle.run("sh", "-c", script)).splitlines()
    assert allowed == ["a:e5 640 7:8", "opened"]


@pytest.fixture
def shared_dir(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of its own, shared, under the test's dir."""
    path = tmp_path / "shared"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "barque-prop", str(path)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(path)], check=True)
        (path / "sub").mkdir()
        yield path
    finally:
        subprocess.run(["umount", "-R", str(path)], check=True)


@pytest.mark.parametrize("propagation, seen_inside, seen_outside", [
    ("rslave", True, False), ("rshared", True, True), ("rprivate", False, False)])
def test_bind_propagation(bundle: Bundle, shared_dir: Path, propagation: str,
                          seen_inside: bool, seen_outside: bool):
    """A mount the host makes under a bind's source reaches the container
    with rslave and rshared; one the container makes comes back with rshared
    only (and a shared rootfsPropagation, as Docker sets it for an rshared
    bind: with runc's default rslave the container's copy of the source is a
    slave, and its mounts stay in the container); rprivate passes neither."""
    if propagation == "rshared":
        bundle.config["linux"]["rootfsPropagation"] = "shared"
    bundle.config["mounts"].append({"destination": "/mnt", "type": "bind",
                                    "source": str(shared_dir), "options": ["rbind", propagation]})
    bundle.args("sleep", "60")
    bundle.write()
    with open(bundle.dir / "create.err", "w+") as err:
        done = bundle.cli("create", "--bundle", str(bundle.dir), bundle.id, capture_output=False,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        err.seek(0)
        assert done.returncode == 0, err.read()
    _out(bundle.cli("start", bundle.id))
    host_mount = shared_dir / "sub"
    subprocess.run(["mount", "-t", "tmpfs", "barque-from-host", str(host_mount)], check=True)
    try:
        inside = _out(bundle.cli("exec", bundle.id, "cat", "/proc/self/mountinfo"))
        assert ("barque-from-host" in inside) is seen_inside
        # the container may not mount (no CAP_SYS_ADMIN): the host mounts in its namespace
        pid = json.loads(_out(bundle.cli("state", bundle.id)))["pid"]
        (shared_dir / "fromc").mkdir()
        subprocess.run(["nsenter", "-t", str(pid), "-m", "mount", "-t", "tmpfs",
                        "barque-from-container", "/mnt/fromc"], check=True)
        outside = Path("/proc/self/mountinfo").read_text()
        assert ("barque-from-container" in outside) is seen_outside
    finally:
        _out(bundle.cli("delete", "--force", bundle.id))
        subprocess.run(["umount", "-R", str(host_mount)], check=False)


@pytest.fixture
def shared_rootfs(shared_dir: Path, rootfs: Path) -> Path:
    """The busybox rootfs copied onto a shared mount, so that its
    propagation has something to be a slave or a peer of."""
    shutil.copytree(rootfs, shared_dir / "rootfs", symlinks=True)
    return shared_dir / "rootfs"


@pytest.mark.parametrize("propagation, tag", [
    ("rslave", "master:"), ("private", None), ("rprivate", None), ("shared", "shared:"),
    ("rshared", "shared:"), (None, None)])
def test_rootfs_propagation(bundle: Bundle, shared_rootfs: Path, propagation: str | None,
                            tag: str | None):
    """The container's / on a shared host mount carries the
    rootfsPropagation asked for. Two differences from runc 1.1, which
    leaves / private with shared/rshared (it makes the rootfs's parent
    private before pivot_root and never sets / afterwards), and a slave
    with none: barque-oci makes it the peer asked for, and private when
    none is asked (its engine's default)."""
    bundle.config["root"]["path"] = str(shared_rootfs)
    if propagation is not None:
        bundle.config["linux"]["rootfsPropagation"] = propagation
    out = _out(bundle.run("cat", "/proc/self/mountinfo"))
    root = next(line for line in out.splitlines() if line.split()[4] == "/")
    optional = root.split(" - ")[0].split()[6:]
    if tag is None:
        assert optional == [], root
    else:
        assert any(field.startswith(tag) for field in optional), root


def test_state_json_describes_the_running_container(bundle: Bundle):
    bundle.args("sleep", "30")
    bundle.write()
    with open(bundle.dir / "create.err", "w+") as err:
        done = bundle.cli("create", "--bundle", str(bundle.dir), bundle.id, capture_output=False,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        assert done.returncode == 0
    state = json.loads(_out(bundle.cli("state", bundle.id)))
    assert state["status"] == "created" and os.path.exists(f"/proc/{state['pid']}")
    _out(bundle.cli("delete", "--force", bundle.id))
