"""A container's state as its supervisor knows it, merged into the engine's
record: the shim's status file first, the process itself when the shim is
gone (killed, or the host rebooted under it)."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

from services.runtime.engine.containers import ContainerRecord
from services.runtime.shim import client as shimclient

__all__ = ["utc_now", "refresh", "read_status", "follow_process", "alive"]


def utc_now() -> str:
    """Now in Docker's timestamp form: RFC 3339, microseconds, ``Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def refresh(record: ContainerRecord, shim_dir: Path) -> bool:
    """Merge the supervisor's status (in ``shim_dir``) into ``record``; True
    while the container runs. A supervisor and process both gone without a
    final status leave exit code 255 and an error, as Docker reports a lost
    container."""
    status = read_status(shim_dir)
    if status is None:
        return record.status in ("running", "paused") and alive(record.pid)
    if status.state in ("created", "running"):
        pid = status.pid or record.pid
        if alive(pid) or shimclient.shim_alive(str(shim_dir)):
            # "paused" (engine/pausing.py) is a running container's state the supervisor does not know
            record.status = "paused" if record.status == "paused" else "running"
            record.pid = pid
            record.started_at = status.started_at or record.started_at
            return True
        # supervisor and process both gone without a final status (a host
        # reboot): settled once, so every later look agrees on it
        shimclient.record_lost(str(shim_dir), utc_now(), shimclient.LOST)
        status = read_status(shim_dir)
        if status is None:
            return False
    if record.status != "restarting":  # a restart under its policy is pending (engine/restart.py)
        record.status = "exited"
    record.pid = 0
    record.exit_code = int(status.exit_code or 0)
    record.oom_killed = status.oom_killed
    record.error = status.error
    record.started_at = status.started_at or record.started_at
    record.finished_at = status.finished_at or record.finished_at
    return False


def read_status(shim_dir: Path) -> shimclient.ShimStatus | None:
    """The supervisor's last status file, or None when it wrote none or is gone."""
    try:
        return shimclient.read_status(str(shim_dir))
    except (shimclient.StatusNotFound, shimclient.ShimUnavailable):
        return None


def follow_process(shim_dir: Path, pid_hint: int) -> None:
    """Block until the container's final status is recorded or, with its
    supervisor gone without one (killed), until the process itself is gone."""
    while True:
        status = read_status(shim_dir)
        if status is not None and status.state == "exited":
            return
        pid = status.pid if status is not None and status.pid else pid_hint
        if not alive(pid):
            return
        time.sleep(0.2)


def alive(pid: int) -> bool:
    """``pid`` exists and is no zombie (a container's process, reaped by its supervisor)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
