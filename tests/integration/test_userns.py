"""``--userns-remap`` end to end: an engine whose runtime remaps containers
to an explicit subordinate range (never /etc/subuid: the range is given as
``HOSTUID:HOSTGID:SIZE``), run through the real CLI.

Root in a container is host uid :data:`HOST_ID`: what it writes is owned by
that uid in the upper dir, a setuid-root binary of the image gains no host
privilege, and the isolation checks of ``test_run_isolation`` hold (Docker's
capabilities, masked and read-only paths, /dev, the device cgroup).
``--userns=host`` keeps a container in the host's namespace. Image layers
reach the remapped root through idmapped mounts, or (``userns_layers=copy``,
the fallback for kernels without idmapped overlay layers) through a chowned
copy kept per range and removed with its image; neither leaves a mount.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import host
from tests.support.engine import Engine
from tests.support.layers import build_tar, file_entry
from tests.support.runtime import close_runtime_engine, sh, start_runtime_engine, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

#: the explicit range: container ids 0..65535 are host ids 410000..475535
HOST_ID = 410000
REMAP = f"{HOST_ID}:{HOST_ID}:65536"
DOCKER_DEFAULT_CAPS = 0x00000000A80425FB
MASKED = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware", "/proc/acpi"]
READONLY = ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"]

#: a static probe for the setuid test: its effective uid, then whether it can read argv[1]; then it waits
_PROBE_C = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int fd = open(argv[1], O_RDONLY);
    printf("euid=%d open=%s\n", (int)geteuid(), fd >= 0 ? "ok" : strerror(errno));
    fflush(stdout);
    if (argc > 2) pause();
    return 0;
}
"""


def _ok(res) -> str:
    assert res.returncode == 0, f"failed ({res.returncode}): {res.stderr}{res.stdout}"
    return res.stdout


def _engine(test_images, **env: str) -> Engine:
    eng = start_runtime_engine(BARQUE_USERNS_REMAP=REMAP, **env)
    try:
        eng.ok("pull", test_images["oci-gzip"].ref)
    except BaseException:
        close_runtime_engine(eng)
        raise
    return eng


@pytest.fixture(scope="module")
def remap_engine(test_images) -> Iterator[Engine]:
    """All three services, the runtime remapping to :data:`REMAP` (idmapped layers)."""
    eng = _engine(test_images)
    try:
        yield eng
    finally:
        close_runtime_engine(eng)
        assert not host.mounts_naming(str(eng.root)), "a mount of the remapped engine outlived it"


@pytest.fixture(scope="module")
def image(test_images) -> str:
    return test_images["oci-gzip"].ref


def _upper(engine: Engine, name: str) -> Path:
    return Path(_ok(engine.cli("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", name)).strip())


def _no_layer_mounts(engine: Engine) -> None:
    """Only the containers' overlays are mounted: no idmapped layer stays attached."""
    runtime = engine.state("runtime")
    assert not [p for p in host.mounts_naming(str(runtime)) if not p.endswith("/rootfs")]


# ---- ownership -----------------------------------------------------------------------

def test_root_in_the_container_is_the_mapped_uid_on_the_host(remap_engine, image):
    out = _ok(remap_engine.cli("run", "--name", "owner", image, "sh", "-c",
                               "id -u; cat /proc/self/uid_map; touch /made-by-root; mkdir /d; "
                               "echo x > /d/f; ls -ln /bin/busybox /etc/passwd"))
    try:
        lines = out.splitlines()
        assert lines[0] == "0"
        assert lines[1].split() == ["0", str(HOST_ID), "65536"]
        # the image's files are root's inside, through the idmapped layers
        assert all(line.split()[2:4] == ["0", "0"] for line in lines[2:4]), lines
        upper = _upper(remap_engine, "owner")
        for path in (upper / "made-by-root", upper / "d", upper / "d" / "f"):
            st = os.stat(path)
            assert (st.st_uid, st.st_gid) == (HOST_ID, HOST_ID), path
        # stored as they are: the layers keep root's ids on disk
        lower = _ok(remap_engine.cli("inspect", "-f", "{{.GraphDriver.Data.LowerDir}}", "owner")).strip()
        assert os.stat(Path(lower.split(":")[-1]) / "bin").st_uid == 0
    finally:
        remap_engine.ok("rm", "owner")
    _no_layer_mounts(remap_engine)


def test_userns_host_keeps_the_hosts_namespace(remap_engine, image):
    out = _ok(remap_engine.cli("run", "--name", "hostns", "--userns=host", image, "sh", "-c",
                               "cat /proc/self/uid_map; touch /made-by-root"))
    try:
        assert out.split() == ["0", "0", "4294967295"]
        assert os.stat(_upper(remap_engine, "hostns") / "made-by-root").st_uid == 0
        assert _ok(remap_engine.cli("inspect", "-f", "{{.HostConfig.UsernsMode}}", "hostns")).strip() == "host"
    finally:
        remap_engine.ok("rm", "hostns")


def test_remap_refusals_are_dockers(remap_engine, image):
    bad = remap_engine.cli("run", "--rm", "--userns=private", image, "true")
    assert bad.returncode == 125 and "--userns: invalid USER mode" in bad.stderr
    priv = remap_engine.cli("run", "--rm", "--privileged", image, "true")
    assert priv.returncode == 125
    assert "privileged mode is incompatible with user namespaces" in priv.stderr
    hostnet = remap_engine.cli("run", "--rm", "--net=host", image, "true")
    assert hostnet.returncode == 125
    assert "cannot share the host's network namespace when user namespaces are enabled" in hostnet.stderr
    _ok(remap_engine.cli("run", "--rm", "--privileged", "--userns=host", image, "true"))
    assert remap_engine.ok("ps", "-aq").lines == []


def test_info_lists_userns_and_state_dirs_are_0710(remap_engine):
    assert "name=userns" in remap_engine.ok("info", "-f", "{{json .SecurityOptions}}").stdout
    for directory in (remap_engine.root / "state", remap_engine.state("runtime"),
                      remap_engine.state("runtime") / "containers"):
        st = os.stat(directory)
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o710, 0, HOST_ID), directory
    images = os.stat(remap_engine.state("images"))
    assert images.st_mode & 0o777 == 0o700


def test_exec_joins_the_user_namespace(remap_engine, image):
    cid = _ok(remap_engine.cli("run", "-d", image, "sleep", "60")).strip()
    try:
        assert _ok(remap_engine.cli("exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map")).split() == \
            ["0", "0", str(HOST_ID), "65536"]
        assert _ok(remap_engine.cli("exec", "-u", "1000", cid, "id", "-u")).strip() == "1000"
        pid = int(_ok(remap_engine.cli("inspect", "-f", "{{.State.Pid}}", cid)))
        assert Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0] == str(HOST_ID)
    finally:
        remap_engine.ok("rm", "-f", cid)


def test_net_container_shares_the_peers_user_namespace(remap_engine, image):
    """As moby: joining a remapped container's network namespace joins its user namespace."""
    peer = _ok(remap_engine.cli("run", "-d", image, "sleep", "60")).strip()
    try:
        theirs = _ok(remap_engine.cli("exec", peer, "readlink", "/proc/self/ns/user")).strip()
        out = _ok(sh(remap_engine, image, "readlink /proc/self/ns/user; readlink /proc/self/ns/net; "
                     "cat /proc/self/uid_map; touch /x && echo wrote", f"--net=container:{peer}"))
        lines = out.splitlines()
        assert lines[0] == theirs
        assert lines[1] == _ok(remap_engine.cli("exec", peer, "readlink", "/proc/self/ns/net")).strip()
        assert lines[2].split() == ["0", str(HOST_ID), "65536"] and lines[3] == "wrote"
    finally:
        remap_engine.ok("rm", "-f", peer)


def test_named_volume_in_a_remapped_container(remap_engine, image):
    out = _ok(remap_engine.cli("run", "--rm", "-v", "userns-vol:/data", image, "sh", "-c",
                               "touch /data/f && stat -c '%u %g' /data /data/f"))
    data = Path(_ok(remap_engine.cli("volume", "inspect", "-f", "{{.Mountpoint}}", "userns-vol")).strip())
    try:
        # the source is reached though the volumes dir stays closed to the remapped root;
        # the data dir is its root's (dockerd's volumes are the remapped root's)
        assert out.split() == ["0", "0", "0", "0"]
        assert os.stat(data / "f").st_uid == HOST_ID
        assert os.stat(remap_engine.state("runtime") / "volumes").st_mode & 0o777 == 0o700
    finally:
        remap_engine.ok("volume", "rm", "userns-vol")


# ---- isolation with remapping on --------------------------------------------------------

def test_isolation_holds_with_remapping(remap_engine, image):
    script = ("grep CapEff /proc/self/status; readlink /proc/self/ns/user; ls /dev | tr '\\n' ' '; echo; "
              + "".join(f"cat {p} 2>/dev/null | wc -c; " for p in MASKED[:4])
              + "echo $(ls -A /sys/firmware | wc -l)$(ls -A /proc/acpi | wc -l); "
              + "".join(f"(echo 1 > {p}) 2>/dev/null && echo rw || echo ro; " for p in ("/proc/sys/kernel/domainname",
                                                                                       "/proc/sysrq-trigger"))
              + "mknod /tmp/null c 1 3 2>/dev/null && echo mknod || echo no-mknod; "
              + "head -c 4 /dev/zero | wc -c; echo hi > /dev/null && echo null-ok; "
              + "mount -t tmpfs t /mnt 2>/dev/null && echo mounted || echo no-mount")
    lines = _ok(sh(remap_engine, image, script)).splitlines()
    assert int(lines[0].split()[1], 16) == DOCKER_DEFAULT_CAPS
    assert lines[1] != os.readlink("/proc/self/ns/user")
    dev = set(lines[2].split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "fd"} <= dev
    assert lines[3:7] == ["0", "0", "0", "0"], "a masked file shows content"
    assert lines[7] == "00", "a masked directory lists entries"
    assert lines[8:10] == ["ro", "ro"]
    assert lines[10:] == ["no-mknod", "4", "null-ok", "no-mount"]


def test_device_cgroup_and_device_nodes_are_bound(remap_engine, image):
    """/dev/null etc. are the host's nodes bound in (no mknod in a user
    namespace); the device cgroup still denies what the spec does not allow."""
    out = _ok(sh(remap_engine, image, "grep -E ' /dev/(null|zero) ' /proc/self/mountinfo | wc -l; "
                 "ls -l /dev/null | cut -c1; dd if=/dev/mem bs=1 count=1 2>&1 | grep -c -i denied || true"))
    count, kind, *_ = out.split()
    assert int(count) == 2 and kind == "c"


def test_setuid_binary_from_the_image_gains_no_host_privilege(remap_engine, hand_built_image, tmp_path):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("needs a C compiler for the static probe")
    (tmp_path / "probe.c").write_text(_PROBE_C)
    subprocess.run([cc, "-static", "-O1", "-o", str(tmp_path / "probe"), str(tmp_path / "probe.c")], check=True)
    layer = build_tar([file_entry("suidprobe", (tmp_path / "probe").read_bytes(), mode=0o4755)])
    ref = hand_built_image("userns-setuid", extra_layers=[layer]).ref
    remap_engine.ok("pull", ref)
    secret = Path(tempfile.mkdtemp(prefix="barque-userns-secret-")) / "secret"
    try:
        secret.write_text("host root only\n")
        os.chmod(secret, 0o600)
        os.chmod(secret.parent, 0o755)
        cid = _ok(remap_engine.cli("run", "-d", "--user", "1000:1000", "-v", f"{secret}:/secret",
                                   ref, "/suidprobe", "/secret", "wait")).strip()
        try:
            wait_for(lambda: "euid=" in remap_engine.cli("logs", cid).stdout, what="the probe's line")
            # setuid root in the container: euid 0 there, yet the host's root-only file stays closed
            assert remap_engine.ok("logs", cid).stdout.strip() == "euid=0 open=Permission denied"
            pid = int(_ok(remap_engine.cli("inspect", "-f", "{{.State.Pid}}", cid)))
            uids = Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[:3]
            # real, effective, saved as the host sees them: container 1000, 0, 0 moved into the range
            assert uids == [str(HOST_ID + 1000), str(HOST_ID), str(HOST_ID)]
        finally:
            remap_engine.ok("rm", "-f", cid)
    finally:
        shutil.rmtree(secret.parent)


# ---- the chowned-copy fallback --------------------------------------------------------------

def test_chowned_copy_fallback_is_kept_reused_and_removed_with_its_image(test_images):
    eng = _engine(test_images, BARQUE_USERNS_LAYERS="copy")
    try:
        copies = eng.state("runtime") / "userns" / f"{HOST_ID}.{HOST_ID}" / "layers"
        image = test_images["oci-gzip"].ref
        out = _ok(eng.cli("run", "--name", "c1", image, "sh", "-c", "touch /x; ls -ln /bin/busybox"))
        assert out.split()[2:4] == ["0", "0"]
        made = sorted(copies.iterdir())
        assert made and all((c / "fs").is_dir() for c in made)
        assert os.stat(made[0] / "fs").st_uid == HOST_ID
        assert os.stat(_upper(eng, "c1") / "x").st_uid == HOST_ID
        inode = os.stat(made[0] / "fs").st_ino
        _ok(eng.cli("run", "--rm", image, "true"))
        assert sorted(copies.iterdir()) == made and os.stat(made[0] / "fs").st_ino == inode, "not reused"
        _no_layer_mounts(eng)
        eng.ok("rm", "c1")
        eng.ok("rmi", image)
        eng.restart("runtime")  # copies of layers whose image went are removed at start
        assert not copies.exists(), list(copies.iterdir())
    finally:
        close_runtime_engine(eng)
    assert not host.mounts_naming(str(eng.root))
