"""Fixtures and helpers shared by the runtime's integration tests
(``test_run_*.py``): registry-proxy, image-store and runtime as real
processes, containers run through the real ``barque`` CLI.

Import the fixtures a module uses explicitly::

    from tests.integration.runtime_fixtures import busybox, rt_engine  # noqa: F401

Contract of ``rt_engine`` teardown: every container is force-removed, the
engine must then list none, no cgroup of a removed container may remain, and
the services must have exited. ``hand_built_image`` pushes images made of the
busybox layers plus an image config a test chooses (Entrypoint, StopSignal...).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.engine import CliResult, Engine
from tests.support.images import PushedImage, layout_config, layout_layers, push_image
from tests.support.registry import Registry

__all__ = [
    "RUNTIME_SERVICES",
    "CGROUP_ROOT",
    "rt_engine",
    "busybox",
    "hand_built_image",
    "start_runtime_engine",
    "close_runtime_engine",
    "remove_all",
    "sh",
    "status_field",
    "container_cgroups",
    "host_status_field",
    "wait_for",
]

RUNTIME_SERVICES = ("registry", "images", "runtime")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def start_runtime_engine() -> Engine:
    return Engine.create(RUNTIME_SERVICES)


def container_cgroups(container_id: str) -> list[Path]:
    """Every cgroup dir of ``container_id`` under a ``barque`` subtree (v1 or v2)."""
    found = [p / "barque" / container_id for p in CGROUP_ROOT.iterdir() if (p / "barque" / container_id).is_dir()]
    if (CGROUP_ROOT / "barque" / container_id).is_dir():
        found.append(CGROUP_ROOT / "barque" / container_id)
    return found


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


@pytest.fixture(scope="module")
def rt_engine() -> Iterator[Engine]:
    """registry-proxy + image-store + runtime on temp sockets, shared by a module."""
    eng = start_runtime_engine()
    try:
        yield eng
    finally:
        close_runtime_engine(eng)


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


def sh(engine: Engine, image: str, script: str, *flags: str, timeout: float = 120) -> CliResult:
    """``barque run --rm FLAGS IMAGE sh -c SCRIPT``; the result, whatever its status."""
    return engine.cli("run", "--rm", *flags, image, "sh", "-c", script, timeout=timeout)


def status_field(text: str, name: str) -> str:
    """A field of /proc/<pid>/status text (``CapEff``, ``NoNewPrivs``...)."""
    m = re.search(rf"^{re.escape(name)}:\s*(\S+)", text, re.M)
    assert m, f"no {name} in status text {text!r}"
    return m.group(1)


def host_status_field(name: str) -> str:
    """The same field for the test process itself (the host's view)."""
    return status_field(Path(f"/proc/{os.getpid()}/status").read_text(), name)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
