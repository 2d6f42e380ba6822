"""``barque pause`` / ``unpause`` and ``rename`` through the real CLI and a
real engine: the freezer really stops a container's processes (a counting
loop's output stops advancing), the state reaches ps and inspect as
Docker's, every error is moby's text, a stop / kill / rm -f / restart of a
paused container works and leaves no frozen cgroup, and a runtime restart
still sees the container paused. Pause runs on the warm (zygote) and the
cold (barque-oci as a subprocess) paths, and in process with runc as the OCI
runtime.

Every container a test makes is removed after it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from client.errors import FailedPrecondition
from tests.support import host
from tests.support.ocibundle import busybox_rootfs
from tests.support.runtime import remove_all, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

COUNTER = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done"


def _container(engine, ref: str) -> dict:
    return json.loads(engine.ok("inspect", "--type", "container", ref).stdout)[0]


def _ps(engine, name: str, field: str) -> str:
    return engine.ok("ps", "-a", "--filter", f"name=^{name}$", "--format", "{{." + field + "}}").stdout.strip()


def _count(engine, name: str) -> int:
    return len(engine.ok("logs", name).stdout.split())


def _freezer_states(cid: str) -> list[str]:
    """The freezer state of the container's cgroup, in each hierarchy that has one."""
    out = []
    for path in host.cgroup_paths(f"barque/{cid}"):
        for name in ("freezer.state", "cgroup.freeze"):
            if (path / name).exists():
                out.append((path / name).read_text().strip())
    return out


def _frozen(cid: str) -> bool:
    return any(s in ("FROZEN", "FREEZING", "1") for s in _freezer_states(cid))


@pytest.fixture
def engine(path_engine):
    yield path_engine
    remove_all(path_engine)


@pytest.fixture
def warm(engine, exec_path):
    """``engine`` on the warm path only: what these tests drive does not
    depend on how barque-oci is started (the pause tests run on both)."""
    if exec_path != "warm":
        pytest.skip("exec-path independent; run on the warm path")
    return engine


@pytest.fixture
def image(test_images) -> str:
    return test_images["oci-gzip"].ref


def test_pause_freezes_and_unpause_resumes(engine, image):
    cid = engine.ok("run", "-d", "--name", "counter", image, "sh", "-c", COUNTER).stdout.strip()
    wait_for(lambda: _count(engine, "counter") > 3, what="the loop to count")
    assert engine.ok("pause", "counter").stdout == "counter\n"
    assert _frozen(cid)
    time.sleep(0.3)  # output written just before the freeze reaches the log
    frozen_at = _count(engine, "counter")
    time.sleep(1.0)
    assert _count(engine, "counter") == frozen_at, "a paused container went on counting"
    state = _container(engine, "counter")["State"]
    assert (state["Status"], state["Running"], state["Paused"]) == ("paused", True, True)
    assert re.fullmatch(r"Up .+ \(Paused\)", _ps(engine, "counter", "Status"))
    assert _ps(engine, "counter", "State") == "paused"
    assert engine.ok("ps", "--filter", "status=paused", "--format", "{{.Names}}").stdout == "counter\n"
    assert engine.ok("ps", "--filter", "status=running", "--format", "{{.Names}}").stdout == ""

    assert engine.ok("container", "unpause", "counter").stdout == "counter\n"
    assert not _frozen(cid)
    wait_for(lambda: _count(engine, "counter") > frozen_at + 3, what="the loop to count again")
    state = _container(engine, "counter")["State"]
    assert (state["Status"], state["Running"], state["Paused"]) == ("running", True, False)
    assert not _ps(engine, "counter", "Status").endswith("(Paused)")


def test_pause_and_unpause_errors_are_moby_s(engine, image):
    engine.ok("create", "--name", "idle", image, "sleep", "600")
    cid = _container(engine, "idle")["Id"]
    res = engine.cli("pause", "idle")
    assert res.returncode != 0 and res.stdout == ""
    assert f"Container {cid} is not running" in res.stderr
    res = engine.cli("unpause", "idle")
    assert res.returncode != 0 and f"Container {cid} is not paused" in res.stderr

    engine.ok("start", "idle")
    res = engine.cli("unpause", "idle")
    assert res.returncode != 0 and f"Container {cid} is not paused" in res.stderr
    engine.ok("pause", "idle")
    res = engine.cli("pause", "idle")
    assert res.returncode != 0 and f"Container {cid} is already paused" in res.stderr
    res = engine.cli("exec", "idle", "true")
    assert res.returncode != 0
    assert f"Container {cid} is paused, unpause the container before exec" in res.stderr
    res = engine.cli("start", "idle")
    assert res.returncode != 0 and "cannot start a paused container, try unpause instead" in res.stderr
    res = engine.cli("rm", "idle")
    assert res.returncode != 0 and (f"You cannot remove a paused container {cid}. Unpause and then stop the "
                                    "container before attempting removal or force remove") in res.stderr

    # several at once: each name done is printed, each failure reported, a non-zero exit
    res = engine.cli("unpause", "idle", "ghost")
    assert (res.returncode != 0, res.stdout) == (True, "idle\n")
    assert "No such container: ghost" in res.stderr
    assert _container(engine, "idle")["State"]["Paused"] is False


@pytest.mark.parametrize("how", ["stop", "kill", "kill-term", "restart", "rm"])
def test_a_paused_container_can_be_stopped_killed_restarted_removed(warm, image, how):
    engine = warm
    cid = engine.ok("run", "-d", "--name", "frozen", image, "sleep", "600").stdout.strip()
    engine.ok("pause", "frozen")
    assert _frozen(cid)
    if how == "stop":
        engine.ok("stop", "-t", "1", "frozen")
    elif how == "kill":
        engine.ok("kill", "frozen")
    elif how == "kill-term":
        engine.ok("kill", "-s", "TERM", "frozen")  # sleep as pid 1 ignores TERM: it runs on, thawed
    elif how == "restart":
        engine.ok("restart", "-t", "1", "frozen")
    else:
        engine.ok("rm", "-f", "frozen")
        assert engine.ok("ps", "-aq").lines == []
        assert host.cgroup_paths(f"barque/{cid}") == []
        return
    state = _container(engine, "frozen")["State"]
    assert state["Paused"] is False
    assert not _frozen(cid)
    if how in ("restart", "kill-term"):
        assert state["Running"] is True and state["Status"] == "running"
    else:
        assert (state["Running"], state["Status"]) == (False, "exited")


def test_a_runtime_restart_still_sees_it_paused(fresh_rt_engine, test_images):
    engine = fresh_rt_engine
    image = test_images["oci-gzip"].ref
    engine.ok("pull", image)
    cid = engine.ok("run", "-d", "--name", "napper", image, "sleep", "600").stdout.strip()
    engine.ok("pause", "napper")
    engine.restart("runtime")
    state = _container(engine, "napper")["State"]
    assert (state["Status"], state["Running"], state["Paused"]) == ("paused", True, True)
    assert _frozen(cid)
    info = engine.ok("info", "--format", "{{.ContainersPaused}} {{.ContainersRunning}}").stdout.split()
    assert info == ["1", "0"]
    engine.ok("unpause", "napper")
    assert _container(engine, "napper")["State"]["Status"] == "running"


def _lookup(engine, image: str, network: str, name: str) -> str:
    res = engine.cli("run", "--rm", "--network", network, image, "nslookup", name)
    return res.stdout + res.stderr


def test_rename_a_running_container_on_a_network(warm, image):
    engine = warm
    engine.ok("network", "create", "renamenet")
    try:
        cid = engine.ok("run", "-d", "--network", "renamenet", "--name", "before", image,
                        "sleep", "600").stdout.strip()
        ip = _container(engine, cid)["NetworkSettings"]["Networks"]["renamenet"]["IPAddress"]
        res = engine.ok("rename", "before", "after")
        assert (res.stdout, res.stderr) == ("", "")
        doc = _container(engine, cid)
        assert (doc["Name"], doc["State"]["Running"]) == ("/after", True)
        assert _ps(engine, "after", "ID") == cid[:12] and _ps(engine, "before", "ID") == ""
        assert f"Address: {ip}" in _lookup(engine, image, "renamenet", "after")
        assert f"Address: {ip}" not in _lookup(engine, image, "renamenet", "before")
        # the old name is free at once; a leading slash is accepted as Docker's
        other = engine.ok("create", "--name", "before", image, "true").stdout.strip()
        assert _container(engine, "before")["Id"] == other
        engine.ok("container", "rename", other, "/third")
        assert _container(engine, other)["Name"] == "/third"
    finally:
        remove_all(engine)
        engine.ok("network", "rm", "renamenet")


def test_rename_errors_are_docker_s(warm, image):
    engine = warm
    first = engine.ok("create", "--name", "one", image, "true").stdout.strip()
    engine.ok("create", "--name", "two", image, "true")
    res = engine.cli("rename", "two", "one")
    assert res.returncode == 125
    assert (f'Conflict. The container name "/one" is already in use by container "{first}". '
            "You have to remove (or rename) that container to be able to reuse that name.") in res.stderr
    res = engine.cli("rename", "two", "bad name!")
    assert res.returncode == 125
    assert "Invalid container name (bad name!), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" in res.stderr
    res = engine.cli("rename", "two", "two")
    assert res.returncode == 125 and "Renaming a container with the same name as its current name" in res.stderr
    res = engine.cli("rename", "two", " ")
    assert res.returncode == 125 and "Neither old nor new names may be empty" in res.stderr
    res = engine.cli("rename", "ghost", "three")
    assert res.returncode == 125 and "No such container: ghost" in res.stderr
    assert sorted(engine.ok("ps", "-a", "--format", "{{.Names}}").lines) == ["one", "two"]


# ---- runc as the OCI runtime (RuntimeService's oci_command), in process ------------------------

class _DirImages:
    """An ImageSource of one image: a busybox root as its only layer."""

    def __init__(self, root: Path) -> None:
        self.root, self.lower = root, root / "lower"
        busybox_rootfs(self.lower)

    def image_config(self, ref: str):
        return "sha256:" + "1" * 64, {"Cmd": ["sh"]}

    def prepare(self, key: str, image: str):
        from services.runtime.core import ImageInfo

        snap = self.root / "snap" / key
        (snap / "upper").mkdir(parents=True)
        (snap / "work").mkdir()
        return ImageInfo(image, {}, [str(self.lower)], str(snap / "upper"), str(snap / "work"))

    def remove_snapshot(self, key: str) -> None:
        shutil.rmtree(self.root / "snap" / key, ignore_errors=True)

    def image_size(self, image_id: str) -> int:
        return 0


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")
def test_pause_with_runc(tmp_path):
    from client.config import NetworkConfig
    from services.runtime.core import RuntimeService
    from services.runtime.engine.containers import ContainerConfig, HostConfig

    rt = RuntimeService(tmp_path / "state", _DirImages(tmp_path), oci_command=[shutil.which("runc")],
                        network=NetworkConfig(bridge=f"bqr{os.getpid() % 100000}", bridge_subnet="172.31.251.0/24"),
                        run_dir=tmp_path / "run")
    try:
        record = rt.create("r1", ContainerConfig(image="x", cmd=["sleep", "600"]), HostConfig(network_mode="none"))
        rt.start(record.id)
        rt.pause(record.id)
        assert _frozen(record.id) and rt.inspect(record.id).record.status == "paused"
        with pytest.raises(FailedPrecondition, match=f"Container {record.id} is already paused"):
            rt.pause(record.id)
        rt.unpause(record.id)
        assert not _frozen(record.id) and rt.inspect(record.id).record.status == "running"
        rt.pause(record.id)
        rt.stop(record.id, 1)  # sleep as pid 1 ignores TERM: SIGKILL after the grace, thawed
        view = rt.inspect(record.id)
        assert (view.running, view.record.status, view.record.exit_code) == (False, "exited", 137)
        assert not _frozen(record.id)
        rt.start(record.id)
        rt.pause(record.id)
        rt.delete(record.id, force=True)
        assert host.cgroup_paths(f"barque/{record.id}") == []
    finally:
        for r in rt.store.all():
            rt.delete(r.id, force=True)
        rt.close()
