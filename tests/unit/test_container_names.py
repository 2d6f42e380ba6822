"""Generated container names: the store draws a free one under its lock, so
concurrent creates without --name never clash (a 20-start CI run drew the same
name twice when the draw happened outside the lock)."""

from __future__ import annotations

import threading
from pathlib import Path

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HostConfig
from services.runtime.engine import containers
from services.runtime.engine.containers import ContainerRecord, ContainerStore


def _record(i: int, name: str = "") -> ContainerRecord:
    return ContainerRecord(id=f"{i:064x}", name=name, created="", image_id="sha256:" + "0" * 64,
                           config=ContainerConfig(), host_config=HostConfig())


def test_a_record_without_a_name_gets_a_free_one(tmp_path: Path, monkeypatch) -> None:
    store = ContainerStore(tmp_path)
    store.reserve(_record(1, "happy_kepler"))
    draws = iter(["happy_kepler", "happy_kepler", "calm_turing"])
    monkeypatch.setattr(containers, "generate_name", lambda: next(draws))
    second = _record(2)
    store.reserve(second)
    assert second.name == "happy_kepler" + second.name[-1] and second.name[-1].isdigit()
    third = _record(3)
    store.reserve(third)
    assert third.name == "calm_turing"


def test_concurrent_reserves_get_distinct_names(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(containers, "generate_name", lambda: "same_name")
    store = ContainerStore(tmp_path)
    records = [_record(i) for i in range(1, 21)]
    threads = [threading.Thread(target=store.reserve, args=(r,)) for r in records]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = [r.name for r in records]
    assert len(set(names)) == len(names), names
