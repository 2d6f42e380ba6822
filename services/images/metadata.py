"""Image records on disk: names, images, the snapshots containers hold and
the build cache's index (cache key -> image id).

One JSON document written atomically (temp file, fsync, rename) under a lock:
a crash leaves either the old or the new state, never a torn one.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from client.imagespec import Descriptor, Platform
from services.common.atomic import write_atomic

__all__ = ["ImageRecord", "MetadataDB"]


@dataclass
class ImageRecord:
    id: str                         # config digest
    target: Descriptor              # what the name resolved to (manifest or index)
    manifest: Descriptor
    config: Descriptor
    layers: list[Descriptor]
    diff_ids: list[str]
    chain_id: str
    created: str
    size: int
    platform: Platform
    repo_digests: list[str] = field(default_factory=list)
    pulled_at: float = 0.0
    extra_blobs: list[str] = field(default_factory=list)  # index digests kept for this image
    diff_sizes: list[int] = field(default_factory=list)   # uncompressed file bytes per layer; 0 unknown
    committed: bool = False  # made by commit: kept untagged until removed by id, as docker's
    parent: str = ""         # image id it was committed on ("" for a pull or a commit on scratch)
    cache_key: str = ""      # build cache key it was committed under ("" for none)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "ImageRecord":
        def desc(x: dict) -> Descriptor:
            plat = x.get("platform")
            return Descriptor(
                media_type=x["media_type"], digest=x["digest"], size=x["size"],
                platform=Platform(**plat) if plat else None,
                annotations=x.get("annotations") or {}, urls=tuple(x.get("urls") or ()),
            )

        return cls(
            id=d["id"], target=desc(d["target"]), manifest=desc(d["manifest"]), config=desc(d["config"]),
            layers=[desc(x) for x in d["layers"]], diff_ids=list(d["diff_ids"]), chain_id=d["chain_id"],
            created=d["created"], size=int(d["size"]), platform=Platform(**d["platform"]),
            repo_digests=list(d.get("repo_digests") or []), pulled_at=float(d.get("pulled_at") or 0),
            extra_blobs=list(d.get("extra_blobs") or []),
            diff_sizes=[int(x) for x in d.get("diff_sizes") or []],
            committed=bool(d.get("committed")),
            parent=str(d.get("parent") or ""), cache_key=str(d.get("cache_key") or ""),
        )


class MetadataDB:
    """names: normalised reference -> image id; name_digests: reference -> digest it was pulled at;
    images: id -> record; holders: snapshot key -> image id; build_cache: cache key -> image id
    (images held by it are never collected)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.lock = threading.RLock()
        self.names: dict[str, str] = {}
        self.name_digests: dict[str, str] = {}
        self.images: dict[str, ImageRecord] = {}
        self.holders: dict[str, str] = {}
        self.build_cache: dict[str, str] = {}
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self._path.read_text())
        except FileNotFoundError:
            return
        self.names = dict(data.get("names") or {})
        self.name_digests = dict(data.get("name_digests") or {})
        self.images = {k: ImageRecord.from_json(v) for k, v in (data.get("images") or {}).items()}
        self.holders = dict(data.get("holders") or {})
        self.build_cache = dict(data.get("build_cache") or {})

    def save(self) -> None:
        """Persist the current state; call with ``lock`` held."""
        data = {
            "names": self.names,
            "name_digests": {k: v for k, v in self.name_digests.items() if k in self.names},
            "images": {k: v.to_json() for k, v in self.images.items()},
            "holders": self.holders,
            "build_cache": self.build_cache,
        }
        write_atomic(self._path, json.dumps(data, indent=1, sort_keys=True).encode())

    def names_of(self, image_id: str) -> list[str]:
        return sorted(n for n, i in self.names.items() if i == image_id)
