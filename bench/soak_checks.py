"""What barque must hold after a soak: no container listed, nothing of the
engine's leaked on the host, snapshots exactly what its images need, and each
service's RSS and descriptors flat.

The host-wide part is tests/support/leaks.py's: :func:`leaks` of a
:func:`snapshot_host` taken after the warm-up (so the engine's bridge, its
firewall chains and the runtime's warm helper are already there). Other
engines and other test runs may share the host meanwhile, so what it finds is
kept only where it names this engine: its root (mounts, processes, command
servers), its bridge's firewall chains (``BQ-<bridge>``), or a container the
soak created (cgroups ``barque/<id>``, veths ``bq<id[:10]>…``, netns), or an
exec dir whose process is the soak's ``echo``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from bench.soak_loop import Sampler, count_fds
from bench.soak_stats import chain_ids, fd_verdict, rss_verdict, quarter_means
from tests.support import host
from tests.support.leaks import leaks, snapshot_host

__all__ = ["Baseline", "baseline", "scoped_leaks", "snapshot_check", "service_facts", "barque_checks"]


class Baseline:
    """The host as it was before the timed run: leaks.py's snapshot and the
    processes already running under this one."""

    def __init__(self) -> None:
        self.host = snapshot_host()
        self.running = host.descendants(os.getpid())


def baseline() -> Baseline:
    return Baseline()


def _exec_dir_is_ours(path: str) -> bool:
    try:
        return "soak-exec-" in (Path(path) / "process.json").read_text()
    except OSError:
        return False


def _zygote_pid(engine) -> int:
    """The runtime's warm helper now (it may have been replaced during the run:
    a new one is no leak, a shim forked from it, with its command line, is)."""
    try:
        return int((engine.engine.state("runtime") / "zygote" / "zygote.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def scoped_leaks(before: Baseline, engine, created: list[str]) -> dict[str, list[str]]:
    """leaks.py's findings since ``before`` that belong to ``engine`` or to a
    container of ``created``; the live command server and warm helper of the
    engine are no leak."""
    root = str(engine.engine.root)
    live = engine.server.server_pid() if engine.server is not None else 0
    zygote = _zygote_pid(engine)
    marks = [root, f"BQ-{engine.engine.bridge}", *(cid[:12] for cid in created),
             *(f"bq{cid[:10]}" for cid in created)]
    found = leaks(before.host, before.running | {live})
    out: dict[str, list[str]] = {}
    for kind, items in found.items():
        if kind == "tmpdirs":
            mine = [p for p in items if p.startswith(root) or ("barque-exec-" in p and _exec_dir_is_ours(p))]
        elif kind in ("command servers", "processes"):
            mine = [p for p in items if root in p and not p.startswith((f"{live}:", f"{zygote}:"))]
        else:
            mine = [item for item in items if any(mark in item for mark in marks)]
        if mine:
            out[kind] = sorted(mine)
    return out


def snapshot_check(engine) -> dict:
    """The image-store's committed snapshots against the chains of the images it
    keeps (``images -a``; the build cache's images among them), and its active
    snapshots (a container's writable layer) against no container."""
    ids = engine.cli_run("images", "-aq").split()
    needed: set[str] = set()
    if ids:
        for record in json.loads(engine.cli_run("image", "inspect", *sorted(set(ids)))):
            needed.update(chain_ids(record.get("RootFS", {}).get("Layers") or []))
    root = engine.engine.state("images") / "snapshots"
    committed = {f"sha256:{p.name}" for p in (root / "snapshots").iterdir()} if (root / "snapshots").is_dir() else set()
    active = sorted(p.name for p in (root / "active").iterdir()) if (root / "active").is_dir() else []
    tmp = sorted(p.name for p in (root / "tmp").iterdir()) if (root / "tmp").is_dir() else []
    return {"images": len(set(ids)), "committed": len(committed), "needed": len(needed),
            "unneeded": sorted(committed - needed), "missing": sorted(needed - committed),
            "active": active, "tmp": tmp}


def service_facts(sampler: Sampler, start: float, end: float, settle: float = 3.0) -> dict:
    """Per service: RSS quarters and their verdict, descriptors at the end (the
    fewest seen over ``settle`` seconds after the run: a call's channel closes
    a moment after it answers) against the second quarter's most."""
    final: dict[str, int] = {}
    deadline = time.monotonic() + settle
    while True:
        for name, pid in sampler.pids.items():
            n = count_fds(pid)
            if n is not None:
                final[name] = min(final.get(name, n), n)
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    out = {}
    for name in sampler.pids:
        quarters = quarter_means(sampler.rss[name], start, end)
        out[name] = {"rss": rss_verdict(quarters),
                     "fds": fd_verdict(sampler.fds[name], start, end, final.get(name, -1)),
                     "samples": len(sampler.rss[name])}
    return out


def barque_checks(engine, before: Baseline, created: list[str], sampler: Sampler, start: float,
                  end: float) -> dict:
    """Everything :mod:`bench.soak` asserts of barque after its run."""
    facts = service_facts(sampler, start, end)
    listed = engine.cli_run("ps", "-aq").split()
    return {"services": facts, "containers_left": listed, "leaks": scoped_leaks(before, engine, created),
            "snapshots": snapshot_check(engine)}
