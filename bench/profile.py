"""Where barque's pull time goes.

Two views:

* :class:`SpyRecorder`: ``py-spy record`` attached to the running services
  during one extra (untimed) cold pull; :func:`summarise` turns its raw
  collapsed stacks into per-phase shares and the top functions by own time.
  py-spy is a profiling tool only (``.venv/bin/pip install py-spy``), never a
  barque dependency; without it this view is skipped.
* :func:`unpack_only`: the image-store's own decode and unpack code
  (``open_decompressed``, ``Snapshotter.unpack``) run in-process on the cached
  blobs, with no registry, no gRPC and no download: the floor of the unpack.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.images import BenchImage
from services.common.log import configure_logging
from services.images.compression import GZIP_BACKEND, open_decompressed
from services.images.snapshots import Snapshotter, chain_ids

__all__ = ["SpyRecorder", "Profile", "py_spy", "summarise", "unpack_only"]

_FRAME_RE = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

#: a sample's phase, decided by the first of these functions found in its stack
_PHASES = (
    ("unpack: tar apply (extract.py)", ("apply_layer",)),
    ("unpack: gzip inflate (decoder thread)", ("_decompress",)),
    ("unpack: other", ("unpack", "_pull_layers")),
    ("download: fetch, stream, write blob", ("_download", "_fetch_small", "_fetch_locked", "fetch_blob",
                                             "FetchBlob")),
    ("grpc: stream send/receive", ("send_response", "_stream_response_in_pool", "channel_spin")),
)


def py_spy() -> str | None:
    """The py-spy binary (venv first), or None when it is not installed."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class SpyRecorder:
    """``py-spy record --format raw`` on one PID until :meth:`stop` (SIGINT makes it write)."""

    def __init__(self, binary: str, pid: int, output: Path, rate: int = 200) -> None:
        self.output = output
        self.log = output.with_suffix(".log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [binary, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--threads",
                 "--nonblocking", "--output", str(output)],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            )
        time.sleep(0.5)  # py-spy attaches asynchronously; the pull must not start before it samples

    def stop(self) -> str:
        """Stop recording; returns the raw collapsed stacks ("" if py-spy wrote none)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.output.read_text() if self.output.exists() else ""


@dataclass
class Profile:
    """A summary of one service's samples (py-spy, active threads only)."""

    service: str
    samples: int = 0
    phases: dict[str, float] = field(default_factory=dict)      # phase -> % of samples
    self_time: list[tuple[str, float]] = field(default_factory=list)   # (file:function, %)
    inclusive: list[tuple[str, float]] = field(default_factory=list)   # (file:function, %)


def _frame_key(frame: str) -> tuple[str, str]:
    """(``file:function`` label, bare function name) of one py-spy frame."""
    m = _FRAME_RE.match(frame.strip())
    if not m:
        return frame.strip(), frame.strip()
    path = m.group("file")
    short = "/".join(path.split("/")[-2:]) if path else "?"
    return f"{short}:{m.group('func')}", m.group("func")


def summarise(service: str, raw: str, top: int = 12) -> Profile:
    """Per-phase shares and top functions (own and inclusive time) from py-spy raw output."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    phase_counts: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("thread (", "process "))]
        if not frames:
            continue
        total += count
        keys = [_frame_key(f) for f in frames]
        self_counts[keys[-1][0]] += count
        for label in {k[0] for k in keys}:
            incl_counts[label] += count
        funcs = {part for k in keys for part in k[1].split(".")}  # qualnames: ImageStore._download
        phase = next((name for name, marks in _PHASES if funcs & set(marks)), "other (grpc, threads, idle loops)")
        phase_counts[phase] += count
    if not total:
        return Profile(service)

    def pct(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(100 * v / total, 1)) for k, v in counter.most_common(top)]

    return Profile(service, total, {k: v for k, v in pct(phase_counts)}, pct(self_counts), pct(incl_counts))


def unpack_only(image: BenchImage) -> dict:
    """Decode-only and decode+apply seconds per layer, in this process, from the cached blobs."""
    configure_logging("bench", level="warning")  # the snapshotter's per-layer info lines are noise here
    manifest_layers = image.info["layers"]
    diff_ids = [layer["diff_id"] for layer in manifest_layers]
    chains = chain_ids(diff_ids)
    result: dict = {"gzip_backend": GZIP_BACKEND, "layers": []}
    with tempfile.TemporaryDirectory(prefix="barque-bench-unpack-") as tmp:
        snaps = Snapshotter(Path(tmp) / "snapshots")
        parent = None
        for layer, chain in zip(manifest_layers, chains):
            start = time.perf_counter()
            with open(image.blob(layer["digest"]), "rb") as raw:
                with open_decompressed(raw, "application/vnd.docker.image.rootfs.diff.tar.gzip") as stream:
                    while stream.read(1 << 20):
                        pass
            decode = time.perf_counter() - start
            start = time.perf_counter()
            with open(image.blob(layer["digest"]), "rb") as raw:
                with open_decompressed(raw, "application/vnd.docker.image.rootfs.diff.tar.gzip") as stream:
                    snaps.unpack(chain, parent, layer["diff_id"], stream)
            apply = time.perf_counter() - start
            parent = chain
            result["layers"].append({"name": layer["name"], "files": layer["files"],
                                     "decode_s": round(decode, 3), "decode_and_apply_s": round(apply, 3)})
    result["decode_s"] = round(sum(x["decode_s"] for x in result["layers"]), 3)
    result["decode_and_apply_s"] = round(sum(x["decode_and_apply_s"] for x in result["layers"]), 3)
    return result
