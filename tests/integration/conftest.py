"""Fixtures of the integration tier: barque's services as real processes.

pytest finds these by name; a test module only asks for them as arguments.

* ``engine`` / ``fresh_engine``: registry-proxy + image-store.
* ``rt_engine``: all three services, shared by a module. Teardown contract:
  every container is force-removed, the engine must then list none, no cgroup
  of a removed container may remain, and the services must have exited.
* ``fresh_rt_engine``: the same, private to one test.
* ``clean``: ``rt_engine``, with every container (and its anonymous volumes)
  and every volume removed after each test.
* ``exec_path`` / ``path_engine``: a module's tests run twice, against an
  engine on the warm exec path (the zygote) and one on the cold path
  (``BARQUE_RUNTIME_WARM=0``), with the busybox test image pulled.
* ``busybox``: the busybox test image, pulled into ``rt_engine``.
* ``hand_built_image``: images made of the busybox layers plus an image config
  a test chooses (Entrypoint, StopSignal...).
* ``no_leaks`` (automatic): nothing of barque's is left on the host after the tier.

Helpers the tests call themselves are in ``tests/support`` (``engine``,
``runtime``, ``host``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import host
from tests.support.engine import Engine
from tests.support.images import PushedImage, layout_config, layout_layers, push_image
from tests.support.leaks import leaks, snapshot_host
from tests.support.registry import Registry
from tests.support.runtime import close_runtime_engine, start_runtime_engine


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


@pytest.fixture(scope="module")
def rt_engine() -> Iterator[Engine]:
    """registry-proxy + image-store + runtime on temp sockets, shared by a module."""
    eng = start_runtime_engine()
    try:
        yield eng
    finally:
        close_runtime_engine(eng)


@pytest.fixture
def fresh_rt_engine() -> Iterator[Engine]:
    """A private engine with no images and no containers."""
    eng = start_runtime_engine()
    try:
        yield eng
    finally:
        close_runtime_engine(eng)


@pytest.fixture
def clean(rt_engine: Engine) -> Iterator[Engine]:
    """``rt_engine``; after each test no container and no volume."""
    yield rt_engine
    ids = rt_engine.ok("ps", "-aq").lines
    if ids:
        rt_engine.ok("rm", "-f", "-v", *ids)
    names = rt_engine.ok("volume", "ls", "-q").lines
    if names:
        rt_engine.ok("volume", "rm", *names)
    assert rt_engine.ok("volume", "ls", "-q").lines == []


@pytest.fixture(scope="module", params=["warm", "cold"])
def exec_path(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def path_engine(exec_path: str, test_images) -> Iterator[Engine]:
    """An engine on ``exec_path``, the busybox test image pulled."""
    engine = start_runtime_engine(BARQUE_RUNTIME_WARM="1" if exec_path == "warm" else "0")
    try:
        engine.ok("pull", test_images["oci-gzip"].ref)
        yield engine
    finally:
        close_runtime_engine(engine)


@pytest.fixture(scope="module")
def busybox(rt_engine: Engine, test_images) -> str:
    """The busybox test image's reference, already pulled into ``rt_engine``."""
    ref = test_images["oci-gzip"].ref
    rt_engine.ok("pull", ref)
    return ref


@pytest.fixture(scope="session")
def hand_built_image(registry: Registry, busybox_oci_layout: Path) -> Callable[..., PushedImage]:
    """``make(tag, config={...}, extra_layers=[...])``: busybox plus changes.

    ``config`` entries replace keys of the image config's ``config`` object
    (Entrypoint, Cmd, Env, WorkingDir, User, StopSignal); ``extra_layers`` are
    uncompressed tars stacked on top. Pushed as ``test/runtime:<tag>``.
    """
    base = {k: v for k, v in layout_config(busybox_oci_layout).items() if k not in ("rootfs", "history")}
    busybox_layers = layout_layers(busybox_oci_layout)
    made: dict[str, PushedImage] = {}

    def make(tag: str, config: dict | None = None, extra_layers: list[bytes] | None = None) -> PushedImage:
        if tag not in made:
            cfg = {**base, "config": {**base.get("config", {}), **(config or {})}}
            made[tag] = push_image(registry, "test/runtime", tag, [*busybox_layers, *(extra_layers or [])],
                                   config=cfg)
        return made[tag]

    return make


@pytest.fixture(scope="session", autouse=True)
def no_leaks():
    """After the integration tier: no barque mount, cgroup, network device,
    namespace, process or engine dir remains. Processes that were already
    running when the tier began (session registries) are not counted."""
    before = snapshot_host()
    running = host.descendants(os.getpid())
    yield
    left = leaks(before, running)
    assert not left, f"the integration tier leaked: {left}"
