"""A container's life through the real CLI: pull on run, --rm, names,
create/start/wait, ps and inspect output, logs (streams, rotation, CRI format,
tail/timestamps/since/follow), and a runtime service killed and restarted
while containers run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from barque.runtime.v1 import runtime_pb2

from tests.support.engine import CLI
from tests.support.host import alive, container_cgroups, pids_matching
from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) [FP] .*$")
RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


# ---- run, --rm, names, create/start/wait ---------------------------------------------------

def test_run_pulls_a_missing_image(fresh_rt_engine, test_images):
    ref = test_images["oci-gzip"].ref
    first = fresh_rt_engine.cli("run", "--rm", ref, "echo", "pulled")
    assert first.returncode == 0, first.stderr
    assert f"Unable to find image '{ref}' locally" in first.stderr
    assert first.stdout == "pulled\n"  # pull progress stays off stdout
    second = fresh_rt_engine.ok("run", "--rm", ref, "echo", "again")
    assert "Unable to find image" not in second.stderr and second.stdout == "again\n"


def test_run_i_pulls_a_missing_image_and_keeps_stdin(fresh_rt_engine, test_images):
    """The CLI creates first and pulls on "no such image", as Docker's does:
    the refused first attempt must not have consumed any of stdin."""
    ref = test_images["oci-gzip"].ref
    res = fresh_rt_engine.cli("run", "--rm", "-i", ref, "cat", input="all of it\n")
    assert res.returncode == 0, res.stderr
    assert f"Unable to find image '{ref}' locally" in res.stderr
    assert res.stdout == "all of it\n"


def test_create_pulls_a_missing_image(fresh_rt_engine, test_images):
    ref = test_images["oci-gzip"].ref
    res = fresh_rt_engine.cli("create", ref, "true")
    assert res.returncode == 0, res.stderr
    assert f"Unable to find image '{ref}' locally" in res.stderr
    assert len(res.stdout.strip()) == 64
    assert fresh_rt_engine.ok("ps", "-aq", "--no-trunc").lines == [res.stdout.strip()]


def test_rm_removes_the_container_before_returning(rt_engine, busybox):
    res = rt_engine.cli("run", "--rm", "--name", "ephemeral", busybox, "sh", "-c", "exit 4")
    assert res.returncode == 4
    assert rt_engine.ok("ps", "-aq").lines == []
    assert list((rt_engine.state("runtime") / "containers").iterdir()) == []
    # the name is free again at once
    rt_engine.ok("run", "--rm", "--name", "ephemeral", busybox, "true")


def test_the_runtime_follows_a_running_container_without_a_connection_to_its_shim(rt_engine, busybox):
    """The service watches the shim's exit through a pidfd, so a detached
    container's shim holds one socket (its attach listener), not also a
    connection per watcher that would cost memory for the container's life."""
    cid = rt_engine.ok("run", "-d", busybox, "sleep", "60").stdout.strip()
    try:
        shim_dir = rt_engine.state("runtime") / "containers" / cid / "shim"
        shim = int((shim_dir / "shim.pid").read_text())
        sockets = [fd for fd in os.listdir(f"/proc/{shim}/fd")
                   if os.readlink(f"/proc/{shim}/fd/{fd}").startswith("socket:")]
        assert len(sockets) == 1
        rt_engine.ok("kill", cid)
        # ...and still learns of the exit at once
        assert rt_engine.ok("wait", cid).stdout == "137\n"
        assert rt_engine.ok("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", cid).stdout == "exited 137\n"
    finally:
        rt_engine.ok("rm", "-f", cid)


def test_names_are_unique_and_freed_by_rm(rt_engine, busybox):
    cid = rt_engine.ok("create", "--name", "unique", busybox, "true").stdout.strip()
    res = rt_engine.cli("create", "--name", "unique", busybox, "true")
    assert res.returncode == 125
    assert '"/unique"' in res.stderr and cid in res.stderr
    assert rt_engine.ok("ps", "-aq", "--no-trunc").lines == [cid]
    rt_engine.ok("rm", "unique")
    rt_engine.ok("create", "--name", "unique", busybox, "true")
    rt_engine.ok("rm", "unique")


def test_create_start_wait(rt_engine, busybox):
    cid = rt_engine.ok("create", "--name", "later", busybox, "sh", "-c", "echo started; exit 5").stdout.strip()
    try:
        assert re.fullmatch(r"[0-9a-f]{64}", cid)
        assert rt_engine.ok("ps", "-a", "--filter", "name=later", "--format", "{{.Status}}").stdout == "Created\n"
        assert rt_engine.ok("logs", "later").stdout == ""
        assert rt_engine.ok("start", "later").stdout == "later\n"
        assert rt_engine.ok("wait", "later").stdout == "5\n"
        assert rt_engine.ok("logs", "later").stdout == "started\n"
        # a stopped container starts again and runs its command anew
        rt_engine.ok("start", "later")
        assert rt_engine.ok("wait", cid[:12]).stdout == "5\n"
        assert rt_engine.ok("logs", "later").stdout == "started\nstarted\n"
    finally:
        rt_engine.ok("rm", "later")


def test_a_start_right_after_wait_keeps_the_new_run(rt_engine, busybox):
    """wait answers once the engine has handled the exit (Docker's), so a
    start at once after it runs anew with its network, and the late
    handling of the first run's exit can't take the second run's address or
    mark it exited. Calls go through the client library, back to back, to
    make the window as narrow as a script's."""
    script = "if [ -e /second ]; then exec sleep 60; fi; touch /second"
    request = runtime_pb2.CreateRequest(
        config=runtime_pb2.ContainerConfig(image=busybox, cmd=["sh", "-c", script]),
        host_config=runtime_pb2.HostConfig(network_mode="bridge"))
    ids = []
    with rt_engine.client("runtime") as rt:
        try:
            for _ in range(5):
                cid = rt.Create(request, timeout=60).id
                ids.append(cid)
                rt.Start(runtime_pb2.StartRequest(id=cid), timeout=60)
                assert rt.Wait(runtime_pb2.WaitRequest(id=cid), timeout=60).exited.exit_code == 0
                rt.Start(runtime_pb2.StartRequest(id=cid), timeout=60)
            time.sleep(0.5)  # a late exit handling of the first runs would land by now
            for cid in ids:
                doc = json.loads(rt.Inspect(runtime_pb2.InspectRequest(id=cid), timeout=30).container_json)
                assert doc["State"]["Status"] == "running", doc["State"]
                assert doc["NetworkSettings"]["IPAddress"], doc["NetworkSettings"]
        finally:
            for cid in ids:
                rt.Delete(runtime_pb2.DeleteRequest(id=cid, force=True), timeout=60)


def test_rm_refuses_a_running_container_without_force(rt_engine, busybox):
    rt_engine.ok("run", "-d", "--name", "busy", busybox, "sleep", "60")
    try:
        res = rt_engine.cli("rm", "busy")
        assert res.returncode != 0
        assert "running" in res.stderr and "force" in res.stderr
        assert rt_engine.ok("inspect", "-f", "{{.State.Running}}", "busy").stdout == "true\n"
    finally:
        rt_engine.ok("rm", "-f", "busy")
    assert rt_engine.cli("inspect", "busy").returncode != 0


def test_unknown_container_errors(rt_engine):
    for args in (("stop", "ghost"), ("kill", "ghost"), ("rm", "ghost"), ("wait", "ghost"), ("logs", "ghost")):
        res = rt_engine.cli(*args)
        assert res.returncode != 0, args
        assert "ghost" in res.stderr, (args, res.stderr)


# ---- ps ----------------------------------------------------------------------------------------

@pytest.fixture
def three_states(rt_engine, busybox) -> Iterator[dict[str, str]]:
    """Containers ``ps-up`` (running), ``ps-exited`` (exit 2) and ``ps-created``."""
    ids = {
        "ps-up": rt_engine.ok("run", "-d", "--name", "ps-up", "--label", "tier=web", busybox,
                              "sleep", "60").stdout.strip(),
        "ps-exited": rt_engine.ok("run", "-d", "--name", "ps-exited", "--label", "tier=db", busybox,
                                  "sh", "-c", "exit 2").stdout.strip(),
        "ps-created": rt_engine.ok("create", "--name", "ps-created", "--label", "solo", busybox,
                                   "true").stdout.strip(),
    }
    rt_engine.ok("wait", "ps-exited")
    try:
        yield ids
    finally:
        rt_engine.ok("rm", "-f", *ids)


def test_ps_lists_running_and_all(rt_engine, three_states):
    ids = three_states
    assert rt_engine.ok("ps", "-q").lines == [ids["ps-up"][:12]]
    assert sorted(rt_engine.ok("ps", "-aq").lines) == sorted(i[:12] for i in ids.values())
    assert sorted(rt_engine.ok("ps", "-aq", "--no-trunc").lines) == sorted(ids.values())


def test_ps_filters(rt_engine, three_states):
    ids = three_states
    q = ["ps", "-a", "--format", "{{.Names}}"]
    assert rt_engine.ok(*q, "--filter", "name=ps-ex").lines == ["ps-exited"]
    assert rt_engine.ok(*q, "--filter", "status=exited").lines == ["ps-exited"]
    assert rt_engine.ok(*q, "--filter", "status=created").lines == ["ps-created"]
    assert rt_engine.ok(*q, "--filter", "status=running").lines == ["ps-up"]
    assert rt_engine.ok(*q, "--filter", f"id={ids['ps-created'][:8]}").lines == ["ps-created"]
    assert rt_engine.ok("ps", "--filter", "status=exited", "-q").lines == [ids["ps-exited"][:12]]
    assert rt_engine.cli("ps", "--filter", "colour=blue").returncode == 125
    assert sorted(rt_engine.ok(*q, "--filter", "label=tier").lines) == ["ps-exited", "ps-up"]
    assert rt_engine.ok(*q, "--filter", "label=tier=db").lines == ["ps-exited"]
    assert rt_engine.ok(*q, "--filter", "label=solo").lines == ["ps-created"]
    assert rt_engine.ok(*q, "--filter", "label=tier=db", "--filter", "status=running").lines == []


def test_ps_format_template_json_and_table(rt_engine, three_states):
    rows = dict(line.split(" ", 1) for line in rt_engine.ok("ps", "-a", "--format", "{{.Names}} {{.Status}}").lines)
    assert rows["ps-up"].startswith("Up ")
    assert re.fullmatch(r"Exited \(2\) .*ago", rows["ps-exited"])
    assert rows["ps-created"] == "Created"
    records = [json.loads(line) for line in rt_engine.ok("ps", "-a", "--format", "{{json .}}").lines]
    assert {r["Names"] for r in records} == set(three_states)
    for r in records:
        assert {"ID", "Image", "Command", "CreatedAt", "Status", "Names", "State"} <= set(r)
        assert three_states[r["Names"]].startswith(r["ID"])
    table = rt_engine.ok("ps", "-a", "--format", "table {{.Names}}\t{{.Command}}").lines
    assert table[0].split() == ["NAMES", "COMMAND"]
    assert any(line.split()[0] == "ps-up" and '"sleep 60"' in line for line in table[1:])
    default = rt_engine.ok("ps").lines
    assert default[0].split()[:2] == ["CONTAINER", "ID"] and "NAMES" in default[0]
    assert len(default) == 2 and default[1].split()[-1] == "ps-up"


# ---- inspect -------------------------------------------------------------------------------

def test_inspect_has_dockers_fields(rt_engine, busybox, tmp_path):
    res = rt_engine.cli("run", "--name", "inspected", "-m", "32m", "-e", "A=1", "-v", f"{tmp_path}:/data:ro",
                        busybox, "sh", "-c", "exit 3")
    assert res.returncode == 3, res.stderr
    try:
        info = json.loads(rt_engine.ok("inspect", "inspected").stdout)
        assert len(info) == 1
        c = info[0]
        for key in ("Id", "Name", "Created", "State", "Config", "HostConfig", "NetworkSettings", "Mounts",
                    "Path", "Args", "Image", "LogPath"):
            assert key in c, key
        assert c["Name"] == "/inspected" and re.fullmatch(r"[0-9a-f]{64}", c["Id"])
        st = c["State"]
        assert st["Status"] == "exited" and st["Running"] is False and st["ExitCode"] == 3
        assert st["OOMKilled"] is False and st["Pid"] == 0
        started, finished = (datetime.fromisoformat(st[k].replace("Z", "+00:00")) for k in ("StartedAt",
                                                                                             "FinishedAt"))
        created = datetime.fromisoformat(c["Created"].replace("Z", "+00:00"))
        assert created <= started <= finished
        assert (c["Path"], c["Args"]) == ("sh", ["-c", "exit 3"])
        assert c["Config"]["Image"] == busybox and "A=1" in c["Config"]["Env"]
        assert c["Config"]["Hostname"] == c["Id"][:12]
        assert c["HostConfig"]["Memory"] == 32 * 1024 * 1024
        assert c["HostConfig"]["NetworkMode"] == "default"  # what Docker's CLI sends when no --network is given
        assert c["Mounts"] == [{"Type": "bind", "Source": str(tmp_path), "Destination": "/data", "Mode": "ro",
                                "RW": False, "Propagation": "rprivate"}]
        assert "Networks" in c["NetworkSettings"]
        assert Path(c["LogPath"]).is_file()
        assert rt_engine.ok("inspect", "-f", "{{.State.ExitCode}} {{.Name}}", "inspected").stdout == (
            "3 /inspected\n")
    finally:
        rt_engine.ok("rm", "inspected")


def test_grpc_inspect_returns_the_engines_container_json(rt_engine, busybox):
    """The runtime's Inspect carries Docker's ContainerJSON: its GraphDriver
    dirs are the container's real layers, its etc paths the files bound into
    the container, and the CLI prints that document as it is."""
    from barque.runtime.v1 import runtime_pb2

    rt_engine.ok("run", "-d", "--name", "documented", busybox, "sleep", "60")
    try:
        with rt_engine.client("runtime") as runtime:
            resp = runtime.Inspect(runtime_pb2.InspectRequest(id="documented"), timeout=30)
        doc = json.loads(resp.container_json)
        assert doc["Id"] == resp.container.id and doc["Name"] == "/documented"
        assert doc["State"]["Running"] is True and doc["State"]["Pid"] == resp.container.state.pid
        pid = doc["State"]["Pid"]
        data = doc["GraphDriver"]["Data"]
        lowers = data["LowerDir"].split(":")
        assert lowers and all(Path(d).is_dir() for d in lowers)
        for key in ("UpperDir", "WorkDir", "MergedDir"):
            assert Path(data[key]).is_dir(), key
        assert os.path.ismount(data["MergedDir"])
        assert Path(data["MergedDir"], "bin", "busybox").is_file()
        for key, inside in (("HostsPath", "/etc/hosts"), ("ResolvConfPath", "/etc/resolv.conf"),
                            ("HostnamePath", "/etc/hostname")):
            host_file, bound = os.stat(doc[key]), os.stat(f"/proc/{pid}/root{inside}")
            assert (host_file.st_dev, host_file.st_ino) == (bound.st_dev, bound.st_ino), key
        assert Path(doc["HostnamePath"]).read_text() == doc["Config"]["Hostname"] + "\n"
        assert json.loads(rt_engine.ok("inspect", "documented").stdout) == [doc]
    finally:
        rt_engine.ok("rm", "-f", "documented")


def test_inspect_running_state(rt_engine, busybox):
    rt_engine.ok("run", "-d", "--name", "alive", busybox, "sleep", "60")
    try:
        st = json.loads(rt_engine.ok("inspect", "alive").stdout)[0]["State"]
        assert st["Status"] == "running" and st["Running"] is True
        assert st["Pid"] > 0 and alive(st["Pid"])
        assert Path(f"/proc/{st['Pid']}/cmdline").read_bytes() == b"sleep\x0060\x00"
    finally:
        rt_engine.ok("rm", "-f", "alive")


# ---- logs ----------------------------------------------------------------------------------

def test_logs_keep_stdout_and_stderr_apart(rt_engine, busybox):
    rt_engine.ok("run", "--name", "streams", busybox, "sh", "-c", "echo out1; echo err1 >&2; echo out2")
    try:
        res = rt_engine.ok("logs", "streams")
        assert (res.stdout, res.stderr) == ("out1\nout2\n", "err1\n")
    finally:
        rt_engine.ok("rm", "streams")


def test_log_rotation(rt_engine, busybox):
    script = 'i=0; while [ $i -lt 100 ]; do echo "line-$i-padding-padding-padding"; i=$((i+1)); done'
    rt_engine.ok("run", "--name", "rotated", "--log-opt", "max-size=1k", "--log-opt", "max-file=2",
                 busybox, "sh", "-c", script)
    try:
        log_path = Path(rt_engine.ok("inspect", "-f", "{{.LogPath}}", "rotated").stdout.strip())
        cid = rt_engine.ok("inspect", "-f", "{{.Id}}", "rotated").stdout.strip()
        assert log_path.name == f"{cid}-json.log"
        files = sorted(p.name for p in log_path.parent.iterdir() if p.name.startswith(cid))
        assert files == [f"{cid}-json.log", f"{cid}-json.log.1"]
        for p in (log_path, log_path.with_name(log_path.name + ".1")):
            assert p.stat().st_size <= 1024 + 200  # one record may cross the limit
            for line in p.read_text().splitlines():
                rec = json.loads(line)
                assert rec["stream"] == "stdout" and rec["log"].startswith("line-")
        lines = rt_engine.ok("logs", "rotated").lines
        assert lines[-1] == "line-99-padding-padding-padding"
        assert "line-0-padding-padding-padding" not in lines  # rotated away
        assert lines == [f"line-{i}-padding-padding-padding" for i in range(100 - len(lines), 100)]
    finally:
        rt_engine.ok("rm", "rotated")


def test_k8s_file_log_driver(rt_engine, busybox):
    rt_engine.ok("run", "--name", "cri", "--log-driver", "k8s-file", busybox, "sh", "-c",
                 "echo out; echo err >&2; printf partial")
    try:
        log_path = Path(rt_engine.ok("inspect", "-f", "{{.LogPath}}", "cri").stdout.strip())
        lines = log_path.read_text().splitlines()
        assert len(lines) == 3
        for line in lines:
            assert CRI_LINE.match(line), line
        assert {line.split(" ", 3)[1] + " " + line.split(" ", 3)[3] for line in lines} == {
            "stdout out", "stderr err", "stdout partial"}
        assert any(line.split(" ", 3)[2] == "P" and line.endswith("partial") for line in lines)
        res = rt_engine.ok("logs", "cri")
        assert (res.stdout, res.stderr) == ("out\npartial", "err\n")
    finally:
        rt_engine.ok("rm", "cri")


def test_logs_tail_and_timestamps(rt_engine, busybox):
    rt_engine.ok("run", "--name", "tailed", busybox, "sh", "-c", "for i in 1 2 3 4 5; do echo l$i; done")
    try:
        assert rt_engine.ok("logs", "--tail", "2", "tailed").lines == ["l4", "l5"]
        assert rt_engine.ok("logs", "-n", "0", "tailed").lines == []
        assert rt_engine.ok("logs", "--tail", "all", "tailed").lines == [f"l{i}" for i in range(1, 6)]
        stamped = rt_engine.ok("logs", "-t", "--tail", "2", "tailed").lines
        assert [line.split(" ", 1)[1] for line in stamped] == ["l4", "l5"]
        for line in stamped:
            assert RFC3339_NANO.match(line.split(" ", 1)[0]), line
    finally:
        rt_engine.ok("rm", "tailed")


def test_logs_since_and_until(rt_engine, busybox):
    rt_engine.ok("run", "--name", "timed", busybox, "sh", "-c", "echo early; sleep 1.5; echo late")
    try:
        stamped = rt_engine.ok("logs", "-t", "timed").lines
        assert [line.split(" ", 1)[1] for line in stamped] == ["early", "late"]
        early, late = (datetime.fromisoformat(line.split(" ", 1)[0][:26] + "+00:00").timestamp()
                       for line in stamped)
        assert late - early >= 1.0
        middle = f"{(early + late) / 2:.3f}"
        assert rt_engine.ok("logs", "--since", middle, "timed").lines == ["late"]
        assert rt_engine.ok("logs", "--until", middle, "timed").lines == ["early"]
        assert rt_engine.ok("logs", "--since", "10m", "timed").lines == ["early", "late"]
    finally:
        rt_engine.ok("rm", "timed")


def test_logs_follow_until_the_container_exits(rt_engine, busybox):
    rt_engine.ok("run", "-d", "--name", "followed", busybox, "sh", "-c",
                 "echo first; sleep 1.5; echo second; sleep 0.5; echo third")
    try:
        start = time.monotonic()
        proc = subprocess.run([*CLI, "logs", "-f", "followed"], capture_output=True, text=True, timeout=30,
                              env={**os.environ, **rt_engine.env}, cwd=Path(__file__).parents[2])
        took = time.monotonic() - start
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "first\nsecond\nthird\n"
        assert took >= 1.0, "logs -f returned before the container exited"
        assert rt_engine.ok("inspect", "-f", "{{.State.Running}}", "followed").stdout == "false\n"
    finally:
        rt_engine.ok("rm", "-f", "followed")


def test_logs_follow_of_an_exited_container_returns(rt_engine, busybox):
    rt_engine.ok("run", "--name", "done", busybox, "echo", "bye")
    try:
        assert rt_engine.ok("logs", "-f", "done", timeout=15).stdout == "bye\n"
    finally:
        rt_engine.ok("rm", "done")


# ---- the runtime service killed and restarted ------------------------------------------------

def test_containers_survive_a_runtime_restart(fresh_rt_engine, test_images):
    eng = fresh_rt_engine
    image = test_images["oci-gzip"].ref
    eng.ok("pull", image)
    survivor = eng.ok("run", "-d", "--name", "survivor", image, "sh", "-c",
                      "echo up; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done").stdout.strip()
    eng.ok("run", "-d", "--name", "dies-while-down", image, "sh", "-c",
           "echo before; sleep 2; echo after; exit 9")
    auto = eng.ok("run", "-d", "--rm", "--name", "auto-removed", image, "sh", "-c", "sleep 2").stdout.strip()
    wait_for(lambda: "up" in eng.ok("logs", "survivor").stdout, what="survivor output")
    pid = int(eng.ok("inspect", "-f", "{{.State.Pid}}", "survivor").stdout)

    eng.stop_service("runtime", kill=True)
    assert eng.cli("ps").returncode == 125  # really down
    time.sleep(2.5)  # dies-while-down exits meanwhile
    assert alive(pid)
    eng.start("runtime")

    # a --rm container that exited while the service was down is removed once it is back
    wait_for(lambda: "auto-removed" not in eng.ok("ps", "-a", "--format", "{{.Names}}").lines,
             what="auto-removal after the restart")
    assert container_cgroups(auto) == [] and pids_matching(auto) == []
    ps = dict(line.split(" ", 1) for line in eng.ok("ps", "-a", "--format", "{{.Names}} {{.Status}}").lines)
    assert set(ps) == {"survivor", "dies-while-down"}
    assert ps["survivor"].startswith("Up ")
    assert re.fullmatch(r"Exited \(9\) .*", ps["dies-while-down"])
    assert eng.ok("inspect", "-f", "{{.State.Pid}} {{.State.Running}}", "survivor").stdout == f"{pid} true\n"
    assert eng.ok("wait", "dies-while-down").stdout == "9\n"
    assert eng.ok("logs", "dies-while-down").stdout == "before\nafter\n"
    assert eng.ok("logs", "survivor").stdout == "up\n"

    # the restarted service still controls the survivor
    eng.ok("stop", "-t", "10", "survivor")
    assert eng.ok("inspect", "-f", "{{.State.ExitCode}}", "survivor").stdout == "0\n"
    assert eng.ok("logs", "survivor").stdout == "up\nbye\n"
    eng.ok("rm", "survivor", "dies-while-down")
    assert eng.ok("ps", "-aq").lines == []
    assert not alive(pid)
    assert pids_matching(survivor) == [], "a supervisor outlived its container"
    assert container_cgroups(survivor) == []


def test_wait_and_kill_after_a_runtime_restart(fresh_rt_engine, test_images):
    """A container started before the restart can be waited on and killed after it."""
    eng = fresh_rt_engine
    image = test_images["oci-gzip"].ref
    eng.ok("pull", image)
    cid = eng.ok("run", "-d", "--name", "long", image, "sleep", "60").stdout.strip()
    eng.stop_service("runtime", kill=True)
    eng.start("runtime")
    waiter = subprocess.Popen([*CLI, "wait", "long"], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, **eng.env}, cwd=Path(__file__).parents[2])
    try:
        time.sleep(0.5)
        assert waiter.poll() is None, "wait returned while the container runs"
        eng.ok("kill", "-s", str(int(signal.SIGKILL)), "long")
        out, _ = waiter.communicate(timeout=20)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert out == "137\n"
    eng.ok("rm", cid)
    assert pids_matching(cid) == []


def test_graceful_runtime_restart_keeps_running_and_created_containers(fresh_rt_engine, test_images):
    """SIGTERM to the service (systemctl restart, KillMode=process) stops
    only the service: its containers run on, created ones can start after."""
    eng = fresh_rt_engine
    image = test_images["oci-gzip"].ref
    eng.ok("pull", image)
    eng.ok("run", "-d", "--name", "running", image, "sleep", "60")
    eng.ok("create", "--name", "pending", image, "sh", "-c", "echo late-start; exit 6")
    pid = int(eng.ok("inspect", "-f", "{{.State.Pid}}", "running").stdout)
    eng.restart("runtime")
    assert alive(pid)
    assert eng.ok("ps", "--format", "{{.Names}}").lines == ["running"]
    eng.ok("start", "pending")
    assert eng.ok("wait", "pending").stdout == "6\n"
    assert eng.ok("logs", "pending").stdout == "late-start\n"
    eng.ok("rm", "-f", "running", "pending")
    assert not alive(pid)


# ---- fields barque does not apply --------------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("HostConfig.cpuset_cpus", "0"),
    ("Config.on_build", ["RUN true"]),
    ("HostConfig.links", ["other:alias"]),
])
def test_create_refuses_an_unapplied_field_by_name(rt_engine, busybox, field, value):
    """A gRPC caller setting a field barque does not implement gets
    INVALID_ARGUMENT naming it, and nothing is created."""
    import grpc
    from google.protobuf import json_format
    from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc

    message, _, name = field.partition(".")
    body = {"config": {"image": busybox, "cmd": ["true"]}}
    key = {"Config": "config", "HostConfig": "host_config", "NetworkingConfig": "networking_config"}[message]
    body.setdefault(key, {})[name] = value
    request = json_format.ParseDict(body, runtime_pb2.CreateRequest())
    target = rt_engine.address("runtime")
    with grpc.insecure_channel(target) as channel:
        with pytest.raises(grpc.RpcError) as err:
            runtime_pb2_grpc.RuntimeStub(channel).Create(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == f"{field} is not supported by barque yet"
    assert rt_engine.ok("ps", "-aq").lines == []
