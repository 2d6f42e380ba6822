"""Helpers of the runtime's integration tests: an engine with all three
services, running a shell in a container through the real CLI, removing
every container with the checks that go with it, and waiting with a deadline.

The fixtures built on these (``rt_engine``, ``busybox``, ``hand_built_image``)
are in ``tests/integration/conftest.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.support.engine import CliResult, Engine
from tests.support.host import container_cgroups

__all__ = [
    "RUNTIME_SERVICES",
    "start_runtime_engine",
    "close_runtime_engine",
    "remove_all",
    "sh",
    "wait_for",
]

RUNTIME_SERVICES = ("registry", "images", "runtime")


def start_runtime_engine(**env: str) -> Engine:
    """registry-proxy, image-store and runtime on temp sockets, ``env`` added to theirs."""
    return Engine.create(RUNTIME_SERVICES, **env)


def remove_all(engine: Engine) -> list[str]:
    """Force-remove every container of ``engine``; returns their full ids.

    Asserts the engine lists none afterwards and that their cgroups are gone.
    """
    ids = engine.ok("ps", "-aq", "--no-trunc").lines
    for cid in ids:
        engine.ok("rm", "-f", cid)
    assert engine.ok("ps", "-aq").lines == [], "containers left after rm -f"
    for cid in ids:
        assert container_cgroups(cid) == [], f"cgroups of removed container {cid} remain"
    return ids


def close_runtime_engine(engine: Engine) -> None:
    """Remove every container, stop the services, check they exited."""
    procs = list(engine.procs.values())
    try:
        if "runtime" in engine.procs:
            remove_all(engine)
    finally:
        engine.close()
    assert all(p.poll() is not None for p in procs), "a service outlived its engine"


def sh(engine: Engine, image: str, script: str, *flags: str, timeout: float = 120) -> CliResult:
    """``barque run --rm FLAGS IMAGE sh -c SCRIPT``; the result, whatever its status."""
    return engine.cli("run", "--rm", *flags, image, "sh", "-c", script, timeout=timeout)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
