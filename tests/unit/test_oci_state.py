"""barque-oci's state store: state.json written atomically, removed with what a crash left."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from services.runtime.oci.state import ContainerState, StateStore


def test_save_load_and_remove_with_a_leftover_temp_file(tmp_path: Path):
    store = StateStore(str(tmp_path))
    directory = Path(store.reserve("c1"))
    store.save(ContainerState(id="c1", bundle="/b", rootfs="/b/rootfs", pid=7))
    assert json.loads((directory / "state.json").read_text())["pid"] == 7
    assert stat.S_IMODE((directory / "state.json").stat().st_mode) == 0o600
    assert store.load("c1").pid == 7
    (directory / ".state.json.0123456789ab.tmp").write_text("{")  # a crash mid-write
    store.remove("c1")
    assert not directory.exists()
    assert os.listdir(tmp_path) == []
