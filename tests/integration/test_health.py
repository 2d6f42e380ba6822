"""Health checks, engine side: probes the engine runs as execs in the container
on its own schedule, on both exec paths (warm: barque-oci exec by a worker of
the zygote; cold: ``BARQUE_RUNTIME_WARM=0``, a subprocess). Containers are made
through the runtime's Create RPC with Config.healthcheck (the CLI's --health-*
flags fill the same field), or from an image whose config has a Healthcheck.

Checked as Docker reports it: inspect's State.Health (Status, FailingStreak,
the last five Log entries with bounded Output), the List RPC's state.health,
the ``health_status: ...`` events; a hanging probe killed at its timeout with
its processes gone from the container while the engine serves on; the start
period; the image's HEALTHCHECK merged and ``["NONE"]``; nothing of a probe
left after ``rm -f``."""

from __future__ import annotations

import json
import re
import threading
import time

import grpc
import pytest
from barque.runtime.v1 import runtime_pb2
from google.protobuf import json_format

from client.errors import BarqueError, InvalidArgument
from tests.support.engine import Engine
from tests.support.host import cgroup_pids, cmdline, descendants
from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

MS = 1_000_000
GO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


@pytest.fixture(scope="module")
def image(path_engine, test_images) -> str:
    return test_images["oci-gzip"].ref


@pytest.fixture(scope="module")
def checked_image(path_engine, hand_built_image) -> str:
    """busybox whose image config has a HEALTHCHECK (CMD-SHELL, 200 ms)."""
    ref = hand_built_image("healthcheck", config={"Healthcheck": {
        "Test": ["CMD-SHELL", "echo from-image"], "Interval": 200 * MS, "Retries": 2}}).ref
    path_engine.ok("pull", ref)
    return ref


def _create(path_engine: Engine, image: str, name: str, healthcheck: dict | None, cmd=("sleep", "3600"),
            start: bool = True, **host: object) -> str:
    config: dict = {"image": image, "cmd": list(cmd)}
    if healthcheck is not None:
        config["healthcheck"] = healthcheck
    request = json_format.ParseDict({"name": name, "config": config,
                                     "host_config": {"network_mode": "none", **host}},
                                    runtime_pb2.CreateRequest())
    with path_engine.client("runtime") as rt:
        cid = rt.Create(request, timeout=60).id
        if start:
            rt.Start(runtime_pb2.StartRequest(id=cid), timeout=60)
    return cid


def _inspect(path_engine: Engine, ref: str) -> dict:
    with path_engine.client("runtime") as rt:
        return json.loads(rt.Inspect(runtime_pb2.InspectRequest(id=ref), timeout=30).container_json)


def _health(path_engine: Engine, ref: str) -> dict | None:
    return _inspect(path_engine, ref)["State"].get("Health")


def _status(path_engine: Engine, ref: str) -> str:
    return (_health(path_engine, ref) or {}).get("Status", "")


class Events:
    """The engine's event stream, read in a thread while the test runs."""

    def __init__(self, path_engine: Engine) -> None:
        self.seen: list[tuple[str, str]] = []
        self._client = path_engine.client("runtime")
        rt = self._client.__enter__()
        self._stream = rt.Events(runtime_pb2.EventsRequest())
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for e in self._stream:
                self.seen.append((e.action, e.id))
        except BarqueError:  # cancelled when the test is done
            pass

    def actions(self, cid: str) -> list[str]:
        return [a for a, i in list(self.seen) if i == cid]

    def close(self) -> None:
        self._client.__exit__(None, None, None)
        self._thread.join(5)


@pytest.fixture
def events(path_engine):
    ev = Events(path_engine)
    time.sleep(0.2)  # the stream is open before the test acts
    yield ev
    ev.close()


def _probe_processes(cid: str, command: str) -> list[int]:
    return [p for p in cgroup_pids(f"barque/{cid}") if cmdline(p).strip() == command]


def test_a_passing_probe_makes_it_healthy(path_engine, image, events):
    cid = _create(path_engine, image, "passing", {"test": ["CMD-SHELL", "echo ok; echo err >&2"],
                                          "interval": 200 * MS})
    try:
        assert _status(path_engine, cid) == "starting"
        wait_for(lambda: _status(path_engine, cid) == "healthy", timeout=20, what="healthy")
        health = _health(path_engine, cid)
        assert set(health) == {"Status", "FailingStreak", "Log"} and health["FailingStreak"] == 0
        entry = health["Log"][0]
        assert set(entry) == {"Start", "End", "ExitCode", "Output"}
        # stdout and stderr both land in the output, as Docker's probe buffer takes them;
        # which of two pipes is read first is not ordered (nor is it in Docker)
        assert entry["ExitCode"] == 0 and sorted(entry["Output"].splitlines(keepends=True)) == ["err\n", "ok\n"]
        assert GO_TIME.match(entry["Start"]) and GO_TIME.match(entry["End"])
        wait_for(lambda: "health_status: healthy" in events.actions(cid), timeout=10, what="the event")
        assert events.actions(cid).count("health_status: healthy") == 1
        with path_engine.client("runtime") as rt:
            listed = {c.id: c for c in rt.List(runtime_pb2.ListRequest(), timeout=30).containers}
        state = listed[cid].state.health
        assert state.status == "healthy" and sorted(state.log[0].output.splitlines(keepends=True)) == ["err\n", "ok\n"]
        assert _inspect(path_engine, cid)["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "echo ok; echo err >&2"],
                                                                "Interval": 200 * MS}
    finally:
        path_engine.ok("rm", "-f", cid)


def test_a_failing_probe_turns_unhealthy_with_a_bounded_log(path_engine, image, events):
    script = "head -c 10000 /dev/zero | tr '\\0' x; exit 3"
    cid = _create(path_engine, image, "failing", {"test": ["CMD", "sh", "-c", script], "interval": 200 * MS,
                                          "retries": 2})
    try:
        wait_for(lambda: _status(path_engine, cid) == "unhealthy", timeout=20, what="unhealthy")
        assert _health(path_engine, cid)["FailingStreak"] == 2
        wait_for(lambda: _health(path_engine, cid)["FailingStreak"] >= 7, timeout=20, what="seven failures")
        health = _health(path_engine, cid)
        assert health["Status"] == "unhealthy" and len(health["Log"]) == 5
        for entry in health["Log"]:
            assert entry["ExitCode"] == 3
            assert entry["Output"] == "x" * 4096 + "..."
        assert events.actions(cid).count("health_status: unhealthy") == 1
        assert "health_status: healthy" not in events.actions(cid)
    finally:
        path_engine.ok("rm", "-f", cid)


def test_a_hanging_probe_stalls_nothing(path_engine, image):
    """While a probe hangs, the engine answers lists, inspects, an exec and a
    run: all of them done while the probe still hangs (its timeout, two
    minutes, not reached), so none waited for it. No wall-clock bound."""
    cid = _create(path_engine, image, "hanging", {"test": ["CMD-SHELL", "sleep 300"], "interval": 200 * MS,
                                          "timeout": 120_000 * MS, "retries": 1})
    try:
        wait_for(lambda: _probe_processes(cid, "sleep 300"), timeout=20, what="the probe to hang")
        hung = set(_probe_processes(cid, "sleep 300"))
        for _ in range(3):
            path_engine.ok("ps")
            _health(path_engine, cid)
            assert path_engine.ok("exec", cid, "echo", "meanwhile").stdout == "meanwhile\n"
        assert path_engine.ok("run", "--rm", "--network", "none", image, "echo", "ran", timeout=30).stdout == "ran\n"
        assert _health(path_engine, cid)["Log"] == [], "the RPCs were answered only after the probe timed out"
        assert hung <= set(_probe_processes(cid, "sleep 300")), "the probe ended before its timeout"
    finally:
        path_engine.ok("rm", "-f", cid)


def test_a_hanging_probe_is_killed_at_its_timeout(path_engine, image):
    """At its timeout the probe is killed; its result is -1 with Docker's
    words and the output it wrote before."""
    cid = _create(path_engine, image, "timing", {"test": ["CMD-SHELL", "echo begun; sleep 300"], "interval": 200 * MS,
                                         "timeout": 2000 * MS, "retries": 1})
    try:
        wait_for(lambda: _probe_processes(cid, "sleep 300"), timeout=20, what="the probe to hang")
        hung = set(_probe_processes(cid, "sleep 300"))
        wait_for(lambda: _health(path_engine, cid)["Log"], timeout=30, what="the timed-out result")
        health = _health(path_engine, cid)
        assert health["Status"] == "unhealthy" and health["FailingStreak"] == 1
        assert health["Log"][0]["ExitCode"] == -1
        assert health["Log"][0]["Output"] == "Health check exceeded timeout (2s): begun\n"
        wait_for(lambda: not hung & cgroup_pids(f"barque/{cid}"), timeout=5, what="the hung probe to be killed")
    finally:
        path_engine.ok("rm", "-f", cid)


def test_the_timed_out_probe_leaves_no_process_in_the_container(path_engine, image):
    cid = _create(path_engine, image, "reaped", {"test": ["CMD-SHELL", "sleep 301 & sleep 300"], "interval": 5000 * MS,
                                         "timeout": 500 * MS, "retries": 1})
    try:
        main = set(cgroup_pids(f"barque/{cid}"))
        wait_for(lambda: _probe_processes(cid, "sleep 300"), timeout=20, what="the probe to run")
        wait_for(lambda: _health(path_engine, cid)["Log"], timeout=20, what="the timed-out result")
        assert _health(path_engine, cid)["Log"][0]["Output"] == "Health check exceeded timeout (500ms)"
        wait_for(lambda: cgroup_pids(f"barque/{cid}") == main, timeout=5, what="the probe's processes to go")
    finally:
        path_engine.ok("rm", "-f", cid)


def test_failures_in_the_start_period_do_not_count(path_engine, image):
    cid = _create(path_engine, image, "grace", {"test": ["CMD", "false"], "interval": 200 * MS,
                                        "start_period": 2500 * MS, "retries": 1})
    try:
        wait_for(lambda: len(_health(path_engine, cid)["Log"]) >= 2, timeout=20, what="two failures")
        health = _health(path_engine, cid)
        assert health["Status"] == "starting" and health["FailingStreak"] == 0
        assert all(e["ExitCode"] == 1 for e in health["Log"])
        wait_for(lambda: _status(path_engine, cid) == "unhealthy", timeout=20, what="unhealthy after the period")
    finally:
        path_engine.ok("rm", "-f", cid)


def test_the_images_healthcheck_is_merged_and_none_disables_it(path_engine, checked_image):
    inherited = path_engine.ok("run", "-d", "--network", "none", checked_image, "sleep", "3600").stdout.strip()
    overridden = _create(path_engine, checked_image, "overridden", {"test": ["CMD-SHELL", "echo mine"]})
    disabled = _create(path_engine, checked_image, "disabled", {"test": ["NONE"]})
    try:
        wait_for(lambda: _status(path_engine, inherited) == "healthy", timeout=20, what="the image's check")
        assert _health(path_engine, inherited)["Log"][0]["Output"] == "from-image\n"
        assert _inspect(path_engine, inherited)["Config"]["Healthcheck"] == {
            "Test": ["CMD-SHELL", "echo from-image"], "Interval": 200 * MS, "Retries": 2}
        wait_for(lambda: _status(path_engine, overridden) == "healthy", timeout=20, what="the container's own check")
        assert _health(path_engine, overridden)["Log"][0]["Output"] == "mine\n"
        assert _inspect(path_engine, overridden)["Config"]["Healthcheck"]["Interval"] == 200 * MS
        time.sleep(0.6)
        assert "Health" not in _inspect(path_engine, disabled)["State"]
        assert _inspect(path_engine, disabled)["Config"]["Healthcheck"]["Test"] == ["NONE"]
        with path_engine.client("runtime") as rt:
            listed = {c.id: c for c in rt.List(runtime_pb2.ListRequest(), timeout=30).containers}
        assert not listed[disabled].state.HasField("health")
    finally:
        path_engine.ok("rm", "-f", inherited, overridden, disabled)


@pytest.mark.parametrize("healthcheck, message", [
    ({"test": ["CMD", "true"], "interval": MS // 2}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"test": ["CMD", "true"], "retries": -1}, "Retries in Healthcheck cannot be negative"),
])
def test_bad_values_are_refused_and_nothing_is_created(path_engine, image, healthcheck, message):
    with pytest.raises(InvalidArgument) as err:
        _create(path_engine, image, "refused", healthcheck)
    assert str(err.value) == message
    assert path_engine.ok("ps", "-aq").lines == []


def test_an_exited_container_keeps_its_log_and_reports_unhealthy(path_engine, image):
    cid = _create(path_engine, image, "short", {"test": ["CMD", "true"], "interval": 200 * MS}, cmd=("sleep", "2"))
    try:
        wait_for(lambda: _status(path_engine, cid) == "healthy", timeout=20, what="healthy")
        assert path_engine.ok("wait", cid).stdout == "0\n"
        health = _health(path_engine, cid)
        assert health["Status"] == "unhealthy" and health["Log"]  # Docker's state once stopped
        path_engine.ok("start", cid)
        assert _status(path_engine, cid) == "starting"
        wait_for(lambda: _status(path_engine, cid) == "healthy", timeout=20, what="healthy again after a start")
    finally:
        path_engine.ok("rm", "-f", cid)


def test_a_restart_by_the_policy_starts_the_check_over(path_engine, image, events):
    """Each run under ``--restart`` is checked from ``starting`` again; the
    log goes on across the runs."""
    cid = _create(path_engine, image, "policy", {"test": ["CMD", "true"], "interval": 200 * MS},
                  cmd=("sh", "-c", "sleep 1.5; exit 3"), restart_policy={"name": "on-failure",
                                                                       "maximum_retry_count": 1})
    try:
        wait_for(lambda: _inspect(path_engine, cid)["RestartCount"] == 1, timeout=20, what="the restart")
        wait_for(lambda: events.actions(cid).count("health_status: healthy") == 2, timeout=20,
                 what="healthy again in the second run")
        actions = [a for a in events.actions(cid) if a in ("start", "die") or a.startswith("health_status")]
        assert actions[:4] == ["start", "health_status: healthy", "die", "start"], actions
        assert path_engine.ok("wait", cid).stdout == "3\n"
        assert _status(path_engine, cid) == "unhealthy" and len(_health(path_engine, cid)["Log"]) >= 2
    finally:
        path_engine.ok("rm", "-f", cid)


def test_monitoring_resumes_after_the_runtime_restarts(path_engine, image):
    cid = _create(path_engine, image, "resumed", {"test": ["CMD-SHELL", "echo alive"], "interval": 200 * MS})
    try:
        wait_for(lambda: _status(path_engine, cid) == "healthy", timeout=20, what="healthy")
        path_engine.restart("runtime")
        before = _health(path_engine, cid)
        assert before["Log"], "the results survive the restart"
        wait_for(lambda: _health(path_engine, cid)["Log"][-1] != before["Log"][-1], timeout=20, what="a new probe")
        assert _status(path_engine, cid) == "healthy"
    finally:
        path_engine.ok("rm", "-f", cid)


def test_rm_f_leaves_no_probe_behind(path_engine, image):
    tree = descendants(path_engine.procs["runtime"].pid)
    cid = _create(path_engine, image, "removed", {"test": ["CMD-SHELL", "sleep 302"], "interval": 200 * MS,
                                          "timeout": 60_000 * MS})
    wait_for(lambda: _probe_processes(cid, "sleep 302"), timeout=20, what="the probe to run")
    probe = _probe_processes(cid, "sleep 302")
    stopped = _scheduler_stops(path_engine)
    path_engine.ok("rm", "-f", cid)
    wait_for(lambda: descendants(path_engine.procs["runtime"].pid) <= tree, timeout=15,
             what="the probe's exec processes to end")
    assert not any(cmdline(p).strip() == "sleep 302" for p in probe)
    wait_for(lambda: _scheduler_stops(path_engine) == stopped + 1, timeout=10, what="the scheduler thread to end")
    time.sleep(0.5)  # no monitor probes a removed container
    assert descendants(path_engine.procs["runtime"].pid) <= tree


def _scheduler_stops(path_engine: Engine) -> int:
    """How many times the runtime's health scheduler thread ended (it runs
    only while some container is monitored)."""
    return sum('"health.scheduler_stopped"' in line for line in path_engine.log("runtime").read_text().splitlines())


def test_the_engine_answers_while_probes_run_in_many_containers(path_engine, image):
    """Probes of several containers hang at once; plain RPCs are answered
    meanwhile (each within its deadline, all while every probe still hangs).
    How fast is the benchmarks' question, not this test's."""
    ids = [_create(path_engine, image, f"busy{i}", {"test": ["CMD-SHELL", "sleep 303"], "interval": 100 * MS,
                                             "timeout": 30_000 * MS}) for i in range(4)]
    try:
        wait_for(lambda: all(_probe_processes(c, "sleep 303") for c in ids), timeout=30, what="four hung probes")
        with path_engine.client("runtime") as rt:
            for _ in range(10):
                rt.List(runtime_pb2.ListRequest(), timeout=5)
        assert all(_probe_processes(c, "sleep 303") for c in ids), "a probe ended before the RPCs were answered"
        assert all(_health(path_engine, c)["Log"] == [] for c in ids)
    finally:
        path_engine.ok("rm", "-f", *ids)


def test_grpc_status_of_a_refusal(path_engine, image):
    """A raw gRPC caller gets INVALID_ARGUMENT (the taxonomy's code)."""
    from barque.runtime.v1 import runtime_pb2_grpc

    request = json_format.ParseDict({"config": {"image": image, "healthcheck": {"test": ["CMD", "true"],
                                                                                 "timeout": 5}}},
                                    runtime_pb2.CreateRequest())
    with grpc.insecure_channel(path_engine.address("runtime")) as channel:
        with pytest.raises(grpc.RpcError) as err:
            runtime_pb2_grpc.RuntimeStub(channel).Create(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "Timeout in Healthcheck cannot be less than 1ms"
