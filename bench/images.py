"""The benchmark image: a Debian minbase tree plus three layers on top, built
once with debootstrap and python's tarfile, cached as gzip blobs.

Layers (Docker v2s2 manifest, gzip level 6 like Go's default):

1. ``base``: the ``debootstrap --variant=minbase bookworm`` tree (``dev``,
   ``proc``, ``sys`` kept as empty directories, as image builders leave them);
2. ``copy``: ``usr/lib`` copied to ``/copy/usr-lib`` (thousands of files);
3. ``delete``: whiteouts, both explicit (``usr/share/.wh.doc``, every tenth
   file under ``/copy``) and opaque (``var/cache/apt``, one file re-added);
4. ``random``: a 64 MiB file of random bytes (incompressible).

The cache lives in ``/var/cache/barque-bench/<RECIPE>/`` (``blobs/sha256/<hex>``,
``manifest.json``, ``info.json``); a rerun with the same recipe reuses it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from client.imagespec import MediaType
from tests.support.baseimages import HashingWriter
from tests.support.images import RegistryClient
from tests.support.registry import Registry

__all__ = ["BenchImage", "CACHE_DIR", "RECIPE", "ensure_image", "push_bench_image"]

CACHE_DIR = Path("/var/cache/barque-bench")
#: bump when the layer recipe changes, so stale caches are not reused
RECIPE = "debian-bookworm-4layer-v1"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
RANDOM_SIZE = 64 << 20
GZIP_LEVEL = 6
#: directories whose content an image never ships (the runtime mounts them)
_EMPTY_DIRS = ("dev", "proc", "sys")


@dataclass(frozen=True)
class BenchImage:
    """The cached image: where its blobs are and what it contains."""

    root: Path
    manifest: bytes
    info: dict  # {"layers": [{"name", "digest", "size", "diff_id", "files", "bytes"}], ...}

    def blob(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / digest.split(":", 1)[1]

    @property
    def compressed_size(self) -> int:
        return sum(layer["size"] for layer in self.info["layers"])

    @property
    def files(self) -> int:
        return sum(layer["files"] for layer in self.info["layers"])


def _ensure_rootfs(cache: Path) -> Path:
    """The debootstrap tree, built once (needs root and the Debian mirror)."""
    rootfs = cache / "rootfs"
    if (rootfs / "etc" / "debian_version").is_file():
        return rootfs
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed: apt-get install -y debootstrap")
    partial = cache / "rootfs.partial"
    shutil.rmtree(partial, ignore_errors=True)
    print(f"building the base tree: debootstrap --variant=minbase {SUITE} {partial}", flush=True)
    proc = subprocess.run(
        ["debootstrap", "--variant=minbase", SUITE, str(partial), MIRROR],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"debootstrap failed ({proc.returncode}): {proc.stderr[-2000:]}{proc.stdout[-2000:]}")
    partial.rename(rootfs)
    return rootfs


def _write_layer(blobs: Path, name: str, fill: Callable[[tarfile.TarFile], None]) -> dict:
    """Stream a tar through gzip into the blob dir; returns the layer's descriptor facts."""
    tmp = blobs / f".ingest-{name}"
    with open(tmp, "wb") as raw:
        compressed = HashingWriter(raw)
        with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz:
            plain = HashingWriter(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                fill(tar)
                files = sum(1 for _ in tar.getmembers())
                size = sum(m.size for m in tar.getmembers() if m.isfile())
        raw.flush()
        os.fsync(raw.fileno())
    digest = "sha256:" + compressed.sha.hexdigest()
    tmp.rename(blobs / compressed.sha.hexdigest())
    return {"name": name, "digest": digest, "size": compressed.size, "diff_id": "sha256:" + plain.sha.hexdigest(),
            "files": files, "bytes": size}


def _add_tree(tar: tarfile.TarFile, src: Path, arcname: str, *, recursive: bool = True) -> None:
    """Add ``src`` (recursively and sorted; hardlinks kept, numeric owners from the tree)."""
    tar.add(str(src), arcname=arcname, recursive=recursive)


def _base(rootfs: Path) -> Callable[[tarfile.TarFile], None]:
    def fill(tar: tarfile.TarFile) -> None:
        for child in sorted(os.listdir(rootfs)):
            _add_tree(tar, rootfs / child, child, recursive=child not in _EMPTY_DIRS)
    return fill


def _copy(rootfs: Path) -> Callable[[tarfile.TarFile], None]:
    def fill(tar: tarfile.TarFile) -> None:
        copy = tarfile.TarInfo("copy")
        copy.type, copy.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(copy)
        _add_tree(tar, rootfs / "usr" / "lib", "copy/usr-lib")
    return fill


def _delete(rootfs: Path) -> Callable[[tarfile.TarFile], None]:
    def empty(tar: tarfile.TarFile, name: str, data: bytes = b"", mode: int = 0o644) -> None:
        info = tarfile.TarInfo(name)
        info.mode, info.size = mode, len(data)
        tar.addfile(info, io.BytesIO(data))

    def fill(tar: tarfile.TarFile) -> None:
        for name in ("usr", "usr/share", "var", "var/cache", "var/cache/apt", "copy"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        empty(tar, "usr/share/.wh.doc")
        empty(tar, "var/cache/apt/.wh..wh..opq")
        empty(tar, "var/cache/apt/barque-bench", b"re-added after the opaque whiteout\n")
        lib = rootfs / "usr" / "lib"
        files = sorted(p.relative_to(lib) for p in lib.rglob("*") if p.is_file() and not p.is_symlink())
        for rel in files[::10]:
            parent, leaf = os.path.split(str(rel))
            empty(tar, "/".join(filter(None, ("copy/usr-lib", parent, f".wh.{leaf}"))))
        empty(tar, "etc/motd", b"barque pull benchmark\n")
    return fill


def _random(tar: tarfile.TarFile) -> None:
    for name in ("opt", "opt/bench"):
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
    info = tarfile.TarInfo("opt/bench/random.bin")
    info.mode, info.size = 0o644, RANDOM_SIZE
    tar.addfile(info, io.BytesIO(os.urandom(RANDOM_SIZE)))


def _build(cache: Path, target: Path) -> None:
    rootfs = _ensure_rootfs(cache)
    staging = cache / f"{RECIPE}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    blobs = staging / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layers = []
    for name, fill in (("base", _base(rootfs)), ("copy", _copy(rootfs)), ("delete", _delete(rootfs)),
                       ("random", _random)):
        print(f"building layer {name}", flush=True)
        layers.append(_write_layer(blobs, name, fill))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["bash"]},
        "rootfs": {"type": "layers", "diff_ids": [layer["diff_id"] for layer in layers]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"barque bench: {layer['name']}"}
                    for layer in layers],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    (blobs / config_hex).write_bytes(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MediaType.DOCKER_MANIFEST,
        "config": {"mediaType": MediaType.DOCKER_CONFIG, "digest": f"sha256:{config_hex}", "size": len(config_bytes)},
        "layers": [{"mediaType": MediaType.DOCKER_LAYER_GZIP, "digest": layer["digest"], "size": layer["size"]}
                   for layer in layers],
    }
    (staging / "manifest.json").write_bytes(json.dumps(manifest, indent=2).encode())
    (staging / "info.json").write_text(json.dumps({"recipe": RECIPE, "layers": layers}, indent=2))
    staging.rename(target)


def ensure_image(cache: Path = CACHE_DIR) -> BenchImage:
    """The benchmark image from the cache, built first when absent (minutes, once)."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / RECIPE
    if not (target / "info.json").is_file():
        _build(cache, target)
    return BenchImage(target, (target / "manifest.json").read_bytes(),
                      json.loads((target / "info.json").read_text()))


def push_bench_image(image: BenchImage, registry: Registry, repo: str, tag: str) -> str:
    """Upload the cached blobs and manifest to ``registry``; returns ``host/repo:tag``."""
    http = RegistryClient(registry)
    manifest = json.loads(image.manifest)
    for desc in [manifest["config"], *manifest["layers"]]:
        http.upload_blob(repo, image.blob(desc["digest"]).read_bytes())
    http.put_manifest(repo, tag, image.manifest, MediaType.DOCKER_MANIFEST)
    return f"{registry.host}/{repo}:{tag}"
