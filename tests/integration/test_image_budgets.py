"""Decompression bombs against configured caps: a pull or a load over a layer's
byte or entry cap, or over an image's byte or entry budget (an import over a
layer's), fails with one line naming the cap and keeps nothing (blobs, snapshots, records, ingest and
staging as before); an image under every cap is pulled and loaded.

The engine runs with small caps from the environment (``[images]``'s
``BARQUE_MAX_*`` overrides): a layer 1 MiB and 100 entries, an image 3 MiB and
150 entries, so each bomb is a few KiB gzipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.archives import docker_archive, oci_archive, store_state
from tests.support.engine import Engine
from tests.support.images import push_image
from tests.support.layers import build_tar, dir_entry, file_entry

pytestmark = [pytest.mark.integration, pytest.mark.root]

MIB = 1 << 20
CAPS = {"BARQUE_MAX_LAYER_BYTES": "1m", "BARQUE_MAX_LAYER_ENTRIES": "100",
        "BARQUE_MAX_IMAGE_BYTES": "3m", "BARQUE_MAX_IMAGE_ENTRIES": "150"}


@pytest.fixture(scope="module")
def capped() -> Iterator[Engine]:
    eng = Engine.create(("registry", "images"), **CAPS)
    try:
        yield eng
    finally:
        eng.close()


def _zeros(i: int, size: int) -> bytes:
    return build_tar([dir_entry(f"d{i}/"), file_entry(f"d{i}/zeros", bytes(size))])


def _files(i: int, count: int) -> bytes:
    return build_tar([file_entry(f"f{i}-{n}", b"") for n in range(count)])


#: name -> (layers, the error's words)
BOMBS = {
    "layer-bytes": ([_zeros(0, 4 * MIB)], r"layer exceeds the uncompressed size cap of 1048576 bytes"),
    "layer-entries": ([_files(0, 200)], r"layer exceeds the cap of 100 entries"),
    "image-bytes": ([_zeros(i, 900 * 1024) for i in range(4)],
                    r"image .*: its layers exceed the 3145728-byte image budget"),
    "image-entries": ([_files(i, 90) for i in range(2)], r"image .*: its layers exceed the image budget of 150 entries"),
}


def _refused(res, words: str) -> None:
    assert res.returncode != 0, res.stdout
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1, res.stderr
    assert re.search(words, err), err


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_pull_over_a_cap(capped: Engine, registry, bomb: str) -> None:
    layers, words = BOMBS[bomb]
    img = push_image(registry, "bomb/" + bomb, "latest", layers)
    before = store_state(capped)
    _refused(capped.cli("pull", img.ref), words)
    assert store_state(capped) == before


@pytest.mark.parametrize("form", ["docker", "oci"])
@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_load_over_a_cap(capped: Engine, tmp_path: Path, bomb: str, form: str) -> None:
    layers, words = BOMBS[bomb]
    archive = tmp_path / "bomb.tar"
    build = docker_archive if form == "docker" else oci_archive
    archive.write_bytes(build({f"bomb/{bomb}:1": layers}, gzipped=True))  # a few KiB each
    before = store_state(capped)
    _refused(capped.cli("load", "-i", str(archive)), words)
    assert store_state(capped) == before


@pytest.mark.parametrize("form", ["docker", "oci"])
def test_load_of_a_plain_member_over_the_layer_cap(capped: Engine, tmp_path: Path, form: str) -> None:
    """A plain layer over the cap is refused while the archive is spooled, before any unpack."""
    archive = tmp_path / "big.tar"
    archive.write_bytes((docker_archive if form == "docker" else oci_archive)({"bomb/plain:1": [_zeros(0, 2 * MIB)]}))
    before = store_state(capped)
    _refused(capped.cli("load", "-i", str(archive)), r"archive member .* bytes, over the 1048576-byte cap")
    assert store_state(capped) == before


@pytest.mark.parametrize("bomb", ["layer-bytes", "layer-entries"])
def test_import_over_a_cap(capped: Engine, tmp_path: Path, bomb: str) -> None:
    """An import is one layer: its caps and the image's both bound it."""
    (layer,), words = BOMBS[bomb]
    tar = tmp_path / "bomb.tar"
    tar.write_bytes(layer)
    before = store_state(capped)
    _refused(capped.cli("import", str(tar), "bomb/imported:1"), words)
    assert store_state(capped) == before


def test_an_image_under_every_cap_is_kept(capped: Engine, registry, tmp_path: Path) -> None:
    layers = [_zeros(0, 900 * 1024), _zeros(1, 900 * 1024), _files(2, 90)]  # 1.8 MiB, 95 entries in all
    img = push_image(registry, "bomb/under", "latest", layers)
    capped.ok("pull", img.ref)
    archive = tmp_path / "under.tar"
    archive.write_bytes(docker_archive({"bomb/under:loaded": layers}))
    capped.ok("load", "-i", str(archive))
    capped.ok("rmi", img.ref, "bomb/under:loaded")
