"""The runtime's exit watcher (services/runtime/engine/exitwatch.py) against
real processes standing in for shims: one thread waits on every supervisor's
pidfd, each exit is handed to a thread of the caller's naming once the
status is final, and a supervisor that is gone already is followed by its
status file."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from services.runtime.engine.exitwatch import ExitWatcher
from services.runtime.shim.statedir import PID_FILE, STATUS_FILE


def _stand_in(state_dir: Path) -> subprocess.Popen:
    """A process whose command line names ``state_dir`` as a spawned shim's does."""
    state_dir.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "--state-dir", str(state_dir)])
    (state_dir / PID_FILE).write_text(f"{proc.pid}\n")
    return proc


def _exited(state_dir: Path, code: int) -> None:
    (state_dir / STATUS_FILE).write_text(json.dumps({"state": "exited", "pid": 1, "exit_code": code}))


def test_one_thread_waits_for_every_supervisor(tmp_path):
    procs = {name: _stand_in(tmp_path / name) for name in ("a", "b", "c")}
    watcher = ExitWatcher()
    seen: dict[str, str] = {}
    done = {name: threading.Event() for name in procs}

    def on_exit(name: str) -> None:
        seen[name] = threading.current_thread().name
        done[name].set()

    try:
        before = threading.active_count()
        for name in procs:
            watcher.watch(tmp_path / name, 0, lambda name=name: on_exit(name), name=f"watch-{name}")
        assert watcher.watching() == 3
        assert threading.active_count() == before + 1
        _exited(tmp_path / "b", 3)
        procs["b"].kill()
        procs["b"].wait()
        assert done["b"].wait(10)
        assert seen == {"b": "watch-b"}
        assert watcher.watching() == 2
        time.sleep(0.3)
        assert not done["a"].is_set() and not done["c"].is_set()
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
    for name in ("a", "c"):  # killed without a final status: followed, then reported
        assert done[name].wait(10)


def test_a_supervisor_gone_already_is_reported_from_its_status(tmp_path):
    proc = _stand_in(tmp_path / "gone")
    proc.kill()
    proc.wait()
    _exited(tmp_path / "gone", 0)
    watcher = ExitWatcher()
    done = threading.Event()
    watcher.watch(tmp_path / "gone", 0, done.set, name="watch-gone")
    assert watcher.watching() == 0
    assert done.wait(10)
