"""SIGKILL of a service (registry-proxy, image-store, runtime) at seeded
points of a pull, a run, an exec, a build and a push, then the service
started again. Nothing is lost:

* no blob is corrupt (every blob of the image-store and of the registry
  cache hashes to its name), nothing is left in the ingest dirs or among the
  half-built snapshots, and every committed snapshot is complete: its tree
  equals a clean unpack of its layer (``faults.layer_trees``);
* an interrupted pull, build or push, run again, completes;
* containers run on through a kill of any service, and their exit codes and
  logs are kept; one a kill cut short is either never started or runs to
  its end; ``rm -f`` then leaves no cgroup, mount or active snapshot.

Kill points (tests/support/faults.py): the n-th time the service logs one of
the operation's structlog events (``snapshot_unpacked``,
``registry.blob_cached``, ``registry.push_blob``, ``container.created``,
``image.committed``...) plus up to 50 ms, or a moment into the operation.
The seed is in each test id (``...-seed<N>``); ``BARQUE_FAULT_SEED=<N>``
replays a schedule, ``BARQUE_FAULT_POINTS`` sets the points per operation x
service (1 in ``make test``; ``make faults`` runs 5).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from client.imagespec import sha256_digest
from tests.support import host, layers
from tests.support.engine import Engine
from tests.support.faults import FAULT_SEED, KillAt, KillPoint, kill_points, layer_trees, store_problems
from tests.support.images import PushedImage, RegistryClient, layout_config, layout_layers, push_image
from tests.support.registry import Registry
from tests.support.runtime import close_runtime_engine, start_runtime_engine

pytestmark = [pytest.mark.integration, pytest.mark.root]

POINTS = int(os.environ.get("BARQUE_FAULT_POINTS") or 1)
SERVICES = ("registry", "images", "runtime")

#: the structlog events each service logs during each operation, and how many times at least
EVENTS: dict[tuple[str, str], list[tuple[str, int]]] = {
    ("pull", "registry"): [("registry.request", 3), ("registry.blob_cached", 3)],
    ("pull", "images"): [("snapshot_unpacked", 3)],
    ("run", "images"): [("snapshot.prepared", 1)],
    ("run", "runtime"): [("container.created", 1)],
    ("build", "images"): [("snapshot.prepared", 2), ("image.committed", 2)],
    ("build", "runtime"): [("container.created", 2), ("container.exited", 2)],
    ("push", "registry"): [("registry.push_blob", 2), ("registry.push_blob_received", 2)],
}
#: how far into each operation a point in time may fall, in seconds
SPAN = {"pull": 0.5, "run": 0.8, "exec": 0.5, "build": 3.0, "push": 0.8}
RUN_SCRIPT = "echo start; sleep 1; echo end; exit 7"
#: counts a line every 0.2 s until /stop appears, then exits 5
SENTINEL = "i=0; while [ ! -e /stop ]; do echo $i; i=$((i+1)); sleep 0.2; done; exit 5"


@dataclass
class World:
    eng: Engine
    registry: Registry
    base_tars: list[bytes]
    base_config: dict
    base: PushedImage
    sentinel: str = ""  # a container that runs through every kill of the module
    sentinel_pid: int = 0
    reference: dict[str, str] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=itertools.count)

    def fresh_image(self, rng: random.Random) -> PushedImage:
        """busybox plus two 2 MiB layers nobody pulled yet (the caches are cold)."""
        n = next(self.counter)
        tars = [*self.base_tars, layers.big_layer(2, rng.randrange(1 << 30)),
                layers.big_layer(2, rng.randrange(1 << 30))]
        self.reference.update(layer_trees(tars))
        return push_image(self.registry, f"faults/pull{n}", "v1", tars, config=self.base_config)


@pytest.fixture(scope="module")
def world(registry: Registry, busybox_oci_layout: Path) -> Iterator[World]:
    eng = start_runtime_engine()
    try:
        tars = layout_layers(busybox_oci_layout)
        config = {k: v for k, v in layout_config(busybox_oci_layout).items() if k not in ("rootfs", "history")}
        base = push_image(registry, "faults/base", "v1", tars, config=config)
        w = World(eng, registry, tars, config, base, reference=layer_trees(tars))
        eng.ok("pull", base.ref)
        w.sentinel = eng.ok("run", "-d", base.ref, "sh", "-c", SENTINEL).stdout.strip()
        w.sentinel_pid = _state(eng, w.sentinel)["Pid"]
        yield w
    finally:
        close_runtime_engine(eng)


def _restart(w: World, service: str) -> None:
    """Start the killed service again; the others' channels to it reconnect
    within a second (client/channels.py bounds gRPC's reconnect backoff)."""
    w.eng.start(service)
    if service != "runtime":
        time.sleep(1.1)


def _why(point: KillPoint, landed: bool) -> str:
    return f"kill point {point} ({'landed' if landed else 'after the operation'}), seed {FAULT_SEED}"


def _check_store(w: World, why: str, strict: bool = True) -> None:
    problems = store_problems(w.eng, w.reference, strict=strict)
    assert not problems, f"{why}: {problems}"


def _state(eng: Engine, cid: str) -> dict:
    return json.loads(eng.ok("inspect", "--format", "{{json .State}}", cid).stdout)


def _remove_all_and_check(w: World, why: str) -> None:
    ids = [cid for cid in w.eng.ok("ps", "-aq", "--no-trunc").lines if cid != w.sentinel]
    if ids:
        w.eng.ok("rm", "-f", *ids)
    for cid in ids:
        assert host.container_cgroups(cid) == [], f"{why}: cgroup of {cid[:12]} left"
    mounts = [m for m in host.mounts_under(w.eng.state("runtime") / "containers") if w.sentinel not in m]
    assert mounts == [], f"{why}: a container mount left"
    active = sorted(p.name for p in (w.eng.state("images") / "snapshots" / "active").iterdir())
    assert active == [w.sentinel], f"{why}: active snapshots left: {active}"


def _check_containers(w: World, why: str, script_end: str, code: int) -> None:
    """Each container either never started, or ran (runs) to its end with
    ``code`` and its whole output."""
    for cid in w.eng.ok("ps", "-aq", "--no-trunc").lines:
        if cid == w.sentinel:
            continue
        st = _state(w.eng, cid)
        if st["Status"] == "created" and not st["StartedAt"].startswith("0001"):
            pytest.fail(f"{why}: {cid[:12]} started but reads created: {st}")
        if st["Status"] == "created":
            continue
        assert w.eng.ok("wait", cid, timeout=30).stdout == f"{code}\n", f"{why}: {st}"
        assert w.eng.ok("logs", cid).stdout == script_end, f"{why}: logs of {cid[:12]}"


# ---- the operations --------------------------------------------------------------------------


def _pull(w: World, point: KillPoint, rng: random.Random) -> None:
    img = w.fresh_image(rng)
    with KillAt(w.eng, point) as k:
        w.eng.cli("pull", img.ref, timeout=120)
    _restart(w, point.service)
    why = _why(point, k.landed)
    _check_store(w, why)
    w.eng.ok("pull", img.ref)  # the interrupted pull, again: it completes
    _check_store(w, why)
    assert w.eng.ok("image", "inspect", "--format", "{{.Id}}", img.ref).stdout == f"{img.config_digest}\n", why


def _run(w: World, point: KillPoint, rng: random.Random) -> None:
    with KillAt(w.eng, point) as k:
        w.eng.cli("run", "-d", w.base.ref, "sh", "-c", RUN_SCRIPT, timeout=60)
    _restart(w, point.service)
    why = _why(point, k.landed)
    _check_containers(w, why, "start\nend\n", 7)
    w.eng.ok("run", "--rm", w.base.ref, "true")  # the engine serves
    _remove_all_and_check(w, why)
    _check_store(w, why, strict=False)


def _exec(w: World, point: KillPoint, rng: random.Random) -> None:
    cid = w.eng.ok("run", "-d", w.base.ref, "sh", "-c", "echo start; sleep 1.5; echo end; exit 3").stdout.strip()
    with KillAt(w.eng, point) as k:
        w.eng.cli("exec", cid, "sh", "-c", "echo in; sleep 0.3; echo out", timeout=60)
    _restart(w, point.service)
    why = _why(point, k.landed)
    assert _state(w.eng, cid)["Status"] in ("running", "exited"), why
    _check_containers(w, why, "start\nend\n", 3)
    _remove_all_and_check(w, why)
    left = sorted(p.name for p in (w.eng.state("runtime") / "exec").iterdir())
    assert left == [], f"{why}: exec scratch dirs left: {left}"


def _build(w: World, point: KillPoint, rng: random.Random) -> None:
    n = next(w.counter)
    ctx = w.eng.root / f"build{n}"
    ctx.mkdir()
    (ctx / "file").write_text(f"{n}\n")
    (ctx / "Dockerfile").write_text(f"FROM {w.base.ref}\nRUN echo one {n} > /one\nCOPY file /file\n"
                                     "RUN cat /one /file > /both\n")
    tag = f"faults/built:{n}"
    with KillAt(w.eng, point) as k:
        w.eng.cli("build", "-q", "-t", tag, str(ctx), timeout=120)
    _restart(w, point.service)
    why = _why(point, k.landed)
    _check_store(w, why, strict=False)
    _remove_all_and_check(w, why)  # a build cut short may leave its step container, as docker's
    w.eng.ok("build", "-q", "-t", tag, str(ctx), timeout=120)
    assert w.eng.ok("run", "--rm", tag, "cat", "/both").stdout == f"one {n}\n{n}\n", why
    _check_store(w, why, strict=False)


def _push(w: World, point: KillPoint, rng: random.Random) -> None:
    img = w.fresh_image(rng)
    w.eng.ok("pull", img.ref)
    n = next(w.counter)
    target = f"{w.registry.host}/faults/pushed{n}:v1"
    w.eng.ok("tag", img.ref, target)
    with KillAt(w.eng, point) as k:
        w.eng.cli("push", target, timeout=120)
    _restart(w, point.service)
    why = _why(point, k.landed)
    _check_store(w, why, strict=False)
    w.eng.ok("push", target, timeout=120)  # again: it completes
    http = RegistryClient(w.registry)
    manifest = json.loads(http.get_manifest(f"faults/pushed{n}", "v1")[0])
    assert [d["digest"] for d in manifest["layers"]] == img.layer_digests, why
    for desc in [manifest["config"], *manifest["layers"]]:
        assert sha256_digest(http.get_blob(f"faults/pushed{n}", desc["digest"])) == desc["digest"], why
    _check_store(w, why, strict=False)


OPERATIONS = {"pull": _pull, "run": _run, "exec": _exec, "build": _build, "push": _push}


@pytest.mark.parametrize(("op", "service"), list(itertools.product(OPERATIONS, SERVICES)),
                         ids=[f"{op}-{s}-seed{FAULT_SEED}" for op, s in itertools.product(OPERATIONS, SERVICES)])
def test_sigkill_of_a_service_loses_nothing(world, op, service):
    rng = random.Random(f"{FAULT_SEED}:{op}:{service}:content")
    points = kill_points(FAULT_SEED, f"{op}-{service}", service, EVENTS.get((op, service), []), POINTS, SPAN[op])
    for point in points:
        try:
            OPERATIONS[op](world, point, rng)
        except BaseException:
            for name in SERVICES:  # shown with the failure
                print(f"--- {name}'s log, last lines\n" + "\n".join(world.eng.log(name).read_text().splitlines()[-15:]))
            raise


def test_a_container_ran_through_every_kill(world):
    """The one started first ran on, the same process, through every kill
    above; its log has every line, and its exit is recorded."""
    eng = world.eng
    st = _state(eng, world.sentinel)
    assert st["Running"] and st["Pid"] == world.sentinel_pid, st
    eng.ok("exec", world.sentinel, "touch", "/stop")
    assert eng.ok("wait", world.sentinel, timeout=30).stdout == "5\n"
    lines = eng.ok("logs", world.sentinel).lines
    assert lines == [str(i) for i in range(len(lines))] and len(lines) > 10, lines[-5:]
