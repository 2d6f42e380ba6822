"""A container whose supervisor and process are both gone without a final
status (a host reboot, services/runtime/engine/status.py ``refresh``): its
exit is settled once, 255 as dockerd's restore reports a task containerd
lost, written as the final status so every later look agrees; a restart its
policy asked for stays pending. A shim killed while its container runs
(services/runtime/shim/client.py ``supervisor_lost``/``record_lost``) is
recorded exited 137 with "shim died"."""

from __future__ import annotations

import json
from pathlib import Path

from services.runtime.engine.containers import ContainerConfig, ContainerRecord, HostConfig
from services.runtime.engine.status import refresh
from services.runtime.shim import client as shimclient

DEAD_PID = 2**22 + 12345  # above any pid_max: never a live process


def _record(status: str = "running") -> ContainerRecord:
    return ContainerRecord(id="a" * 64, name="n", created="t", image_id="sha256:" + "b" * 64,
                           config=ContainerConfig(), host_config=HostConfig(), status=status, pid=DEAD_PID)


def _shim_dir(tmp_path: Path, state: str) -> Path:
    (tmp_path / "status.json").write_text(json.dumps({"state": state, "pid": DEAD_PID,
                                                      "started_at": "2026-01-01T00:00:00Z"}))
    (tmp_path / "shim.pid").write_text(f"{DEAD_PID}\n")
    return tmp_path


def test_a_lost_container_is_settled_once_as_255(tmp_path):
    shim_dir = _shim_dir(tmp_path, "running")
    record = _record()
    assert refresh(record, shim_dir) is False
    assert (record.status, record.exit_code, record.pid) == ("exited", 255, 0)
    assert record.error == shimclient.LOST[1]
    finished = record.finished_at
    assert json.loads((shim_dir / "status.json").read_text())["state"] == "exited"
    again = _record()
    refresh(again, shim_dir)
    assert (again.exit_code, again.finished_at) == (255, finished)  # the same answer every time


def test_a_pending_policy_restart_survives_the_look(tmp_path):
    record = _record(status="restarting")
    assert refresh(record, _shim_dir(tmp_path, "running")) is False
    assert (record.status, record.exit_code) == ("restarting", 255)


def test_a_dead_shims_status_is_137_shim_died(tmp_path):
    shim_dir = _shim_dir(tmp_path, "running")
    assert shimclient.supervisor_lost(str(shim_dir))
    shimclient.record_lost(str(shim_dir), "2026-01-01T00:00:01Z")
    assert not shimclient.supervisor_lost(str(shim_dir))
    status = shimclient.read_status(str(shim_dir))
    assert (status.state, status.exit_code, status.signal, status.error) == ("exited", 137, "SIGKILL",
                                                                             "shim died: container killed")
    assert status.started_at == "2026-01-01T00:00:00Z" and status.pid == DEAD_PID
