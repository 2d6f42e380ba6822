"""The figures of ``make bench-run`` beside the start latency, each timed in
rounds that alternate the engines, so that drift hits every engine alike and
round ``i`` of barque pairs with round ``i`` of each other engine:

* :func:`fixed_cost`: the fixed cost of a CLI command (``ps`` with no
  containers, ``version``, ``images -q``), barque's served by its warm command
  server and, as rows of their own, in-process;
* :func:`exec_latency`: ``exec C true`` into one running container;
* :func:`concurrent_start`: the wall time until ``count`` clients, started
  together, have each started a container;
* :func:`ps_loaded`: ``ps`` with ``count`` containers running.

An engine is duck-typed as bench/run.py's ``Contender``: ``name``, ``env``,
``detached`` (prints the id of a new ``sleep 600`` container), ``remove``
(+ ids) and ``exec`` (+ id + command).
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

from bench.runprofile import median, paired_ratios, ratios, spread

__all__ = ["Probe", "alternate", "summary", "fixed_cost", "exec_latency", "concurrent_start", "ps_loaded"]


class Probe:
    """One timed command line: ``label`` names its row (an engine, or a variant of one)."""

    def __init__(self, label: str, argv: list[str], env: dict[str, str]) -> None:
        self.label, self.argv, self.env = label, argv, env

    def __call__(self) -> float:
        start = time.monotonic()
        _run(self.argv, self.env, self.label)
        return time.monotonic() - start


def _run(cmd: list[str], env: dict[str, str], what: str, timeout: float = 300) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {' '.join(cmd)}: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def alternate(probes: dict[str, Callable[[], float]], runs: int, warmup: int = 2,
              failed: list[dict] | None = None,
              progress: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, list[float]]:
    """Seconds of ``runs`` rounds, each calling every probe once in turn, after
    ``warmup`` untimed rounds; ``progress`` gets each round's number (0 and less
    for warm-ups) and seconds.

    A probe that fails raises, unless ``failed`` is given: then the failure goes
    there (round, row, error), the whole round is dropped, so the rounds left
    still pair, and one more round is run in its place; more failed rounds than
    half of ``runs`` raise the last failure."""
    times: dict[str, list[float]] = {label: [] for label in probes}
    timed = dropped = i = 0
    while timed < runs:
        this_round: dict[str, float] = {}
        for label, probe in probes.items():
            try:
                this_round[label] = probe()
            except RuntimeError as exc:
                if failed is None:
                    raise
                failed.append({"round": i - warmup + 1, "row": label, "error": str(exc)[-500:]})
                dropped += i >= warmup
                if dropped > runs // 2:
                    raise
                this_round = {}
                break
        if i >= warmup and this_round:
            for label, seconds in this_round.items():
                times[label].append(round(seconds, 4))
            timed += 1
        if progress is not None:
            progress(i - warmup + 1, this_round)
        i += 1
    return times


def summary(times: dict[str, list[float]], base: str = "barque", failed: list[dict] | None = None) -> dict:
    """Per row the runs, median and spread; ``ratios`` of the medians and
    ``paired_ratios`` (the median of the per-round ratios) of ``base`` against
    every other row; ``failed_calls``, the calls whose rounds were dropped."""
    return {"engines": {label: {"runs_s": values, "median_s": median(values), **spread(values)}
                        for label, values in times.items()},
            "ratios": ratios({label: median(values) for label, values in times.items()}, base),
            "paired_ratios": paired_ratios(times, base), "failed_calls": failed or []}


def fixed_cost(commands: dict[str, list[Probe]], runs: int) -> dict:
    """Per command (``ps``, ``version``, ``images -q``) its probes alternated,
    all commands' probes in one rotation."""
    failed: list[dict] = []
    times = alternate({f"{command}: {p.label}": p for command, group in commands.items() for p in group}, runs,
                      failed=failed)
    return {command: summary({p.label: times[f"{command}: {p.label}"] for p in group},
                             failed=[f for f in failed if f["row"].startswith(f"{command}: ")])
            for command, group in commands.items()}


def _start(c, what: str) -> str:
    return _run(c.detached, c.env, f"{c.name} {what}").strip().splitlines()[-1]


def _start_many(c, count: int, parallel: int, ids: list[str]) -> None:
    """Start ``count`` containers, ``parallel`` clients at once, their ids into
    ``ids`` (also those of the starts that succeeded when one failed, which is
    then raised), so the caller can remove every one."""
    errors = []
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        for future in [pool.submit(_start, c, "run -d") for _ in range(count)]:
            try:
                ids.append(future.result())
            except RuntimeError as exc:
                errors.append(exc)
    if errors:
        raise errors[0]


def _remove(c, ids: list[str], chunk: int = 50) -> None:
    for i in range(0, len(ids), chunk):
        subprocess.run([*c.remove, *ids[i:i + chunk]], capture_output=True, env={**os.environ, **c.env},
                       timeout=600, stdin=subprocess.DEVNULL)


def exec_latency(contenders: list, runs: int = 20) -> dict:
    """``exec <ctr> true`` into one running ``sleep 600`` container per engine, alternated."""
    started: list[tuple[Any, str]] = []
    try:
        for c in contenders:
            started.append((c, _start(c, "run -d")))
        failed: list[dict] = []
        times = alternate({c.name: Probe(c.name, [*c.exec, cid, "true"], c.env) for c, cid in started}, runs,
                          failed=failed)
        return summary(times, failed=failed)
    finally:
        for c, cid in started:
            _remove(c, [cid])


def concurrent_start(contenders: list, count: int = 20, rounds: int = 5) -> dict:
    """Wall time until ``count`` clients, started together, have each started a
    container (``run -d ... sleep 600``); the containers are removed untimed
    after each round."""

    def probe(c) -> Callable[[], float]:
        def once() -> float:
            ids: list[str] = []
            start = time.monotonic()
            try:
                _start_many(c, count, count, ids)
                return time.monotonic() - start
            finally:
                _remove(c, ids)
        return once

    failed: list[dict] = []
    times = alternate({c.name: probe(c) for c in contenders}, rounds, warmup=1, failed=failed)
    return {"containers": count, **summary(times, failed=failed)}


def ps_loaded(contenders: list, ps: dict[str, list[str]], count: int = 100, runs: int = 20,
              parallel: int = 8) -> dict:
    """``ps`` of each engine while every engine has ``count`` containers running
    ``sleep 600`` (started ``parallel`` at a time, untimed), alternated; the
    rows each ``ps`` listed are checked against ``count``."""
    started: dict[str, list[str]] = {}
    try:
        for c in contenders:
            _start_many(c, count, parallel, started.setdefault(c.name, []))
        listed = {c.name: len(_run(ps[c.name], c.env, f"{c.name} ps").splitlines()) - 1 for c in contenders}
        failed: list[dict] = []
        times = alternate({c.name: Probe(c.name, ps[c.name], c.env) for c in contenders}, runs, failed=failed)
        return {"containers": count, "listed": listed, **summary(times, failed=failed)}
    finally:
        for c in contenders:
            _remove(c, started.get(c.name, []))
