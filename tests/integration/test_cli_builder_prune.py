"""``barque builder prune`` and ``barque images``' intermediate images, with
the real services: build steps made through the image-store's RPCs (cached
metadata and copy steps, the last one tagged), then the CLI: ``images``
hides the untagged parents, ``images -a`` shows them as <none> rows,
``image inspect`` gives Docker's Parent; ``builder prune`` prompts as docker
(a declined prompt removes nothing), ``-f`` prints the deleted objects and
the reclaimed space and frees the blobs; the tagged image survives;
``--filter until=`` keeps newer entries, BuildKit's other keys and operands
are refused with docker's exit codes."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from barque.images.v1 import images_pb2
from barque.runtime.v1 import runtime_pb2

pytestmark = [pytest.mark.integration, pytest.mark.root]

CREATED = 1_650_000_000_000_000_000


def _step(images, parent: str, key: str, **kw) -> images_pb2.Image:
    return images.Commit(images_pb2.CommitRequest(
        key="", parent=parent, empty_layer=True, created_nanos=CREATED, cache_key=key, **kw), timeout=60).image


def _copy_step(eng, parent: str, key: str, reference: str) -> images_pb2.CommitResponse:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    with eng.client("runtime") as rt, eng.client("images") as images:
        cid = rt.Create(runtime_pb2.CreateRequest(config=runtime_pb2.ContainerConfig(image=parent, cmd=["x"])),
                        timeout=60).id
        try:
            def messages():
                yield runtime_pb2.CopyToRequest(header=runtime_pb2.CopyToHeader(id=cid, path="/srv", make_parents=True))
                yield runtime_pb2.CopyToRequest(data=buf.getvalue())
            rt.CopyTo(messages(), timeout=60)
            return images.Commit(images_pb2.CommitRequest(key=cid, parent=parent, cache_key=key, reference=reference,
                                                          created_by="COPY hello /srv/"), timeout=120)
        finally:
            rt.Delete(runtime_pb2.DeleteRequest(id=cid, force=True), timeout=60)


@pytest.fixture
def built(clean):
    """Three steps: scratch + CMD (cached), + ENV (cached), + COPY tagged built:1."""
    with clean.client("images") as images:
        one = _step(images, "", "k1", config_json=b'{"Cmd":["sh"]}', created_by="#(nop) CMD")
        two = _step(images, one.id, "k2", config_json=b'{"Cmd":["sh"],"Env":["A=1"]}', created_by="#(nop) ENV")
    three = _copy_step(clean, two.id, "k3", "built:1")
    yield clean, one, two, three
    clean.cli("rmi", "built:1")
    clean.cli("builder", "prune", "-f")


def test_images_hides_intermediate_steps_unless_all(built) -> None:
    eng, one, two, three = built
    shown = eng.ok("images", "-q").lines
    assert three.image.id[7:19] in shown and one.id[7:19] not in shown and two.id[7:19] not in shown
    rows = {line.split()[2]: line.split()[:2] for line in eng.ok("images", "-a").lines[1:]}
    assert rows[one.id[7:19]] == ["<none>", "<none>"] and rows[two.id[7:19]] == ["<none>", "<none>"]
    assert rows[three.image.id[7:19]] == ["built", "1"]
    docs = json.loads(eng.ok("image", "inspect", "built:1", two.id).stdout)
    assert docs[0]["Parent"] == two.id and docs[1]["Parent"] == one.id


def test_builder_prune_prompt_force_and_errors(built) -> None:
    eng, one, two, three = built
    blobs = eng.state("images") / "content" / "blobs" / "sha256"
    declined = eng.cli("builder", "prune", input="n\n")
    assert declined.returncode == 0
    assert declined.stdout == ("WARNING! This will remove all dangling build cache. Are you sure you want to "
                               "continue? [y/N] Total reclaimed space: 0B\n")
    assert eng.cli("builder", "prune", "-a", input="\n").stdout.startswith(
        "WARNING! This will remove all build cache. Are you sure you want to continue? [y/N] ")
    assert one.config.digest.removeprefix("sha256:") in os.listdir(blobs)

    assert eng.ok("builder", "prune", "-f", "--filter", "until=24h").stdout == "Total reclaimed space: 0B\n"
    bad = eng.cli("builder", "prune", "-f", "--filter", "parent=x")  # BuildKit's other keys: refused
    assert bad.returncode == 1 and "build cache prune filter 'parent' is not supported" in bad.stderr
    extra = eng.cli("builder", "prune", "operand")
    assert extra.returncode == 1 and '"barque builder prune" accepts no arguments' in extra.stderr

    res = eng.ok("builder", "prune", "-f")
    lines = res.stdout.split("\n")
    assert lines[0] == "Deleted build cache objects:"
    assert set(lines[1:3]) == {one.id, two.id} and lines[3] == ""
    assert lines[4].startswith("Total reclaimed space: ") and lines[4] != "Total reclaimed space: 0B"
    left = set(os.listdir(blobs))
    assert one.config.digest.removeprefix("sha256:") not in left
    assert two.config.digest.removeprefix("sha256:") not in left
    assert three.layer.digest.removeprefix("sha256:") in left  # the tagged image keeps its blobs
    assert eng.ok("images", "-a", "-q").lines == [three.image.id[7:19]]
    assert json.loads(eng.ok("image", "inspect", "built:1").stdout)[0]["Parent"] == ""
    again = eng.ok("builder", "prune", "-f")
    assert again.stdout == "Total reclaimed space: 0B\n"
