"""Base images for the build tests, made by Debian's own tools and cached per machine.

* ``busybox``: the session's umoci-built busybox (``test_images["docker-gzip"]``
  in tests/conftest.py); nothing is built here for it.
* ``debian:bookworm-gcc``: ``debootstrap --variant=minbase --include=gcc,libc6-dev
  bookworm`` as one gzip layer, with Debian's image config (``Env`` PATH,
  ``Cmd ["bash"]``), pushed as a Docker schema 2 image.

The Debian tree costs minutes (a mirror download and dpkg), so it is built at
most once per machine into ``/var/cache/barque-test/<RECIPE>/`` (``blobs/sha256/
<hex>``, ``manifest.json``, ``info.json`` with the timings). Whoever builds holds
an exclusive ``flock`` on ``<cache>/<RECIPE>.lock``; everyone else waits on the
same lock and then finds the result. A build goes to ``<RECIPE>.partial`` and is
renamed into place only when complete, so an interrupted build never counts as
cached (the next builder removes the partial tree and starts over).

CI runs on a clean machine, so ``.ci/run`` starts ``python -m
tests.support.baseimages --prepare`` in the background before the tests; the
session fixture then waits on the lock and uses what it built (or builds it
itself when nothing did).
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from client.imagespec import MediaType
from tests.support.images import PushedImage, RegistryClient, describe
from tests.support.registry import Registry

__all__ = ["CACHE_DIR", "DEBIAN_GCC", "DEBIAN_PATH", "CachedImage", "HashingWriter", "Recipe", "prepare", "push_cached",
           "push_debian_gcc"]

CACHE_DIR = Path("/var/cache/barque-test")
MIRROR = "http://deb.debian.org/debian"
GZIP_LEVEL = 6
#: Debian's official image's PATH (and docker's default for a config without one)
DEBIAN_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: the runtime mounts these: the image ships them as empty directories, as Debian's does
_EMPTY_DIRS = ("dev", "proc", "sys")
#: apt's downloads and indexes, which Debian's image (debuerreotype) does not ship either
_DROP = ("var/cache/apt/archives/partial", "var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin",
         "var/log/bootstrap.log")


@dataclass(frozen=True)
class Recipe:
    """What a cached base image is made of; ``name`` changes whenever the content would."""

    name: str
    suite: str
    include: tuple[str, ...]
    repo: str  # where push_cached puts it
    tag: str


DEBIAN_GCC = Recipe("debian-bookworm-gcc-v1", "bookworm", ("gcc", "libc6-dev"), "library/debian", "bookworm-gcc")


@dataclass(frozen=True)
class CachedImage:
    """A complete cached image: its blobs, manifest and build facts."""

    root: Path
    manifest: bytes
    info: dict  # {"recipe", "debootstrap_seconds", "layer_seconds", "layer": {"digest", "size", "diff_id", ...}}

    def blob(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / digest.split(":", 1)[1]


class HashingWriter(io.RawIOBase):
    """Counts and hashes what passes through to ``sink``."""

    def __init__(self, sink: BinaryIO) -> None:
        super().__init__()
        self.sink = sink
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self.sha.update(data)
        self.size += len(data)
        self.sink.write(data)
        return len(data)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock on ``path``: held by one builder, waited on by the rest;
    the kernel releases it when the holder dies, so a crashed build blocks no one."""
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _load(target: Path) -> CachedImage | None:
    if not (target / "info.json").is_file():
        return None
    return CachedImage(target, (target / "manifest.json").read_bytes(), json.loads((target / "info.json").read_text()))


def prepare(recipe: Recipe = DEBIAN_GCC, cache: Path = CACHE_DIR, *, log=None) -> CachedImage:
    """The cached image of ``recipe``, built first when absent (minutes, once per machine).

    Needs root and the Debian mirror when it builds. Raises RuntimeError with
    debootstrap's output when the build fails; nothing partial stays cached.
    """
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / recipe.name
    found = _load(target)
    if found is not None:
        return found
    with _locked(cache / f"{recipe.name}.lock"):
        found = _load(target)  # built by whoever held the lock before us
        if found is not None:
            return found
        _build(recipe, cache, target, log or sys.stderr)
    image = _load(target)
    assert image is not None
    return image


def _debootstrap(recipe: Recipe, rootfs: Path, log) -> float:
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed: apt-get install -y debootstrap")
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(recipe.include)}", recipe.suite, str(rootfs),
           MIRROR]
    print(f"baseimages: {' '.join(cmd)}", file=log, flush=True)
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"debootstrap failed ({proc.returncode}): {proc.stderr[-2000:]}{proc.stdout[-2000:]}")
    return time.monotonic() - start


def _fill(tar: tarfile.TarFile, rootfs: Path) -> None:
    """The tree as image builders ship it: numeric owners, hardlinks kept,
    /dev /proc /sys empty, apt's caches and the bootstrap log dropped."""
    def skip(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        name = info.name
        if any(name == d or name.startswith(d + "/") for d in _DROP):
            return None
        if any(name.startswith(d + "/") for d in _EMPTY_DIRS):
            return None
        if name.startswith("var/cache/apt/archives/") and name.endswith(".deb"):
            return None
        if name.startswith("var/lib/apt/lists/") and name != "var/lib/apt/lists/lock" and info.isfile():
            return None
        info.uname = info.gname = ""
        return info

    for child in sorted(os.listdir(rootfs)):
        tar.add(str(rootfs / child), arcname=child, filter=skip)


def _build(recipe: Recipe, cache: Path, target: Path, log) -> None:
    staging = cache / f"{recipe.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    rootfs = staging / "rootfs"
    blobs = staging / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    debootstrap_seconds = _debootstrap(recipe, rootfs, log)

    print(f"baseimages: writing the layer of {recipe.name}", file=log, flush=True)
    start = time.monotonic()
    ingest = blobs / ".ingest"
    with open(ingest, "wb") as raw:
        compressed = HashingWriter(raw)
        with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz:
            plain = HashingWriter(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                _fill(tar, rootfs)
        raw.flush()
        os.fsync(raw.fileno())
    ingest.rename(blobs / compressed.sha.hexdigest())
    layer: dict[str, object] = {"digest": "sha256:" + compressed.sha.hexdigest(), "size": compressed.size,
             "diff_id": "sha256:" + plain.sha.hexdigest(), "tar_bytes": plain.size}
    layer_seconds = time.monotonic() - start
    shutil.rmtree(rootfs)

    created = "2024-01-01T00:00:00Z"
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Env": [DEBIAN_PATH], "Cmd": ["bash"]},
        "rootfs": {"type": "layers", "diff_ids": [layer["diff_id"]]},
        "history": [
            {"created": created, "created_by": f"/bin/sh -c #(nop) ADD file:{recipe.name} in / "},
            {"created": created, "created_by": '/bin/sh -c #(nop)  CMD ["bash"]', "empty_layer": True},
        ],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    (blobs / config_hex).write_bytes(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MediaType.DOCKER_MANIFEST,
        "config": {"mediaType": MediaType.DOCKER_CONFIG, "digest": f"sha256:{config_hex}", "size": len(config_bytes)},
        "layers": [{"mediaType": MediaType.DOCKER_LAYER_GZIP, "digest": layer["digest"], "size": layer["size"]}],
    }
    (staging / "manifest.json").write_bytes(json.dumps(manifest, indent=2).encode())
    info = {"recipe": recipe.name, "debootstrap_seconds": round(debootstrap_seconds, 1),
            "layer_seconds": round(layer_seconds, 1), "layer": layer}
    (staging / "info.json").write_text(json.dumps(info, indent=2))  # last: its presence means complete
    staging.rename(target)
    print(f"baseimages: {recipe.name} ready: debootstrap {debootstrap_seconds:.1f}s, layer {layer_seconds:.1f}s, "
          f"{compressed.size >> 20} MiB gzip", file=log, flush=True)


def push_cached(image: CachedImage, registry: Registry, repo: str, tag: str) -> PushedImage:
    """Upload the cached blobs and manifest to ``registry`` as ``repo:tag``."""
    http = RegistryClient(registry)
    manifest = json.loads(image.manifest)
    for desc in [manifest["config"], *manifest["layers"]]:
        if not http.has_blob(repo, desc["digest"]):
            http.upload_blob(repo, image.blob(desc["digest"]).read_bytes())
    http.put_manifest(repo, tag, image.manifest, MediaType.DOCKER_MANIFEST)
    return describe(registry, repo, tag)


def push_debian_gcc(registry: Registry, cache: Path = CACHE_DIR) -> PushedImage:
    """``<registry>/library/debian:bookworm-gcc``, built or waited for first."""
    return push_cached(prepare(DEBIAN_GCC, cache), registry, DEBIAN_GCC.repo, DEBIAN_GCC.tag)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.baseimages",
                                     description="build the build tests' cached base images")
    parser.add_argument("--prepare", action="store_true", help="build what is not cached yet (waits for a "
                        "build another process runs)")
    parser.add_argument("--cache", type=Path, default=CACHE_DIR)
    args = parser.parse_args(argv)
    if not args.prepare:
        parser.print_usage(sys.stderr)
        return 2
    start = time.monotonic()
    try:
        image = prepare(DEBIAN_GCC, args.cache, log=sys.stdout)
    except (RuntimeError, OSError) as exc:
        print(f"baseimages: {exc}", file=sys.stderr)
        return 1
    print(f"baseimages: {image.info['recipe']} at {image.root} ({time.monotonic() - start:.1f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
