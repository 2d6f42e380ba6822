"""OCI / Docker image-format types and helpers shared by the services.

Pure data: descriptors, platforms, media types and digest validation. No I/O.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from client.errors import InvalidArgument

__all__ = [
    "Descriptor",
    "Platform",
    "MediaType",
    "validate_digest",
    "digest_hex",
    "sha256_digest",
    "MANIFEST_TYPES",
    "INDEX_TYPES",
    "LAYER_TYPES",
]


class MediaType:
    OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
    OCI_INDEX = "application/vnd.oci.image.index.v1+json"
    OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
    OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
    OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
    OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
    OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
    DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
    DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
    DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
    DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
    DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"


MANIFEST_TYPES = frozenset({MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST})
INDEX_TYPES = frozenset({MediaType.OCI_INDEX, MediaType.DOCKER_LIST})
LAYER_TYPES = frozenset(
    {
        MediaType.OCI_LAYER,
        MediaType.OCI_LAYER_GZIP,
        MediaType.OCI_LAYER_ZSTD,
        MediaType.OCI_LAYER_NONDIST_GZIP,
        MediaType.DOCKER_LAYER_GZIP,
        MediaType.DOCKER_LAYER_ZSTD,
    }
)

_DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is a well-formed sha256 digest, else raise.

    Only sha256 is accepted: a digest is used as a file name, so it is checked
    here before any filesystem use.
    """
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise InvalidArgument(f"invalid digest {digest!r}")
    return digest


def digest_hex(digest: str) -> str:
    return validate_digest(digest).split(":", 1)[1]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> "Platform":
        """Parse ``os/arch[/variant]`` as ``docker --platform`` takes it."""
        parts = text.strip().split("/") if text else []
        if not 2 <= len(parts) <= 3 or not all(parts):
            raise InvalidArgument(f"invalid platform {text!r}: want os/arch[/variant]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: dict) -> "Descriptor":
        try:
            plat = obj.get("platform")
            platform = (
                Platform(plat.get("os", ""), plat.get("architecture", ""), plat.get("variant", ""))
                if isinstance(plat, dict)
                else None
            )
            return cls(
                media_type=str(obj.get("mediaType", "")),
                digest=validate_digest(obj["digest"]),
                size=int(obj["size"]),
                platform=platform,
                annotations=dict(obj.get("annotations") or {}),
                urls=tuple(obj.get("urls") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"malformed descriptor {obj!r}") from exc
