"""Faults for the fault tests (``tests/integration/test_faults_*.py``): a
seeded schedule of service kills, each landing when the service logs a
chosen structlog event; what a store must look like after any crash; a
simulated host reboot; a small filesystem to fill.

Kill points are picked from the events a service logs during an operation
(``snapshot_unpacked``, ``registry.blob_cached``, ``container.created``...):
the n-th time the event is logged, plus a random delay of up to a few tens
of milliseconds, the service is SIGKILLed. Events mark the moments where
state changes hands (a blob committed, a snapshot published, a container
created), and the delay moves the kill into the work that follows. The
schedule comes from one seed: ``BARQUE_FAULT_SEED`` or a fresh one per
session, printed in every test id that uses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import host
from tests.support.engine import Engine, remove_engine_network

__all__ = [
    "FAULT_SEED", "KillPoint", "kill_points", "KillAt", "blob_problems", "tree_digest",
    "snapshot_trees", "layer_trees", "store_problems", "simulate_reboot", "small_fs",
]

#: the seed of every schedule in this session
FAULT_SEED = int(os.environ.get("BARQUE_FAULT_SEED") or random.SystemRandom().randrange(1 << 31))


@dataclass(frozen=True)
class KillPoint:
    """SIGKILL ``service`` ``delay`` seconds after it logged ``event`` the
    ``nth`` time; with no ``event``, ``delay`` seconds into the operation."""

    service: str
    event: str
    nth: int
    delay: float

    def __str__(self) -> str:
        return f"{self.service}@{self.event or 'start'}#{self.nth}+{self.delay * 1000:.0f}ms"


def kill_points(seed: int, key: str, service: str, events: list[tuple[str, int]], count: int,
                span: float, max_delay: float = 0.05) -> list[KillPoint]:
    """``count`` points for ``service``, picked by a generator seeded with
    ``seed`` and ``key`` (one operation x service): each an event of
    ``events`` (name, how many times the operation logs it at least), an
    occurrence and a delay of up to ``max_delay``; or, as often as any one
    event, a moment up to ``span`` seconds into the operation."""
    rng = random.Random(f"{seed}:{key}")
    points = []
    for _ in range(count):
        event, times = rng.choice([*events, ("", 1)])
        delay = rng.uniform(0, max_delay if event else span)
        points.append(KillPoint(service, event, rng.randint(1, times), round(delay, 3)))
    return points


class KillAt:
    """Follow ``point.service``'s log from now on and SIGKILL it at ``point``
    (a thread). Leaving the block kills it anyway when the point never came
    (the operation ended first): ``landed`` tells which."""

    def __init__(self, engine: Engine, point: KillPoint) -> None:
        self.engine, self.point = engine, point
        self.landed = False
        self._log = engine.log(point.service)
        self._offset = self._log.stat().st_size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True, name=f"kill-{point}")

    def __enter__(self) -> "KillAt":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)
        if self.point.service in self.engine.procs:
            self.engine.stop_service(self.point.service, kill=True)

    def _follow(self) -> None:
        if not self.point.event:  # a point in time: ``delay`` after the block began
            if not self._stop.wait(self.point.delay):
                self.landed = True
                self.engine.stop_service(self.point.service, kill=True)
            return
        seen = 0
        with open(self._log, "rb") as f:
            f.seek(self._offset)
            pending = b""
            while not self._stop.is_set():
                chunk = f.read()
                if not chunk:
                    time.sleep(0.002)
                    continue
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    try:
                        event = json.loads(line).get("event")
                    except ValueError:
                        continue
                    if event == self.point.event:
                        seen += 1
                        if seen == self.point.nth:
                            time.sleep(self.point.delay)
                            if not self._stop.is_set():
                                self.landed = True
                                self.engine.stop_service(self.point.service, kill=True)
                            return


def blob_problems(root: Path) -> list[str]:
    """Blobs under ``root/blobs/sha256`` whose bytes do not hash to their name."""
    bad = []
    blobs = root / "blobs" / "sha256"
    for path in sorted(blobs.iterdir()) if blobs.exists() else []:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        if h.hexdigest() != path.name:
            bad.append(f"corrupt blob {path}")
    return bad


def tree_digest(root: Path) -> str:
    """One digest of a file tree: every path's type, mode, owner, size,
    content or link target (what a layer's unpack must reproduce)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted([*dirnames, *filenames]):
            path = Path(dirpath) / name
            st = path.lstat()
            h.update(f"{path.relative_to(root)}\0{st.st_mode:o}\0{st.st_uid}:{st.st_gid}\0".encode())
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    h.update(hashlib.file_digest(f, "sha256").digest())
            elif stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(path).encode())
    return h.hexdigest()


def snapshot_trees(engine: Engine) -> dict[str, str]:
    """Each committed snapshot of the image-store (by chain id hex) and its tree digest."""
    snaps = engine.state("images") / "snapshots" / "snapshots"
    return {p.name: tree_digest(p / "fs") for p in sorted(snaps.iterdir())} if snaps.exists() else {}


def store_problems(engine: Engine, reference: dict[str, str], strict: bool = True) -> list[str]:
    """What a crash must never leave, once the services started again: a
    corrupt blob (image-store or registry cache), a file in either's ingest
    dir or among the half-built snapshots, a committed snapshot whose tree differs
    from a clean unpack's (``reference``: :func:`layer_trees`) or, with
    ``strict``, that no layer of ``reference`` accounts for (a build's
    snapshots are not in it)."""
    images = engine.state("images")
    problems = blob_problems(images / "content") + blob_problems(engine.state("registry"))
    for leftover in (images / "content" / "ingest", images / "snapshots" / "tmp", engine.state("registry") / "ingest"):
        problems += [f"left in {leftover}: {p.name}" for p in sorted(leftover.iterdir())]
    for chain, digest in snapshot_trees(engine).items():
        if chain not in reference:
            if strict:
                problems.append(f"snapshot {chain} is none of the image's")
        elif digest != reference[chain]:
            problems.append(f"snapshot {chain} differs from a clean unpack")
    return problems


def simulate_reboot(engine: Engine) -> None:
    """What a host reboot leaves of ``engine``: its state dir. Every service,
    shim, container process and helper is SIGKILLed, every mount under the
    engine's root is gone, its containers' cgroups, its network namespaces,
    interfaces and firewall chains removed; the run dir (a tmpfs on a real
    host) is emptied."""
    for service in list(engine.procs):
        engine.stop_service(service, kill=True)
    root = str(engine.root)
    containers = [p.name for p in (engine.state("runtime") / "containers").iterdir()]
    for _ in range(3):  # the engine's processes (shims, zygote, helpers) and its containers' (by cgroup)
        pids = set(host.pids_matching(root))
        for cid in containers:
            pids |= host.cgroup_pids(f"barque/{cid}")
        for pid in sorted(pids - {os.getpid()}):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    for path in sorted(host.mounts_under(root), key=len, reverse=True):
        subprocess.run(["umount", "-l", path], capture_output=True)
    for cid in containers:
        for cg in host.cgroup_dirs(f"barque/{cid}"):
            try:
                cg.rmdir()
            except OSError:
                pass
    remove_engine_network(engine.bridge, engine.state("runtime") / "network" / "state.json")
    shutil.rmtree(engine.root / "run", ignore_errors=True)


@contextmanager
def small_fs(size_mb: int, *, kind: str = "ext4") -> Iterator[Path]:
    """A fresh filesystem of ``size_mb`` MiB mounted on a temp dir: ext4 on a
    loop device over a sparse file (``kind="ext4"``), or a tmpfs with
    ``size=``. Unmounted, its loop device detached and the dir removed after."""
    top = Path(tempfile.mkdtemp(prefix="barque-faults-"))
    mnt = top / "mnt"
    mnt.mkdir()
    loop = ""
    try:
        if kind == "tmpfs":
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(mnt)], check=True)
        else:
            image = top / "fs.img"
            with open(image, "wb") as f:
                f.truncate(size_mb << 20)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True, capture_output=True)
            loop = subprocess.run(["losetup", "--find", "--show", str(image)], check=True,
                                  capture_output=True, text=True).stdout.strip()
            subprocess.run(["mount", loop, str(mnt)], check=True)
        yield mnt
    finally:
        for path in sorted(host.mounts_under(mnt), key=len, reverse=True):
            subprocess.run(["umount", "-l", path], capture_output=True)
        subprocess.run(["umount", str(mnt)], capture_output=True)
        if loop:
            subprocess.run(["losetup", "-d", loop], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


def layer_trees(tars: list[bytes]) -> dict[str, str]:
    """What a clean unpack of an image's layers (uncompressed tars, base
    first) gives: each layer's chain id (hex) and the tree digest of the
    layer applied alone, as the snapshotter keeps it."""
    import io
    import tarfile

    from client.imagespec import sha256_digest
    from services.images.snapshots import chain_ids

    trees = {}
    for tar, chain in zip(tars, chain_ids([sha256_digest(t) for t in tars])):
        with tempfile.TemporaryDirectory(prefix="barque-faults-layer-") as tmp:
            with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
                tf.extractall(tmp, filter="fully_trusted")
            trees[chain.removeprefix("sha256:")] = tree_digest(Path(tmp))
    return trees
