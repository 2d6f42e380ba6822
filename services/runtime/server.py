"""Wiring of the runtime service."""

from __future__ import annotations

import os

from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from services.common.client import connect
from services.common.config import load_config
from services.common.server import listener, prepare_state_dir, serve
from services.runtime.remote import RemoteImages
from services.runtime.service import RuntimeService
from services.runtime.servicer import RuntimeServicer

__all__ = ["run"]


def run() -> None:
    config = load_config()
    listen = listener(config, "runtime")
    runtime = RuntimeService(
        prepare_state_dir(config, "runtime"), RemoteImages(connect(config, "images")),
        warm=os.environ.get("BARQUE_RUNTIME_WARM", "1") != "0", cgroups=config.cgroups,
    )

    def register(server):
        runtime_pb2_grpc.add_RuntimeServicer_to_server(RuntimeServicer(runtime), server)
        return [runtime_pb2.DESCRIPTOR.services_by_name["Runtime"].full_name]

    serve("runtime", listen, register, max_workers=64, on_stop=runtime.close)
