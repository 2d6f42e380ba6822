"""``ps --filter`` with each of moby's keys and ``ps --size`` against a real
engine: containers on a user network with a named volume and labels, one
exited with a known code, one never started, and one that wrote a known
number of bytes into its writable layer.

Every container, network and volume a test makes is removed after it.
"""

from __future__ import annotations

import re

import pytest

from barque.runtime.v1 import runtime_pb2
from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture
def fleet(clean, busybox):
    engine = clean
    engine.ok("network", "create", "psnet")
    try:
        engine.ok("run", "-d", "--name", "f-web", "--label", "tier=front", "--label", "env=prod",
                  "--network", "psnet", "-v", "psvol:/data", "-p", "127.0.0.1::80", "--expose", "9000-9001/udp",
                  busybox, "sleep", "600")
        engine.ok("run", "-d", "--name", "f-exit3", "--label", "tier=back", busybox, "sh", "-c", "exit 3")
        assert engine.ok("wait", "f-exit3").stdout == "3\n"
        engine.ok("create", "--name", "f-new", "-v", "/scratch", busybox, "true")
        yield engine
    finally:
        ids = engine.ok("ps", "-aq").lines
        if ids:
            engine.ok("rm", "-f", "-v", *ids)
        engine.ok("network", "rm", "psnet")


def _names(engine, *filters: str, all_: bool = True) -> list[str]:
    args = ["ps", *(["-a"] if all_ else []), "--format", "{{.Names}}"]
    for f in filters:
        args += ["--filter", f]
    return sorted(engine.ok(*args).lines)


def test_each_filter(fleet, busybox):
    engine = fleet
    web_id = engine.ok("inspect", "--format", "{{.Id}}", "f-web").stdout.strip()
    image_id = engine.ok("image", "inspect", "--format", "{{.Id}}", busybox).stdout.strip()
    net_id = engine.ok("network", "inspect", "--format", "{{.Id}}", "psnet").stdout.strip()

    assert _names(engine, f"ancestor={busybox}") == ["f-exit3", "f-new", "f-web"]
    assert _names(engine, f"ancestor={image_id}") == ["f-exit3", "f-new", "f-web"]
    assert _names(engine, f"ancestor={image_id.removeprefix('sha256:')[:12]}") == ["f-exit3", "f-new", "f-web"]
    assert _names(engine, "ancestor=no-such-image:1") == []
    assert _names(engine, "label=tier") == ["f-exit3", "f-web"]
    assert _names(engine, "label=tier", "label=env=prod") == ["f-web"]
    assert _names(engine, "exited=3") == ["f-exit3"]
    assert _names(engine, "exited=0") == []
    assert _names(engine, "volume=psvol") == ["f-web"]
    assert _names(engine, "volume=/data", "volume=/scratch") == ["f-new", "f-web"]
    assert _names(engine, "network=psnet") == ["f-web"]
    assert _names(engine, f"network={net_id[:10]}") == ["f-web"]
    assert _names(engine, "network=bridge") == ["f-exit3", "f-new"]
    assert _names(engine, "health=none", "status=running") == ["f-web"]
    assert _names(engine, "health=healthy") == []
    # before / since list stopped ones without -a, as a status filter does
    assert _names(engine, "before=f-new", all_=False) == ["f-exit3", "f-web"]
    assert _names(engine, "since=f-web", all_=False) == ["f-exit3", "f-new"]
    assert _names(engine, "since=f-web", "before=f-new", all_=False) == ["f-exit3"]
    assert _names(engine, "status=exited", all_=False) == ["f-exit3"]
    assert _names(engine, f"id={web_id[:8]}") == ["f-web"]
    assert _names(engine, "publish=80") == _names(engine, "publish=70-90/tcp") == ["f-web"]
    assert _names(engine, "expose=9001/udp") == _names(engine, "expose=80") == ["f-web"]
    assert _names(engine, "expose=9001") == []
    assert _names(engine, "name=^f-(web|new)$") == ["f-new", "f-web"]

    for bad, message in [("colour=red", "invalid filter 'colour'"),
                         ("status=up", "Unrecognised filter value for status: up"),
                         ("health=ok", "Unrecognised filter value for health: ok"),
                         ("before=ghost", "No such container: ghost")]:
        res = engine.cli("ps", "--filter", bad)
        assert res.returncode == 125 and message in res.stderr, (bad, res.stderr)


def test_size_counts_the_bytes_written(clean, busybox):
    engine = clean
    engine.ok("run", "-d", "--name", "writer", busybox, "sh", "-c",
              "head -c 12345 /dev/zero > /blob; mkdir -p /d/e; head -c 655 /dev/zero > /d/e/f; sleep 600")
    with engine.client("runtime") as rt:
        def sizes():
            [c] = rt.List(runtime_pb2.ListRequest(filters=["name=writer"], size=True)).containers
            return c.size_rw, c.size_root_fs

        wait_for(lambda: sizes()[0] == 13000, what="the writes to land")
        rw, root_fs = sizes()
        [plain] = rt.List(runtime_pb2.ListRequest(filters=["name=writer"])).containers
        assert (plain.size_rw, plain.size_root_fs) == (0, 0)  # only asked for
    image_size = root_fs - rw
    assert image_size > 1_000_000  # busybox
    assert engine.ok("ps", "--format", "{{.Size}}").stdout == f"13kB (virtual {_human(root_fs)})\n"
    table = engine.ok("ps", "-s").lines
    assert re.search(r"\s{3}SIZE$", table[0])
    assert table[1].endswith(f"   writer   13kB (virtual {_human(root_fs)})")
    # a fresh container's writable layer is empty
    engine.ok("create", "--name", "fresh", busybox, "true")
    assert engine.ok("ps", "-a", "--filter", "name=fresh", "--format", "{{.Size}}").stdout == \
        f"0B (virtual {_human(image_size)})\n"


def _human(n: int) -> str:
    from cli.format import human_size

    return human_size(n)
