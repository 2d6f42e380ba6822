"""Many containers at once: concurrent starts by separate clients (with the
runtime service SIGKILLed and restarted in the middle), and many short-lived
containers in a row leaving nothing behind."""

from __future__ import annotations

import concurrent.futures
import os
import time

import pytest

from tests.support.host import mounts_naming
from tests.support.runtime import close_runtime_engine, start_runtime_engine, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]


def test_twenty_concurrent_starts_survive_a_runtime_kill(test_images):
    engine = start_runtime_engine()
    try:
        busybox = test_images["oci-gzip"].ref
        engine.ok("pull", busybox)
        names = [f"many{i}" for i in range(20)]

        def start(name: str):
            # each container prints a line, then waits for its go file, then exits with its index
            index = names.index(name)
            script = f"echo started {name}; while [ ! -e /tmp/go ]; do sleep 0.1; done; exit {index}"
            return engine.cli("run", "-d", "--name", name, busybox, "sh", "-c", script)

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            futures = [pool.submit(start, n) for n in names]
            # SIGKILL the runtime while the clients are still starting containers
            time.sleep(0.3)
            engine.stop_service("runtime", kill=True)
            engine.start("runtime")
            results = [f.result() for f in futures]
        started = [n for n, r in zip(names, results) if r.returncode == 0]
        failed = [(n, r.stderr.strip()) for n, r in zip(names, results) if r.returncode != 0]
        # a client whose call was cut by the kill gets an engine error; it retries as a user would
        for name, _ in failed:
            engine.cli("rm", "-f", name)
            res = engine.cli("run", "-d", "--name", name, busybox, "sh", "-c",
                             f"echo started {name}; while [ ! -e /tmp/go ]; do sleep 0.1; done; "
                             f"exit {names.index(name)}")
            assert res.returncode == 0, res.stderr
            started.append(name)
        assert sorted(started) == sorted(names)
        listed = set(engine.ok("ps", "--format", "{{.Names}}").lines)
        assert listed == set(names), f"running: {listed}"
        for name in names:
            wait_for(lambda: f"started {name}" in engine.ok("logs", name).stdout, what=f"log of {name}")
        # let every container finish (the go file is written through the
        # container's root as seen from its pid), with the runtime killed again meanwhile
        for name in names:
            pid = int(engine.ok("inspect", "-f", "{{.State.Pid}}", name).stdout.strip())
            with open(f"/proc/{pid}/root/tmp/go", "w"):
                pass
        engine.stop_service("runtime", kill=True)
        engine.start("runtime")
        for name in names:
            code = engine.ok("wait", name).stdout.strip()
            assert code == str(names.index(name)), (name, code)
            assert f"started {name}" in engine.ok("logs", name).stdout
    finally:
        close_runtime_engine(engine)


def test_fifty_run_rm_in_a_row_leave_nothing(rt_engine, busybox):
    state = rt_engine.state("runtime")
    before_mounts = mounts_naming(str(rt_engine.root))
    for i in range(50):
        res = rt_engine.cli("run", "--rm", busybox, "sh", "-c", f"echo {i}")
        assert res.returncode == 0 and res.stdout.strip() == str(i), res.stderr
    assert rt_engine.ok("ps", "-aq").lines == []
    assert [p for p in (state / "containers").iterdir()] == []
    assert not [p for p in (state / "oci").iterdir()] if (state / "oci").exists() else True
    assert mounts_naming(str(rt_engine.root)) == before_mounts
    snapshots = rt_engine.state("images") / "snapshots" / "active"
    assert not snapshots.exists() or list(snapshots.iterdir()) == []
    # no supervisor of a removed container is left
    shims = [p for p in os.listdir("/proc") if p.isdigit() and _is_shim_of(p, state)]
    assert shims == []


def _is_shim_of(pid: str, state) -> bool:
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return cwd.startswith(str(state / "containers"))
