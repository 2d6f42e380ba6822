"""Isolation of a container run by the real CLI and services: namespaces,
root filesystem, /proc and /sys protection, /dev, capabilities, the device
cgroup and the security flags, each seen from inside the container."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support import host
from tests.support.host import host_status_field, parse_mountinfo, status_field
from tests.support.layers import build_tar, chardev_entry, dir_entry
from tests.support.runtime import sh, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

#: Docker's default capability set (moby oci/caps/defaults.go) as a CapEff mask.
DOCKER_DEFAULT_CAPS = 0x00000000A80425FB
CAP_CHOWN, CAP_NET_ADMIN = 0, 12

#: What runc (hence Docker) puts in a non-tty container's /dev; ``core`` only
#: when the host has /proc/kcore.
DEFAULT_DEV = {"fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm",
               "stderr", "stdin", "stdout", "tty", "urandom", "zero"}

#: Docker's masked and read-only /proc and /sys paths (moby oci/defaults.go).
MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _mountinfo(text: str) -> dict[str, list[str]]:
    """mount point -> [fstype, mount options, super options] of mountinfo text (last mount wins)."""
    return {m.point: [m.fstype, m.options, m.super_options] for m in parse_mountinfo(text)}


def _ok(res) -> str:
    assert res.returncode == 0, f"container failed ({res.returncode}): {res.stderr}{res.stdout}"
    return res.stdout


# ---- namespaces --------------------------------------------------------------------

def test_process_is_pid_1_and_sees_only_its_own_processes(rt_engine, busybox):
    out = _ok(sh(rt_engine, busybox, 'echo $$; ls /proc | grep -E "^[0-9]+$" | wc -l'))
    pid, count = out.split()
    assert pid == "1"
    # sh, ls, grep, wc and nothing of the host's hundreds of processes
    assert int(count) <= 5


def test_every_namespace_differs_from_the_hosts(rt_engine, busybox):
    kinds = ["pid", "mnt", "uts", "ipc", "net"]
    out = _ok(sh(rt_engine, busybox, f"for k in {' '.join(kinds)}; do readlink /proc/1/ns/$k; done"))
    inside = out.split()
    host = [os.readlink(f"/proc/self/ns/{k}") for k in kinds]
    assert len(inside) == len(kinds)
    for kind, ours, theirs in zip(kinds, inside, host):
        assert ours.startswith(f"{kind}:[") and ours != theirs, f"{kind} namespace shared with the host"


def test_default_hostname_is_the_short_id(rt_engine, busybox):
    res = rt_engine.ok("run", "--name", "hostname-default", busybox, "sh", "-c", "hostname; cat /etc/hostname")
    full_id = rt_engine.ok("inspect", "-f", "{{.Id}}", "hostname-default").stdout.strip()
    rt_engine.ok("rm", "hostname-default")
    assert len(full_id) == 64
    assert res.lines == [full_id[:12], full_id[:12]]


def test_hostname_flag_sets_uts_and_etc_hostname(rt_engine, busybox):
    out = _ok(sh(rt_engine, busybox, "hostname; cat /etc/hostname", "--hostname", "web-1"))
    assert out.split() == ["web-1", "web-1"]
    assert os.uname().nodename != "web-1"


def test_network_none_has_only_loopback(rt_engine, busybox):
    out = _ok(sh(rt_engine, busybox, "tail -n +3 /proc/net/dev", "--network", "none"))
    ifaces = [line.split(":")[0].strip() for line in out.splitlines()]
    assert ifaces == ["lo"]
    host = [line.split(":")[0].strip() for line in Path("/proc/net/dev").read_text().splitlines()[2:]]
    assert set(host) - {"lo"}, "the host itself has only lo: the comparison proves nothing"


def test_ipc_objects_are_private(rt_engine, busybox):
    """A SysV message queue made on the host is not visible in the container."""
    key = "0x6271756b"
    made = subprocess.run(["ipcmk", "-Q", "-p", "0600"], capture_output=True, text=True, check=True)
    qid = made.stdout.split(":")[-1].strip()
    try:
        host = subprocess.run(["ipcs", "-q"], capture_output=True, text=True, check=True).stdout
        assert qid in host.split()
        out = _ok(sh(rt_engine, busybox, "cat /proc/sysvipc/msg"))
        ids = [line.split()[1] for line in out.splitlines()[1:] if line.strip()]
        assert qid not in ids and key not in out
    finally:
        subprocess.run(["ipcrm", "-q", qid], check=True)


# ---- root filesystem -------------------------------------------------------------------

def test_root_is_overlay(rt_engine, busybox):
    mounts = _mountinfo(_ok(sh(rt_engine, busybox, "cat /proc/self/mountinfo")))
    assert mounts["/"][0] == "overlay"


def test_pivot_root_leaves_no_host_filesystem_in_the_mount_namespace(rt_engine, busybox):
    """Entering the container's mount namespace lands on the container's root:
    after pivot_root the host's root is unmounted from that namespace, after a
    chroot it would still be the namespace's root."""
    rt_engine.ok("run", "-d", "--name", "pivot", busybox, "sleep", "60")
    try:
        pid = rt_engine.ok("inspect", "-f", "{{.State.Pid}}", "pivot").stdout.strip()
        ns_root = subprocess.run(["nsenter", "-t", pid, "-m", "ls", "-a", "/"], capture_output=True, text=True,
                                 check=True).stdout.split()
        ns_tmp = subprocess.run(["nsenter", "-t", pid, "-m", "ls", "-a", "/tmp"], capture_output=True, text=True,
                                check=True).stdout.split()
        info = subprocess.run(["nsenter", "-t", pid, "-m", "-p", "cat", "/proc/self/mountinfo"],
                              capture_output=True, text=True, check=True).stdout
    finally:
        rt_engine.ok("rm", "-f", "pivot")
    assert "linuxrc" in ns_root and "work" not in ns_root  # busybox's tree, not the host's /work
    assert rt_engine.root.name not in ns_tmp
    mount_points = list(_mountinfo(info))
    assert mount_points[0] == "/"
    assert not [m for m in mount_points if str(rt_engine.root) in m or m.startswith("/work")]


def test_masked_paths_are_empty(rt_engine, busybox):
    present = [p for p in MASKED if os.path.exists(p)]
    assert "/proc/keys" in present and "/sys/firmware" in present
    # the host really has something to hide
    assert Path("/proc/keys").read_text() and os.listdir("/sys/firmware")
    script = "; ".join(f"echo == {p}; if [ -d {p} ]; then ls -A {p}; else cat {p}; fi 2>/dev/null" for p in present)
    out = _ok(sh(rt_engine, busybox, script))
    sections = out.split("== ")[1:]
    assert len(sections) == len(present)
    for section in sections:
        path, _, body = section.partition("\n")
        assert body.strip() == "", f"{path} not masked: {body[:200]!r}"


def test_readonly_paths_refuse_writes(rt_engine, busybox):
    present = [p for p in READONLY if os.path.exists(p)]
    res = sh(rt_engine, busybox, "cat /proc/self/mountinfo; echo barque > /proc/sys/kernel/domainname && echo WROTE")
    assert res.returncode != 0 and "WROTE" not in res.stdout
    assert "Read-only file system" in res.stderr
    mounts = _mountinfo(res.stdout)
    for path in present:
        assert path in mounts and "ro" in mounts[path][1].split(","), f"{path} is not mounted read-only"


def test_sys_is_read_only(rt_engine, busybox):
    res = sh(rt_engine, busybox, "grep ' /sys ' /proc/self/mountinfo; touch /sys/barque-x && echo WROTE")
    assert res.returncode != 0 and "WROTE" not in res.stdout
    assert "Read-only file system" in res.stderr
    assert "ro" in res.stdout.split()[5].split(",")


# ---- /dev and /etc ---------------------------------------------------------------------------

def test_dev_holds_exactly_the_default_devices(rt_engine, busybox):
    out = _ok(sh(rt_engine, busybox, "ls -A /dev"))
    expected = DEFAULT_DEV | ({"core"} if os.path.exists("/proc/kcore") else set())
    assert set(out.split()) == expected


def test_devpts_is_a_private_instance(rt_engine, busybox):
    out = _ok(sh(rt_engine, busybox, "ls -A /dev/pts; grep ' /dev/pts ' /proc/self/mountinfo"))
    names, line = out.splitlines()[:-1], out.splitlines()[-1]
    assert names == ["ptmx"]
    host_devpts = {m.device for m in host.mounts() if m.point == "/dev/pts"}
    assert line.split()[2] not in host_devpts, "the container shares the host's devpts"


def test_dev_shm_is_private_per_container(rt_engine, busybox):
    rt_engine.ok("run", "-d", "--name", "shm-writer", busybox, "sh", "-c",
                 "echo secret > /dev/shm/barque-marker && ls /dev/shm; sleep 60")
    try:
        wait_for(lambda: "barque-marker" in rt_engine.ok("logs", "shm-writer").stdout, what="the shm write")
        out = _ok(sh(rt_engine, busybox, "ls -A /dev/shm; echo end"))
    finally:
        rt_engine.ok("rm", "-f", "shm-writer")
    assert out.split() == ["end"]
    assert not os.path.exists("/dev/shm/barque-marker")


def test_etc_files_are_per_container(rt_engine, busybox):
    script = "cat /etc/hostname; grep -c localhost /etc/hosts; grep -c nameserver /etc/resolv.conf"
    a = _ok(sh(rt_engine, busybox, script, "--hostname", "alpha")).split()
    b = _ok(sh(rt_engine, busybox, script, "--hostname", "beta")).split()
    assert a[0] == "alpha" and b[0] == "beta"
    assert int(a[1]) >= 1 and int(a[2]) >= 1


# ---- capabilities, devices, security flags --------------------------------------------------

def _caps(rt_engine, image, *flags) -> dict[str, int]:
    out = _ok(sh(rt_engine, image, "cat /proc/self/status", *flags))
    return {k: int(status_field(out, k), 16) for k in ("CapEff", "CapPrm", "CapBnd")} | {
        "NoNewPrivs": int(status_field(out, "NoNewPrivs"))}


def test_default_capabilities_are_dockers(rt_engine, busybox):
    caps = _caps(rt_engine, busybox)
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapBnd"] == DOCKER_DEFAULT_CAPS
    assert caps["NoNewPrivs"] == 0


def test_non_root_user_has_no_effective_capabilities(rt_engine, busybox):
    caps = _caps(rt_engine, busybox, "-u", "app")
    assert caps["CapEff"] == 0 and caps["CapBnd"] == DOCKER_DEFAULT_CAPS


def test_cap_add_and_cap_drop(rt_engine, busybox):
    caps = _caps(rt_engine, busybox, "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN")
    assert caps["CapEff"] == (DOCKER_DEFAULT_CAPS | 1 << CAP_NET_ADMIN) & ~(1 << CAP_CHOWN)
    res = sh(rt_engine, busybox, "touch /tmp/f && chown 1000 /tmp/f && echo CHOWNED", "--cap-drop", "CHOWN")
    assert res.returncode != 0 and "CHOWNED" not in res.stdout
    assert "Operation not permitted" in res.stderr
    assert "CHOWNED" in _ok(sh(rt_engine, busybox, "touch /tmp/f && chown 1000 /tmp/f && echo CHOWNED"))


def test_privileged_gets_the_engines_bounding_set(rt_engine, busybox):
    caps = _caps(rt_engine, busybox, "--privileged")
    host_bnd = int(host_status_field("CapBnd"), 16)
    assert caps["CapEff"] == caps["CapBnd"] == host_bnd
    assert host_bnd != DOCKER_DEFAULT_CAPS


def test_privileged_lifts_masks_and_the_device_cgroup(rt_engine, busybox):
    out = _ok(sh(rt_engine, busybox, "wc -c < /proc/keys; mknod /tmp/mem c 1 1; head -c 1 /tmp/mem 2>&1 | wc -c; "
                 "head -c 1 /tmp/mem 2>&1; true", "--privileged"))
    keys, _ = out.split(None, 1)
    assert int(keys) > 0
    # /dev/mem may be absent from the kernel (ENXIO) but the cgroup no longer refuses it (EPERM)
    assert "Operation not permitted" not in out


def test_no_new_privileges(rt_engine, busybox):
    assert _caps(rt_engine, busybox, "--security-opt", "no-new-privileges")["NoNewPrivs"] == 1


def test_device_cgroup_denies_new_device_nodes(rt_engine, busybox):
    res = sh(rt_engine, busybox, "mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem && echo READ")
    assert res.returncode != 0 and "READ" not in res.stdout
    assert "Operation not permitted" in res.stderr
    # the allowed devices still work
    assert _ok(sh(rt_engine, busybox, "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo OK")).split() == [
        "4", "OK"]


def test_device_cgroup_denies_an_image_device_node(rt_engine, hand_built_image):
    layer = build_tar([dir_entry("devices/"), chardev_entry("devices/mem", 1, 1),
                       chardev_entry("devices/null", 1, 3)])
    image = hand_built_image("devnode", extra_layers=[layer]).ref
    rt_engine.ok("pull", image)
    res = sh(rt_engine, image, "ls -l /devices/mem; head -c 1 /devices/mem && echo READ")
    assert "1,   1" in res.stdout, "the image's device node was not unpacked"
    assert res.returncode != 0 and "READ" not in res.stdout
    assert "Operation not permitted" in res.stderr
    assert _ok(sh(rt_engine, image, "echo x > /devices/null && echo OK")).split() == ["OK"]


def test_read_only_root(rt_engine, busybox):
    res = sh(rt_engine, busybox, "touch /x && echo ROOT; touch /tmp/x && echo TMP; "
             "echo y > /dev/shm/y && echo SHM", "--read-only")
    assert "ROOT" not in res.stdout and "TMP" not in res.stdout
    assert "SHM" in res.stdout  # /dev/shm stays writable, as Docker's
    assert res.stderr.count("Read-only file system") == 2


def test_bind_mount_read_write_and_read_only(rt_engine, busybox):
    with tempfile.TemporaryDirectory(prefix="barque-bind-") as host_dir:
        Path(host_dir, "from-host").write_text("hello\n")
        out = _ok(sh(rt_engine, busybox, "cat /data/from-host; echo written > /data/from-ctr",
                     "-v", f"{host_dir}:/data"))
        assert out == "hello\n"
        assert Path(host_dir, "from-ctr").read_text() == "written\n"
        res = sh(rt_engine, busybox, "cat /data/from-host; echo no > /data/ro && echo WROTE",
                 "-v", f"{host_dir}:/data:ro")
        assert res.stdout.splitlines()[0] == "hello" and "WROTE" not in res.stdout
        assert "Read-only file system" in res.stderr
        assert not Path(host_dir, "ro").exists()
