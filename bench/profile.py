"""Where barque's pull time goes.

Two views:

* :class:`SpyRecorder`: ``py-spy record`` attached to the running services
  during one extra (untimed) cold pull; :func:`summarise` turns its raw
  collapsed stacks into per-phase shares and the top functions by own time.
  py-spy is a profiling tool only (``.venv/bin/pip install py-spy``), never a
  barque dependency; without it this view is skipped.
* :func:`warm_proxy_pull`: one pull into a cold image-store (empty state)
  while the registry-proxy already caches every blob, driven through the
  client library. The registry's download is out of the picture; what is
  left is the proxy-to-store stream over gRPC, decode, verify and unpack, as
  the real services do them. Per layer, the seconds at which the stream was
  verified (``extracting``) and the snapshot unpacked (``done``).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from barque.images.v1 import images_pb2
from bench.images import BenchImage
from tests.support.engine import Engine

__all__ = ["SpyRecorder", "Profile", "py_spy", "summarise", "warm_proxy_pull", "pull_phases"]

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


def _pull(engine: Engine, ref: str) -> list[tuple[float, str, str]]:
    """Pull ``ref`` through the client library; (seconds since the call, layer
    digest, status name) of every progress event that names a layer."""
    events = []
    start = time.monotonic()
    with engine.client("images") as images:
        for event in images.Pull(images_pb2.PullRequest(reference=ref)):
            if event.id:
                status = images_pb2.PullStatus.Name(event.status).removeprefix("PULL_STATUS_").lower()
                events.append((time.monotonic() - start, event.id, status))
    return events


def pull_phases(events: list[tuple[float, str, str]]) -> dict[str, dict[str, float]]:
    """Per layer digest, the first time each status was reported (seconds, 3 decimals)."""
    phases: dict[str, dict[str, float]] = {}
    for t, digest, status in events:
        phases.setdefault(digest, {}).setdefault(status, round(t, 3))
    return phases


def _blobs_downloaded(engine: Engine) -> int:
    """How many blobs the registry-proxy has fetched from the registry (its log's ``registry.blob_cached``)."""
    log = engine.log("registry")
    return log.read_text().count('"registry.blob_cached"') if log.exists() else 0


def warm_proxy_pull(image: BenchImage, ref: str) -> dict:
    """Seconds of one pull into an empty image-store from a registry-proxy
    that already holds every blob, and when each layer was verified and unpacked.

    A fresh registry-proxy and image-store are started; a first pull fills the
    proxy's cache. The image-store is then stopped, its state removed and
    started again, and the second pull is timed. ``registry_downloads`` counts
    the blobs the proxy fetched from the registry during it: 0 when the view
    holds.
    """
    engine = Engine.create()
    try:
        _pull(engine, ref)
        engine.stop_service("images")
        shutil.rmtree(engine.state("images"))
        engine.start("images")
        downloaded_before = _blobs_downloaded(engine)
        start = time.monotonic()
        events = _pull(engine, ref)
        elapsed = time.monotonic() - start
        phases = pull_phases(events)
        names = {layer["digest"]: layer for layer in image.info["layers"]}
        layers = [{"name": names.get(digest, {}).get("name", digest[7:19]),
                   "files": names.get(digest, {}).get("files"),
                   "verified_s": seen.get("extracting"), "unpacked_s": seen.get("done")}
                  for digest, seen in phases.items()]
        return {"pull_s": round(elapsed, 3), "registry_downloads": _blobs_downloaded(engine) - downloaded_before,
                "layers": layers}
    finally:
        engine.close()
