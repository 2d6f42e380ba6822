"""A pull racing ``image prune -a``: the pull keeps its blobs and layers.

busybox is pulled first, unused; then ``test/big`` (busybox's layers plus
a 40 MiB one) is pulled through the fault-injecting forwarder of
tests/registry, which sends the big layer slowly and holds its last bytes
back until the racing prunes have stopped. Meanwhile ``image prune -a -f``
runs again and again: the first one removes busybox, whose base layer the
pull reuses, and each one meets the pull's half-written ingest and its
snapshots in the making. The pull's lease (services/images/leases.py)
keeps all of it: the pull completes, the image runs and its big file is
whole, and every blob in the store hashes to its name.
"""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from tests.registry.forwarder import Forwarder

pytestmark = [pytest.mark.integration, pytest.mark.root]

CHUNKS = 24
CHUNK_PAUSE = 0.12
HELD_BACK = 1 << 16


@pytest.fixture
def front(registry):
    fwd = Forwarder(registry.host)
    yield fwd
    fwd.stop()


def test_pull_racing_prune_keeps_its_content(fresh_rt_engine, front, test_images) -> None:
    eng = fresh_rt_engine
    busybox, big = test_images["oci-gzip"], test_images["big"]
    eng.ok("pull", busybox.ref)
    big_layer = big.layer_digests[-1]
    streaming, prunes_stopped = threading.Event(), threading.Event()

    def slow_big_layer(h) -> bool:
        if h.command != "GET" or not h.path.endswith(f"/blobs/{big_layer}"):
            return False
        status, headers, data = front.forward(h, b"")
        h.send_response(status)
        for key, value in headers:
            if key.lower() not in ("connection", "transfer-encoding", "content-length", "date", "server"):
                h.send_header(key, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        head, tail = data[:-HELD_BACK], data[-HELD_BACK:]
        step = len(head) // CHUNKS + 1
        streaming.set()
        for i in range(0, len(head), step):
            h.wfile.write(head[i:i + step])
            h.wfile.flush()
            time.sleep(CHUNK_PAUSE)
        prunes_stopped.wait(60)  # the pull cannot finish before the last prune has
        h.wfile.write(tail)
        return True

    front.fault = slow_big_layer
    ref = f"{front.host}/test/big:latest"
    result: dict = {}
    puller = threading.Thread(target=lambda: result.update(res=eng.cli("pull", ref, timeout=120)))
    puller.start()
    assert streaming.wait(60), "the pull never asked for the big layer"
    outputs = []
    deadline = time.monotonic() + CHUNKS * CHUNK_PAUSE
    while time.monotonic() < deadline or not outputs:
        outputs.append(eng.ok("image", "prune", "-a", "-f").stdout)
    prunes_stopped.set()
    puller.join(120)
    res = result["res"]
    assert res.returncode == 0, res.stderr
    assert len(outputs) >= 2, outputs
    assert f"untagged: {busybox.ref}" in outputs[0].splitlines(), outputs[0]  # it did remove the busybox image

    run = eng.ok("run", "--rm", ref, "sh", "-c", "wc -c < /big/random; ls /bin/busybox")
    assert run.lines == [str(40 << 20), "/bin/busybox"], run.stdout
    blobs = eng.state("images") / "content" / "blobs" / "sha256"
    # the big layer's blob is kept; busybox's layer came from the snapshot busybox left (no download)
    assert (blobs / big_layer.removeprefix("sha256:")).is_file()
    for p in blobs.iterdir():
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        assert h.hexdigest() == p.name, f"blob {p.name} is corrupt"
    out = eng.ok("image", "prune", "-a", "-f").stdout  # once the pull is done, its image is an unused one
    assert f"untagged: {ref}" in out.splitlines() and big.config_digest in out
