"""The zygote's rehearsal of a shim (services/runtime/shim/rehearsal.py) and
the shim's setup worker (setupworker.py), each in its own interpreter: both
fork, which the test process must not.

The rehearsal runs a stand-in container through a real Supervisor inside
the calling process, so it must leave that process as it found it: no
descriptor, child, working directory, signal disposition or wakeup fd of
its own, and no scratch dir. The setup worker reports what create and start
returned, or how they failed, and never outlives its shim's call."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

REHEARSAL = textwrap.dedent("""
    import json, os, signal, sys
    from services.runtime.shim.rehearsal import rehearse

    def state():
        return {"fds": sorted(os.listdir("/proc/self/fd")), "cwd": os.getcwd(),
                "signals": [str(signal.getsignal(s)) for s in
                            (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)],
                "children": open(f"/proc/self/task/{os.getpid()}/children").read().split()}

    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as the zygote has it
    before = state()
    ran = rehearse(sys.argv[1], 3)  # the zygote rehearses several times over
    wakeup = signal.set_wakeup_fd(-1)
    print(json.dumps({"ran": ran, "before": before, "after": state(), "wakeup": wakeup,
                      "scratch_left": os.path.exists(sys.argv[1])}))
""")

WORKER = textwrap.dedent("""
    import json, os
    from services.runtime.shim.ocirun import OciFailed
    from services.runtime.shim.setupworker import SetupWorker

    def outcome(create, start):
        worker = SetupWorker(lambda: None, create, start)
        try:
            worker.ready()
            return ["ok", worker.created(), worker.started(), worker.pid]
        except OciFailed as exc:
            return ["failed", exc.exit_code, str(exc), worker.pid]

    def refuse(pid):
        raise OciFailed("no such\\nexecutable", 127)

    results = [outcome(lambda: 4242, lambda pid: f"started {pid}"),
               outcome(lambda: 4242, refuse),
               outcome(lambda: os._exit(3), lambda pid: "never")]
    for result in results:
        try:
            os.kill(result[-1], 0)
            result.append("alive")
        except ProcessLookupError:
            result.append("gone")
    print(json.dumps(results))
""")


def _run(script: str, *args: str) -> object:
    proc = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_rehearsal_runs_and_leaves_the_process_as_it_was(tmp_path):
    scratch = tmp_path / "rehearsal"
    out = _run(REHEARSAL, str(scratch))
    assert out["ran"] is True
    assert out["after"] == out["before"]
    assert out["wakeup"] == -1
    assert out["scratch_left"] is False


def test_setup_worker_reports_steps_and_failures_and_is_reaped():
    ok, refused, died = _run(WORKER)
    assert ok[:3] == ["ok", 4242, "started 4242"]
    assert refused[:3] == ["failed", 127, "no such executable"]
    assert died[:3] == ["failed", 125, "the shim's setup worker ended without a report"]
    assert [r[-1] for r in (ok, refused, died)] == ["gone"] * 3
