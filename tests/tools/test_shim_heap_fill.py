"""The zygote fills the holes in pymalloc's pools before it freezes
(services/runtime/shim/zygote.py, _fill_pools), so that a forked shim's new
objects land in fresh pools, one after the other, instead of on pages shared
with the zygote. Checked in a fresh interpreter: after the filling, new
objects of a size come at consecutive addresses. Should a CPython upgrade
change how pymalloc lays out its pools, this fails (and the filling stops
early instead of allocating blindly)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent("""
    import gc, json, sys
    from services.runtime.shim import zygote

    gc.collect()  # as the zygote does before it fills
    fillers = zygote._fill_pools()
    gaps = {}
    for length in (20, 60, 100, 200, 400):  # bytes of 53..433 bytes: five size classes
        objs = [None] * 6  # made first: its growth would take blocks in between
        for i in range(6):
            objs[i] = bytes(length)
        size = (sys.getsizeof(objs[0]) + 15) // 16 * 16
        gaps[size] = [id(b) - id(a) for a, b in zip(objs, objs[1:])]
    print(json.dumps({"classes": len({len(f) and sys.getsizeof(f[0]) for f in fillers}),
                      "gaps": gaps}))
""")


def test_after_the_filling_new_objects_of_a_size_come_one_after_the_other():
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["classes"] >= 30  # every size class was filled, none gave up
    for size, gaps in out["gaps"].items():
        assert gaps == [int(size)] * 5, (size, gaps)
