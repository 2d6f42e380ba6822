"""Docker's ``ImageInspect`` (``docker image inspect``, Engine API
``GET /images/{name}/json``) built from the image-store's records.

Pure: an :class:`ImageView` in, a dict out. Names are shown as Docker shows
them (familiar: ``busybox:latest``, ``registry:5000/app@sha256:...``); the
image's own values (Config, Author, Comment...) come from its config blob.
"""

from __future__ import annotations

import json
from typing import Any

from client.reference import parse_reference
from services.images.core import ImageView

__all__ = ["image_json"]

_ZERO_TIME = "0001-01-01T00:00:00Z"


def _repo_digest(text: str) -> str:
    name, _, digest = text.partition("@")
    return f"{parse_reference(name).familiar_name}@{digest}"


def _config(view: ImageView) -> dict[str, Any]:
    try:
        config = json.loads(view.config_json or b"{}")
    except ValueError:  # a kept config is verified by digest at pull; never expected
        return {}
    return config if isinstance(config, dict) else {}


def image_json(view: ImageView) -> dict[str, Any]:
    """Docker's ImageInspect of ``view``."""
    r = view.record
    config = _config(view)
    history = config.get("history") or [{}]
    last = history[-1] if isinstance(history, list) and isinstance(history[-1], dict) else {}
    return {
        "Id": r.id,
        "RepoTags": [parse_reference(t).familiar() for t in view.names],
        "RepoDigests": [_repo_digest(d) for d in r.repo_digests],
        # the image it was committed on while that is kept, as moby writes it (always)
        "Parent": view.parent,
        # the comment of the last history entry, as Docker's containerd image store shows it
        "Comment": last.get("comment", ""),
        "Created": r.created,
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": config.get("config") or {},
        "Architecture": r.platform.architecture,
        "Variant": r.platform.variant or None,
        "Os": r.platform.os,
        "Size": r.size,
        "VirtualSize": r.size,
        # layers are snapshots shared by chain id, not one driver directory per image
        "GraphDriver": {"Name": "overlay", "Data": None},
        "RootFS": {"Type": "layers", "Layers": list(r.diff_ids)},
        "Metadata": {"LastTagTime": _ZERO_TIME},
        "Descriptor": {"mediaType": r.target.media_type, "digest": r.target.digest, "size": r.target.size},
    }
