"""Hostile layers pulled through the whole path: a clear one-line error, exit
125, the host untouched, and nothing left in the store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import layers
from tests.support.images import push_image

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _tree(path: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(path)): (p.lstat().st_mode, p.lstat().st_size) for p in path.rglob("*")}


def _leftovers(engine) -> list[str]:
    root = engine.state("images")
    found = []
    for sub in ("snapshots/tmp", "content/ingest"):
        d = root / sub
        if d.exists():
            found += [str(p) for p in d.iterdir()]
    return found


@pytest.fixture
def sentinel(tmp_path):
    """A host directory a hostile layer points at; it must stay as it is."""
    d = tmp_path / "host-sentinel"
    d.mkdir()
    (d / "precious").write_text("host data\n")
    return d


CASES = {
    "dotdot": lambda s: [layers.dotdot_layer()],
    "symlink-out-then-write": lambda s: [layers.symlink_escape_layer(str(s))],
    "symlink-out-across-layers": lambda s: list(layers.symlink_escape_two_layers(str(s))),
    "dotdot-symlink": lambda s: [layers.dotdot_symlink_layer()],
    "hardlink-to-host": lambda s: [layers.hardlink_escape_layer()],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_layer(engine, registry, sentinel, case):
    before = _tree(sentinel)
    etc_passwd = Path("/etc/passwd").stat()
    img = push_image(registry, "hostile/" + case, "latest", CASES[case](sentinel))
    before_snapshots = set((engine.state("images") / "snapshots" / "snapshots").glob("*"))
    res = engine.cli("pull", img.ref)
    after = _tree(sentinel)
    assert after == before, f"host directory changed by {case}: {after}"
    assert not (sentinel.parent / "escape").exists()
    assert not (sentinel / "pwned").exists()
    assert Path("/etc/passwd").stat().st_nlink == etc_passwd.st_nlink
    assert _leftovers(engine) == []
    if res.returncode == 0:
        # kept inside the root: the entry landed in the snapshot, nowhere else
        assert case in ("symlink-out-across-layers",), f"{case} was accepted: {res.stdout}"
    else:
        assert res.returncode == 125
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        now = set((engine.state("images") / "snapshots" / "snapshots").glob("*"))
        assert len(now - before_snapshots) < len(img.diff_ids), "a refused image left every snapshot"


def test_absolute_name_stays_inside(engine, registry):
    img = push_image(registry, "hostile/abs", "latest", [layers.abs_layer()])
    res = engine.cli("pull", img.ref)
    assert not Path("/abs-escape").exists()
    if res.returncode == 0:
        fs = engine.state("images") / "snapshots" / "snapshots" / img.diff_ids[0][7:] / "fs"
        assert (fs / "abs-escape").read_text().startswith("escaped")
    else:
        assert res.returncode == 125 and len(res.stderr.strip().splitlines()) == 1
    assert _leftovers(engine) == []
    assert os.path.exists("/etc/passwd")
