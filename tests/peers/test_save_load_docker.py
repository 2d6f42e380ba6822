"""``barque save`` / ``barque load`` both ways with docker 20.10 (Debian's
docker.io, the session's private dockerd):

1. barque save of two images (the busybox test image and a commit on it, one
   more layer) -> ``docker load`` says "Loaded image: ..." for each, gives the
   same image ids, and ``docker run`` prints what ``barque run`` prints;
2. ``docker save`` of two images (busybox and a ``docker commit`` on it) ->
   ``barque load`` prints docker's lines, gives docker's ids, and ``barque run``
   prints what ``docker run`` prints;
3. barque's archive has the members docker's has (per layer ``VERSION``,
   ``json``, ``layer.tar``; ``<config hex>.json``; ``manifest.json``;
   ``repositories``), and both manifests list the same keys.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dockerd import PrivateDockerd
from tests.support.engine import Engine
from tests.support.runtime import close_runtime_engine, start_runtime_engine

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture(scope="module")
def engine(test_images) -> Iterator[Engine]:
    eng = start_runtime_engine()
    try:
        eng.ok("pull", test_images["oci-gzip"].ref)
        yield eng
    finally:
        close_runtime_engine(eng)


def _shape(archive: Path) -> set[str]:
    """Member names with hex ids replaced, so two engines' archives compare."""
    with tarfile.open(archive) as t:
        return {re.sub(r"[a-f0-9]{64}", "<id>", m.name) for m in t.getmembers() if m.isfile()}


def _manifest(archive: Path) -> list[dict]:
    with tarfile.open(archive) as t:
        return json.loads(t.extractfile("manifest.json").read())


def test_barque_save_docker_load_and_run(engine: Engine, private_docker: PrivateDockerd, test_images,
                                         tmp_path: Path) -> None:
    ref = test_images["oci-gzip"].ref
    cid = engine.ok("run", "-d", ref, "sh", "-c", "echo from-barque > /marker && exec sleep 600").stdout.strip()
    engine.ok("exec", cid, "test", "-s", "/marker")
    engine.ok("commit", cid, "peersave/barque:1")
    engine.ok("rm", "-f", cid)
    engine.ok("tag", ref, "peersave/base:1")
    archive = tmp_path / "barque.tar"
    engine.ok("save", "-o", str(archive), "peersave/base:1", "peersave/barque:1")
    try:
        out = private_docker.cli("load", "-i", str(archive)).splitlines()
        assert out == ["Loaded image: peersave/base:1", "Loaded image: peersave/barque:1"]
        for name in ("peersave/base:1", "peersave/barque:1"):
            assert private_docker.cli("image", "inspect", "-f", "{{.Id}}", name).strip() == \
                engine.ok("image", "inspect", "-f", "{{.Id}}", name).stdout.strip()
        theirs = private_docker.cli("run", "--rm", "--network", "none", "peersave/barque:1", "cat", "/marker")
        ours = engine.ok("run", "--rm", "peersave/barque:1", "cat", "/marker").stdout
        assert theirs == ours == "from-barque\n"
        # the same members as docker's own save of what it loaded
        private_docker.cli("save", "-o", str(tmp_path / "docker.tar"), "peersave/base:1", "peersave/barque:1")
        assert _shape(archive) == _shape(tmp_path / "docker.tar")
        assert [sorted(m) for m in _manifest(archive)] == [sorted(m) for m in _manifest(tmp_path / "docker.tar")]
    finally:
        private_docker.cli_result("rmi", "-f", "peersave/base:1", "peersave/barque:1")
        engine.ok("rmi", "peersave/barque:1", "peersave/base:1")


def test_docker_save_barque_load_and_run(engine: Engine, private_docker: PrivateDockerd, test_images,
                                         tmp_path: Path) -> None:
    ref = test_images["oci-gzip"].ref
    private_docker.pull(ref)
    name = "dockersave-" + tmp_path.name[-8:].lower().replace("_", "-")
    try:
        private_docker.cli("run", "--name", name, "--network", "none", ref, "sh", "-c",
                           "echo from-docker > /marker && mkdir -p /d/e && echo deep > /d/e/f")
        private_docker.cli("commit", name, "peerload/docker:1")
        private_docker.cli("tag", ref, "peerload/base:1")
        archive = tmp_path / "docker.tar"
        private_docker.cli("save", "-o", str(archive), "peerload/base:1", "peerload/docker:1")
        res = engine.ok("load", "-i", str(archive))
        assert res.lines == ["Loaded image: peerload/base:1", "Loaded image: peerload/docker:1"]
        for image in ("peerload/base:1", "peerload/docker:1"):
            assert engine.ok("image", "inspect", "-f", "{{.Id}}", image).stdout.strip() == \
                private_docker.cli("image", "inspect", "-f", "{{.Id}}", image).strip()
        ours = engine.ok("run", "--rm", "peerload/docker:1", "cat", "/marker", "/d/e/f").stdout
        theirs = private_docker.cli("run", "--rm", "--network", "none", "peerload/docker:1", "cat", "/marker",
                                    "/d/e/f")
        assert ours == theirs == "from-docker\ndeep\n"
        # and back: barque's save of what it loaded loads into docker again (same ids)
        engine.ok("save", "-o", str(tmp_path / "again.tar"), "peerload/docker:1")
        private_docker.cli("rmi", "peerload/docker:1")
        assert private_docker.cli("load", "-i", str(tmp_path / "again.tar")).strip() == \
            "Loaded image: peerload/docker:1"
    finally:
        private_docker.cli_result("rm", "-f", name)
        private_docker.cli_result("rmi", "-f", "peerload/base:1", "peerload/docker:1")
        engine.cli("rmi", "peerload/docker:1", "peerload/base:1")
