"""``barque commit`` end to end: a container's changes (an added file, a file
deleted by whiteout, a directory made opaque) become a layer of a new image
that ``run`` shows at once; the layer's blob digest and diff id verify from
the store; ``-c`` CMD/ENV take effect; the pause is undone; errors are
docker's and leave nothing behind."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from barque.runtime.v1 import runtime_pb2
from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

# /home holds app/ in the test image: recreating it makes it opaque
CHANGES = ("echo added > /added && rm /bin/rm && rm -rf /home && mkdir /home && echo n > /home/new"
           " && echo done")


def _store(engine) -> Path:
    return engine.state("images")


def _blobs(engine) -> set[str]:
    return set(os.listdir(_store(engine) / "content" / "blobs" / "sha256"))


def _snapshots(engine) -> set[str]:
    return set(os.listdir(_store(engine) / "snapshots" / "snapshots"))


def _image_ids(engine) -> set[str]:
    return set(engine.ok("images", "-a", "-q").lines)


def _inspect(engine, ref: str) -> dict:
    return json.loads(engine.ok("image", "inspect", ref).stdout)[0]


def _finished(engine, script: str) -> str:
    cid = engine.ok("run", "-d", "--name", "src", "busybox-h3", "sh", "-c", script).stdout.strip()
    wait_for(lambda: engine.ok("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "exited",
             what="the source container to exit")
    return cid


@pytest.fixture
def eng(clean, busybox):
    clean.ok("tag", busybox, "busybox-h3")
    yield clean
    for ref in ("committed:1", "committed:cmd", "committed:live"):
        clean.cli("rmi", "-f", ref)


def test_commit_round_trip_and_layer_verifies(eng):
    cid = _finished(eng, CHANGES)
    blobs_before = _blobs(eng)
    res = eng.ok("commit", "-p=false", "-a", "Ann <ann@x>", "-m", "the message", cid, "committed:1")
    image_id = res.stdout.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71 and res.lines == [image_id]
    run = eng.ok("run", "--rm", "committed:1", "sh", "-c",
                 "cat /added; ls /home; test -e /bin/rm && echo rm-present || echo rm-gone")
    assert run.lines == ["added", "new", "rm-gone"]
    # the snapshot made in the blob's pass was published whole: no staged tree is left
    assert os.listdir(_store(eng) / "snapshots" / "tmp") == []

    info = _inspect(eng, "committed:1")
    assert info["Id"] == image_id and info["RepoTags"] == ["committed:1"]
    assert info["Author"] == "Ann <ann@x>" and info["Comment"] == "the message"
    config_blob = _store(eng) / "content" / "blobs" / "sha256" / image_id.removeprefix("sha256:")
    config = json.loads(config_blob.read_bytes())
    assert hashlib.sha256(config_blob.read_bytes()).hexdigest() == image_id.removeprefix("sha256:")
    assert config["container"] == cid
    assert config["history"][-1]["comment"] == "the message"
    assert config["history"][-1]["created_by"] == "sh -c " + CHANGES
    assert config["history"][-1]["author"] == "Ann <ann@x>"

    new = _blobs(eng) - blobs_before
    docs = [(_store(eng) / "content/blobs/sha256" / b).read_bytes() for b in new]
    assert len(docs) == 3  # config, manifest, layer
    [manifest] = [json.loads(d) for d in docs if d.startswith(b'{"schemaVersion"')]
    layer = manifest["layers"][-1]
    blob = (_store(eng) / "content/blobs/sha256" / layer["digest"].removeprefix("sha256:")).read_bytes()
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer["digest"] and len(blob) == layer["size"]
    tar_bytes = gzip.decompress(blob)
    assert "sha256:" + hashlib.sha256(tar_bytes).hexdigest() == config["rootfs"]["diff_ids"][-1]
    listing = subprocess.run(["tar", "-tvf", "-"], input=tar_bytes, capture_output=True, check=True).stdout
    names = [line.split()[-1] for line in listing.decode().splitlines()]
    assert names == sorted(names, key=lambda n: n.rstrip("/").split("/"))
    assert {"added", "bin/.wh.rm", "home/", "home/.wh..wh..opq", "home/new"} <= set(names)
    assert not any(n.startswith(("etc/hosts", "etc/resolv.conf", "proc", "sys", "dev")) for n in names)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tf:
        for member in tf.getmembers():
            assert not any(k.startswith("SCHILY.xattr.trusted.") for k in member.pax_headers), member.name
    top = eng.ok("image", "history", "committed:1").lines[1]
    assert top.startswith(image_id[7:19]) and top.endswith("the message")


def test_change_cmd_and_env_take_effect(eng):
    cid = _finished(eng, "echo hello > /greeting")
    eng.ok("commit", "--pause=false", "-c", 'CMD ["sh", "-c", "cat /greeting; echo $FOO"]',
           "-c", "ENV FOO=bar", "--change", "WORKDIR /tmp", cid, "committed:cmd")
    assert eng.ok("run", "--rm", "committed:cmd").lines == ["hello", "bar"]
    assert eng.ok("run", "--rm", "committed:cmd", "pwd").lines == ["/tmp"]
    config = _inspect(eng, "committed:cmd")["Config"]
    assert config["Cmd"] == ["sh", "-c", "cat /greeting; echo $FOO"] and "FOO=bar" in config["Env"]


def test_commit_running_container_pauses_and_resumes(eng):
    cid = eng.ok("run", "-d", "busybox-h3", "sh", "-c", "echo live > /live; sleep 300").stdout.strip()
    wait_for(lambda: eng.cli("exec", cid, "cat", "/live").stdout.strip() == "live", what="the file")
    t0 = time.time_ns()
    image_id = eng.ok("commit", cid, "committed:live").stdout.strip()
    state = json.loads(eng.ok("inspect", cid).stdout)[0]["State"]
    assert state["Running"] and not state["Paused"], state
    with eng.client("runtime") as runtime:
        events = runtime.Events(runtime_pb2.EventsRequest(since_nanos=t0, until_nanos=time.time_ns(),
                                                          filters=[f"container={cid}"]))
        assert [e.action for e in events] == ["pause", "unpause"]
    assert eng.ok("run", "--rm", image_id, "cat", "/live").lines == ["live"]


def test_commit_errors_are_dockers_and_leave_nothing(eng):
    cid = _finished(eng, "echo x > /x")
    before = (_blobs(eng), _snapshots(eng), _image_ids(eng))
    missing = eng.cli("commit", "nosuch")
    assert missing.returncode == 1 and missing.stderr == "Error response from daemon: No such container: nosuch\n"
    bad_change = eng.cli("commit", "-c", "RUN echo x", cid)
    assert bad_change.returncode == 1
    assert bad_change.stderr == "Error response from daemon: run is not a valid change command\n"
    bad_ref = eng.cli("commit", cid, "UPPER:case")
    assert bad_ref.returncode == 1 and bad_ref.stderr.startswith("Error response from daemon: ")
    usage = eng.cli("commit")
    assert usage.returncode == 125 and "requires at least 1 and at most 2 arguments" in usage.stderr
    assert (_blobs(eng), _snapshots(eng), _image_ids(eng)) == before
    assert os.listdir(_store(eng) / "content" / "ingest") == []
    assert os.listdir(_store(eng) / "snapshots" / "tmp") == []


def _oci_layout(engine, image_id: str, dest: Path, tag: str) -> None:
    """An OCI image layout of a kept image, straight from the store's blobs."""
    blobs = _store(engine) / "content" / "blobs" / "sha256"
    info = _inspect(engine, image_id)
    manifest_digest = info["Descriptor"]["digest"]
    manifest = json.loads((blobs / manifest_digest.removeprefix("sha256:")).read_bytes())
    (dest / "blobs" / "sha256").mkdir(parents=True)
    for digest in [manifest_digest, manifest["config"]["digest"], *(x["digest"] for x in manifest["layers"])]:
        os.link(blobs / digest.removeprefix("sha256:"), dest / "blobs" / "sha256" / digest.removeprefix("sha256:"))
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": manifest["mediaType"], "digest": manifest_digest, "size": info["Descriptor"]["size"],
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}))


def test_skopeo_and_umoci_read_the_committed_image(eng, tmp_path):
    cid = _finished(eng, CHANGES)
    image_id = eng.ok("commit", cid, "committed:1").stdout.strip()
    layout = tmp_path / "layout"
    _oci_layout(eng, image_id, layout, "c1")
    # skopeo verifies every blob's digest as it copies
    subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}:c1", f"dir:{tmp_path / 'copy'}"], check=True)
    raw = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"oci:{layout}:c1"], check=True,
                                    capture_output=True, text=True).stdout)
    assert raw["rootfs"]["diff_ids"] == _inspect(eng, image_id)["RootFS"]["Layers"]
    assert raw["history"][-1]["created_by"] == "sh -c " + CHANGES
    # umoci applies the layers, whiteouts and opaque directory included
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:c1", str(bundle)], check=True, capture_output=True)
    rootfs = bundle / "rootfs"
    assert (rootfs / "added").read_text() == "added\n"
    assert not os.path.lexists(rootfs / "bin" / "rm") and os.path.lexists(rootfs / "bin" / "ls")
    assert os.listdir(rootfs / "home") == ["new"]
