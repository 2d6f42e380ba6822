"""``barque push`` through the CLI resumes an upload whose connection drops:
the fault-injecting forwarder of tests/registry sits in front of the real
docker-registry and hangs up in the middle of the first PATCH (part of the
chunk read, no answer); the push still ends with the whole blob in the
registry, and what it pushed pulls back by digest."""

from __future__ import annotations

import json
import threading

import pytest

from tests.registry.forwarder import Forwarder, drop, read_body
from tests.support.images import RegistryClient
from tests.support.registry import Registry

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture
def front(registry: Registry):
    fwd = Forwarder(registry.host)
    yield fwd
    fwd.stop()


def test_dropped_patch_is_resumed(engine, registry, front, test_images):
    big = test_images["big"]
    engine.ok("pull", big.ref)
    target = f"{front.host}/resume/big:v1"
    engine.ok("tag", big.ref, target)
    dropped = threading.Event()

    def fault(h) -> bool:
        if h.command == "PATCH" and not dropped.is_set():
            dropped.set()
            read_body(h, 1 << 20)  # a part of the chunk arrives, then the line goes dead
            drop(h)
            return True
        return False

    front.fault = fault
    res = engine.ok("push", target)
    assert dropped.is_set(), "the upload never sent a PATCH"
    assert res.lines[-1].startswith("v1: digest: sha256:"), res.lines
    digest = res.lines[-1].split()[2]
    body, _ = RegistryClient(registry).get_manifest("resume/big", "v1")
    manifest = json.loads(body)
    biggest = max(manifest["layers"], key=lambda x: x["size"])
    assert biggest["digest"] == big.layer_digests[-1]
    assert RegistryClient(registry).get_blob("resume/big", biggest["digest"])  # verified whole
    patches = [p for p in front.paths("PATCH")]
    assert len(patches) >= 2  # the dropped one, then the resumed ones
    engine.ok("rmi", target)
    engine.ok("pull", f"{front.host}/resume/big@{digest}")
