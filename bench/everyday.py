"""The everyday commands of issue 14 in ``make bench-run``, each timed in rounds
that alternate the engines (bench.many.alternate), so round ``i`` of barque
pairs with round ``i`` of docker and podman:

* ``stats --no-stream`` with ``stats_containers`` containers running
  ``sleep 600`` per engine (the rows printed are checked);
* ``ps`` with ``ps_containers`` running (bench.many.ps_loaded);
* ``cp`` of a ``cp_mib`` MiB file of random bytes into a running container
  and back out of it;
* ``commit`` of a stopped container that wrote ``commit_mib`` MiB of random
  bytes (``dd``) to a new image, each engine with its default ``--pause``
  (the container is stopped, so nothing is paused); each image is removed
  after its round, untimed.

An engine is duck-typed as bench/run.py's ``Contender`` with ``base`` (its
CLI before the command) and ``run_flags`` (what its ``run`` needs here:
``--network none``, the cgroup parent, podman's ulimits).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from bench.many import Probe, _remove, _run, _start_many, alternate, ps_loaded, summary

__all__ = ["everyday", "everyday_targets", "print_everyday"]

#: the issue's target: barque no slower than either peer, as a paired ratio
NO_SLOWER = 1.0
FIGURES = {"stats": "stats --no-stream", "ps": "ps", "cp_in": "cp FILE C:/tmp", "cp_out": "cp C:/tmp/FILE DIR",
           "commit": "commit C IMAGE"}


def _random_file(path: Path, mib: int) -> None:
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))


def _rows(c, argv: list[str]) -> int:
    return len(_run(argv, c.env, f"{c.name} {argv[len(c.base)]}").splitlines()) - 1


def stats_loaded(contenders: list, count: int, runs: int) -> dict:
    started: dict[str, list[str]] = {}
    try:
        for c in contenders:
            _start_many(c, count, 8, started.setdefault(c.name, []))
        argv = {c.name: [*c.base, "stats", "--no-stream"] for c in contenders}
        listed = {c.name: _rows(c, argv[c.name]) for c in contenders}
        failed: list[dict] = []
        times = alternate({c.name: Probe(c.name, argv[c.name], c.env) for c in contenders}, runs, failed=failed)
        return {"containers": count, "listed": listed, **summary(times, failed=failed)}
    finally:
        for c in contenders:
            _remove(c, started.get(c.name, []))


def cp_both_ways(contenders: list, root: Path, mib: int, runs: int) -> dict:
    src = root / "cp-src.bin"
    _random_file(src, mib)
    out = root / "cp-out"
    started: list[tuple] = []
    try:
        for c in contenders:
            started.append((c, _run(c.detached, c.env, f"{c.name} run -d").strip().splitlines()[-1]))
        probes_in = {c.name: Probe(c.name, [*c.base, "cp", str(src), f"{cid}:/tmp/big"], c.env) for c, cid in started}
        for c, cid in started:  # the file is there before the first cp out
            probes_in[c.name]()
        probes_out = {}
        for c, cid in started:
            (out / c.name).mkdir(parents=True, exist_ok=True)
            probes_out[c.name] = Probe(c.name, [*c.base, "cp", f"{cid}:/tmp/big", str(out / c.name / "big")], c.env)
        failed_in: list[dict] = []
        failed_out: list[dict] = []
        times_in = alternate(probes_in, runs, failed=failed_in)
        times_out = alternate(probes_out, runs, failed=failed_out)
        sizes = {c.name: (out / c.name / "big").stat().st_size for c, _ in started}
        return {"mib": mib, "copied_out_bytes": sizes, "in": summary(times_in, failed=failed_in),
                "out": summary(times_out, failed=failed_out)}
    finally:
        for c, cid in started:
            _remove(c, [cid])


def _commit_probe(c, name: str) -> Callable[[], float]:
    rounds = itertools.count()

    def once() -> float:
        image = f"bench-commit/{c.name}:r{next(rounds)}"
        start = time.monotonic()
        _run([*c.base, "commit", name, image], c.env, f"{c.name} commit")
        elapsed = time.monotonic() - start
        subprocess.run([*c.base, "rmi", image], capture_output=True, env={**os.environ, **c.env}, timeout=300,
                       stdin=subprocess.DEVNULL)
        return elapsed

    return once


def commit_written(contenders: list, ref: str, mib: int, runs: int) -> dict:
    names = {c.name: f"bench-commit-{c.name}-{os.getpid()}" for c in contenders}
    made: list = []
    try:
        for c in contenders:
            made.append(c)
            _run([*c.base, "run", "--name", names[c.name], *c.run_flags, ref, "dd", "if=/dev/urandom", "of=/big",
                  "bs=1M", f"count={mib}"], c.env, f"{c.name} run dd")
        failed: list[dict] = []
        times = alternate({c.name: _commit_probe(c, names[c.name]) for c in contenders}, runs, failed=failed)
        return {"mib": mib, **summary(times, failed=failed)}
    finally:
        for c in made:
            _remove(c, [names[c.name]])


def everyday(contenders: list, ref: str, root: Path, runs: int, stage: Callable[[str, str], None],
             attempt: Callable, stats_containers: int = 20, ps_containers: int = 50, cp_mib: int = 100,
             commit_mib: int = 100) -> dict:
    """Every figure of the module, each stage announced by ``stage(key, title)``
    and measured through ``attempt`` (a failed stage is recorded, not fatal)."""
    out: dict = {}
    stage("stats", f"stats --no-stream with {stats_containers} running containers per engine, engines alternating")
    out["stats"] = attempt(lambda: stats_loaded(contenders, stats_containers, runs))
    stage("ps 50", f"ps with {ps_containers} running containers per engine, engines alternating")
    out["ps"] = attempt(lambda: ps_loaded(contenders, {c.name: [*c.base, "ps"] for c in contenders}, ps_containers,
                                          runs=runs))
    stage("cp", f"cp of a {cp_mib} MiB file into a running container and out, engines alternating")
    copied = attempt(lambda: cp_both_ways(contenders, root, cp_mib, runs))
    out["cp_in"], out["cp_out"] = (copied["in"], copied["out"]) if "in" in copied else (copied, copied)
    out["cp_copied_out_bytes"] = copied.get("copied_out_bytes")
    stage("commit", f"commit of a container that wrote {commit_mib} MiB, engines alternating")
    out["commit"] = attempt(lambda: commit_written(contenders, ref, commit_mib, runs))
    return out


def everyday_targets(result: dict) -> list[dict]:
    """Issue 14: each figure no slower than docker's nor podman's (paired ratio <= 1)."""
    found = []
    for key, title in FIGURES.items():
        paired = (result.get(key) or {}).get("paired_ratios") or {}
        for peer in ("docker", "podman"):
            value = paired.get(f"barque/{peer}")
            found.append({"target": f"{title} <= {peer}", "value": value, "limit": NO_SLOWER, "unit": f"x {peer}",
                          "strict": False, "moonshot": False, "met": None if value is None else value <= NO_SLOWER})
    return found


def print_everyday(result: dict | None, print_summary: Callable[[str, dict | None], None]) -> None:
    if not result:
        return
    for key, title in FIGURES.items():
        figure = result.get(key)
        extra = ""
        if figure and figure.get("listed"):
            extra = " (rows listed: " + ", ".join(f"{k} {v}" for k, v in figure["listed"].items()) + ")"
        print_summary(f"everyday: {title}{extra}", figure)
