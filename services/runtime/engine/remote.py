"""The runtime's view of the image-store: an ImageSource over gRPC."""

from __future__ import annotations

import json

from barque.images.v1 import images_pb2, images_pb2_grpc
from client.channels import RemoteStub
from services.runtime.core import ImageInfo

__all__ = ["RemoteImages"]


class RemoteImages:
    def __init__(self, channel) -> None:
        self._stub = RemoteStub(images_pb2_grpc.ImagesStub(channel), "images")

    def image_config(self, reference: str) -> tuple[str, dict]:
        image = self._stub.Inspect(images_pb2.InspectRequest(reference=reference)).image
        config = json.loads(image.config_json or b"{}")
        return image.id, config.get("config") or {}

    def prepare(self, key: str, image: str) -> ImageInfo:
        resp = self._stub.PrepareSnapshot(images_pb2.PrepareSnapshotRequest(key=key, image=image))
        return ImageInfo(resp.image_id, {}, list(resp.lowerdirs), resp.upperdir, resp.workdir)

    def image_size(self, image_id: str) -> int:
        """The image's unpacked size (Docker's Size), for ``ps --size``."""
        return self._stub.Inspect(images_pb2.InspectRequest(reference=image_id)).image.size

    def remove_snapshot(self, key: str) -> None:
        self._stub.RemoveSnapshot(images_pb2.RemoveSnapshotRequest(key=key))
