"""Fixtures of the integration tier: barque's services as real processes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.integration.engine import Engine



@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """registry-proxy + image-store on temp sockets, shared by a test module."""
    eng = Engine.create()
    yield eng
    procs = list(eng.procs.values())
    eng.close()
    assert all(p.poll() is not None for p in procs), "a service outlived its fixture"


@pytest.fixture
def fresh_engine() -> Iterator[Engine]:
    """A private engine with empty state, for tests that restart or count."""
    eng = Engine.create()
    yield eng
    eng.close()


@pytest.fixture(scope="session", autouse=True)
def no_leaks():
    """After the integration tier: no barque mount, cgroup, network device,
    namespace, process or engine dir remains. Processes that were already
    running when the tier began (session registries) are not counted."""
    from tests.integration.leaks import _children, leaks, snapshot_host

    before = snapshot_host()
    running = _children(os.getpid())
    yield
    left = leaks(before, running)
    assert not left, f"the integration tier leaked: {left}"
