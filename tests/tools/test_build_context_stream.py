"""cli.buildcontext's tar stream of a huge sparse file, consumed in a fresh
interpreter: its peak RSS stays bounded while 8 GiB stream through."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys, time
from cli.buildcontext import BuildContext
ctx = BuildContext.from_dir(sys.argv[1])
start = time.monotonic()
total = biggest = 0
head = None
for chunk in ctx.tar_stream(ctx.sources(["huge"])):
    head = head or bytes(chunk[:1024])
    total += len(chunk)
    biggest = max(biggest, len(chunk))
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so it would count the
# forking parent (a large pytest) too; the high-water mark of this mm starts at exec
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"total": total, "biggest": biggest, "seconds": time.monotonic() - start,
                  "rss_kib": hwm,
                  "size_record": b"size=8589934592" in head[:1024], "tar_size": ctx.tar_size()}))
"""


def test_huge_sparse_file_streams_in_bounded_memory(tmp_path: Path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY huge /\n")
    with open(ctx / "huge", "wb") as f:
        f.truncate(8 << 30)
        f.seek(4 << 30)
        f.write(b"middle")  # one data extent between two holes
    out = subprocess.run([sys.executable, "-c", PROBE, str(ctx)], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=600)
    result = json.loads(out.stdout)
    size = 8 << 30
    # a PAX header carrying the size (>= 8 GiB does not fit USTAR), the header, the data, two end blocks
    assert result["total"] == 512 + 512 + 512 + size + 1024
    assert result["size_record"] and result["biggest"] <= 1 << 20
    assert result["rss_kib"] < 100 * 1024, result
    # Docker's CLI would send: the Dockerfile (1024), PAX header, its records and the USTAR header
    # (1536), the data, two end blocks
    assert result["tar_size"] == 1024 + 1536 + size + 1024
    print(result)
