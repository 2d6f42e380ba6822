"""Wiring of the image-store service: config, domain, servicer, socket."""

from __future__ import annotations

from barque.images.v1 import images_pb2, images_pb2_grpc
from client.channels import connect
from client.config import load_config
from services.common.server import listener, prepare_state_dir, serve
from services.images.budget import ImageBudget
from services.images.core import ImageStore
from services.images.remote import RemoteRegistry
from services.images.rpc import ImagesServicer

__all__ = ["run"]


def run() -> None:
    config = load_config()
    listen = listener(config, "images")
    caps = config.image_limits
    budget = ImageBudget(layer_bytes=caps.max_layer_bytes, layer_entries=caps.max_layer_entries,
                         image_bytes=caps.max_image_bytes, image_entries=caps.max_image_entries)
    store = ImageStore(prepare_state_dir(config, "images"), RemoteRegistry(connect(config, "registry")), budget)

    def register(server):
        images_pb2_grpc.add_ImagesServicer_to_server(ImagesServicer(store), server)
        return [images_pb2.DESCRIPTOR.services_by_name["Images"].full_name]

    serve("images", listen, register, on_stop=store.close)
