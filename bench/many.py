"""Issue 4's figures for ``make bench-run``: ``exec`` latency into a running
container, and the wall time to start 20 containers concurrently from 20
separate clients, for every engine that can (barque, docker, podman)."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import time
from statistics import median

__all__ = ["exec_latency", "concurrent_start"]


def _run(cmd: list[str], env: dict[str, str], what: str, timeout: float = 300) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return proc.stdout


def exec_latency(c, runs: int = 20) -> dict:
    """Median wall time of ``exec <ctr> true`` into one running ``sleep 600`` container."""
    cid = _run(c.detached, c.env, f"{c.name} run -d").strip().splitlines()[-1]
    try:
        times = []
        for _ in range(2 + runs):
            start = time.perf_counter()
            _run([*c.exec, cid, "true"], c.env, f"{c.name} exec")
            times.append(time.perf_counter() - start)
        times = times[2:]
        return {"runs_s": [round(t, 4) for t in times], "median_s": round(median(times), 4)}
    finally:
        subprocess.run([*c.remove, cid], capture_output=True, env={**os.environ, **c.env}, timeout=300)


def concurrent_start(c, count: int = 20, rounds: int = 3) -> dict:
    """Wall time until ``count`` clients, started together, have each started a container."""
    walls = []
    for _ in range(rounds):
        ids: list[str] = []
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            outs = list(pool.map(lambda _: _run(c.detached, c.env, f"{c.name} run -d"), range(count)))
        walls.append(time.perf_counter() - start)
        ids = [o.strip().splitlines()[-1] for o in outs]
        subprocess.run([*c.remove, *ids], capture_output=True, env={**os.environ, **c.env}, timeout=600)
    return {"containers": count, "rounds_s": [round(w, 3) for w in walls], "median_s": round(median(walls), 3)}
