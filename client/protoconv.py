"""Conversions between the shared proto types and the domain's OCI types."""

from __future__ import annotations

from barque.types.v1 import types_pb2
from client.imagespec import Descriptor, Platform

__all__ = ["descriptor_to_pb", "descriptor_from_pb", "platform_to_pb", "platform_from_pb"]


def platform_to_pb(p: Platform | None) -> types_pb2.Platform | None:
    if p is None:
        return None
    return types_pb2.Platform(os=p.os, architecture=p.architecture, variant=p.variant)


def platform_from_pb(p: types_pb2.Platform | None) -> Platform | None:
    if p is None or not (p.os or p.architecture):
        return None
    return Platform(p.os, p.architecture, p.variant)


def descriptor_to_pb(d: Descriptor | None) -> types_pb2.Descriptor | None:
    if d is None:
        return None
    return types_pb2.Descriptor(
        media_type=d.media_type, digest=d.digest, size=d.size,
        platform=platform_to_pb(d.platform), annotations=dict(d.annotations),
    )


def descriptor_from_pb(d: types_pb2.Descriptor) -> Descriptor:
    return Descriptor(
        media_type=d.media_type, digest=d.digest, size=d.size,
        platform=platform_from_pb(d.platform) if d.HasField("platform") else None,
        annotations=dict(d.annotations),
    )
