"""Wiring of the runtime service."""

from __future__ import annotations

import os

from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from client.channels import connect
from client.config import load_config
from client.errors import FailedPrecondition
from services.common.idmap import resolve as resolve_remap
from services.common.server import listener, prepare_state_dir, serve
from services.runtime.core import RuntimeService
from services.runtime.engine.execevents import EventedExecs
from services.runtime.engine.execs import ExecHost, Execs
from services.runtime.engine.healthmonitor import HealthMonitor
from services.runtime.engine.remote import RemoteImages
from services.runtime.rpc import RuntimeServicer

__all__ = ["run"]


def exec_host(runtime: RuntimeService) -> ExecHost:
    """The part of the engine that :class:`Execs` uses."""

    def find_container(ref: str) -> tuple[str, bool]:
        view = runtime.inspect(ref)
        if view.running and view.record.status == "paused":
            raise FailedPrecondition(f"Container {view.record.id} is paused, unpause the container before exec")
        return view.record.id, view.running

    return ExecHost(find_container=find_container, bundle_dir=runtime.store.dir,
                    oci=tuple(runtime.oci), oci_root=runtime.oci_root, zygote=runtime.zygote)


def run() -> None:
    config = load_config()
    listen = listener(config, "runtime")
    runtime = RuntimeService(
        prepare_state_dir(config, "runtime"), RemoteImages(connect(config, "images")),
        warm=os.environ.get("BARQUE_RUNTIME_WARM", "1") != "0", cgroups=config.cgroups,
        network=config.network, run_dir=config.run_dir,
        idmap=resolve_remap(config.userns.remap), userns=config.userns,
    )

    execs = Execs(exec_host(runtime))
    # health probes are execs the engine runs on its own schedule (no RPC waits for one)
    health = HealthMonitor(runtime.store, runtime.events, lambda cid, args: execs.exec(cid, args, []))
    health.resume(view.record for view in runtime.list() if view.running)  # not those awaiting a restart

    def register(server):
        servicer = RuntimeServicer(runtime, EventedExecs(execs, runtime.events))  # a user's execs: events
        runtime_pb2_grpc.add_RuntimeServicer_to_server(servicer, server)
        return [runtime_pb2.DESCRIPTOR.services_by_name["Runtime"].full_name]

    def stop() -> None:
        health.close()
        runtime.close()

    serve("runtime", listen, register, max_workers=64, on_stop=stop)
