"""Thin gRPC servicer of the runtime: proto in, one domain call, proto out."""

from __future__ import annotations

import json
import threading

from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from barque.types.v1 import types_pb2
from services.common.errors import InvalidArgument
from services.runtime import shimclient
from services.runtime.exec_servicer import ExecServicerMixin, deliver_input
from services.runtime.service import ContainerView, ExitStatus, RuntimeService

__all__ = ["RuntimeServicer"]

_KIND = {shimclient.KIND_STDOUT: runtime_pb2.STREAM_KIND_STDOUT,
         shimclient.KIND_STDERR: runtime_pb2.STREAM_KIND_STDERR}


def container_to_pb(view: ContainerView) -> runtime_pb2.Container:
    r = view.record
    status = "running" if view.running else r.status
    state = runtime_pb2.ContainerState(
        status=status, running=view.running, oom_killed=r.oom_killed, pid=r.pid if view.running else 0,
        exit_code=r.exit_code, error=r.error, started_at=r.started_at, finished_at=r.finished_at,
    )
    return runtime_pb2.Container(
        id=r.id, name=r.name, created=r.created, image_id=r.image_id, args=r.args, config=r.config,
        host_config=r.host_config, state=state, log_path=r.log_path, env=r.env, working_dir=r.working_dir,
        hostname=r.hostname, user=r.user,
        mounts=[runtime_pb2.MountPoint(type=m["Type"], source=m["Source"], destination=m["Destination"],
                                       rw=m["RW"], mode=m["Mode"]) for m in r.mounts],
        rootfs=[types_pb2.Mount(type="overlay", source="overlay", options=[
            f"lowerdir={':'.join(r.rootfs.get('lowerdirs', []))}", f"upperdir={r.rootfs.get('upperdir', '')}",
            f"workdir={r.rootfs.get('workdir', '')}"])] if r.rootfs else [],
    )


def exited_to_pb(status: ExitStatus) -> runtime_pb2.Exited:
    return runtime_pb2.Exited(exit_code=status.exit_code, oom_killed=status.oom_killed, error=status.error)


class _ClientInput:
    """The client's later messages (stdin frames, resizes), read on a thread
    from the start, so a terminal size sent right after the first message is
    known when the shim is attached; what comes before that is held, then
    forwarded in order. A client that goes away leaves the container running
    (no stdin EOF is sent for it: it may attach again)."""

    def __init__(self, requests, stdin: bool) -> None:
        self._requests = requests
        self._stdin = stdin
        self._lock = threading.Lock()
        self._attachment: shimclient.AttachConnection | None = None
        self._held: list = []
        self.size = (0, 0)
        threading.Thread(target=self._pump, daemon=True, name="client-input").start()

    def bind(self, attachment) -> None:
        """Forward to ``attachment`` from now on, after what was held."""
        with self._lock:
            self._attachment = attachment
            held, self._held = self._held, []
            for req in held:
                self._forward(req)

    def _pump(self) -> None:
        try:
            for req in self._requests:
                with self._lock:
                    if req.WhichOneof("msg") == "resize":
                        self.size = (req.resize.height, req.resize.width)
                    if self._attachment is None:
                        self._held.append(req)
                    else:
                        self._forward(req)
        except Exception:  # the client went away; the container keeps running
            pass

    def _forward(self, req) -> None:
        attachment = self._attachment
        if attachment is None:
            return
        try:
            deliver_input(attachment, req, stdin=self._stdin)
        except Exception:  # the container exited (or its shim is gone): nothing to forward to
            pass


class RuntimeServicer(ExecServicerMixin, runtime_pb2_grpc.RuntimeServicer):
    def __init__(self, runtime: RuntimeService) -> None:
        self._rt = runtime

    def Create(self, request, context):
        record = self._rt.create(request.name, request.config, request.host_config,
                                 request.networking_config)
        return runtime_pb2.CreateResponse(id=record.id)

    def Start(self, request, context):
        return runtime_pb2.StartResponse(pid=self._rt.start(request.id).pid)

    def Run(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "spec":
            raise InvalidArgument("the first Run message must carry the spec")
        spec = first.spec
        create = spec.create
        record = self._rt.create(create.name, create.config, create.host_config,
                                 create.networking_config)
        if not spec.attach:
            self._rt.start(record.id)
            yield runtime_pb2.RunResponse(created=runtime_pb2.CreateResponse(id=record.id))
            return
        client = _ClientInput(request_iterator, spec.attach_stdin)
        self._rt.start(record.id, wait_attach=True)
        attachment = self._rt.attach(record.id, stdin=spec.attach_stdin, stdout=True, stderr=True,
                                     height=client.size[0], width=client.size[1])
        client.bind(attachment)
        yield runtime_pb2.RunResponse(created=runtime_pb2.CreateResponse(id=record.id))
        yield from self._stream_output(attachment, record.id, lambda f: runtime_pb2.RunResponse(output=f),
                                       lambda e: runtime_pb2.RunResponse(exited=e))

    def _stream_output(self, attachment, container_id, wrap_frame, wrap_exit):
        try:
            for kind, data in attachment:
                if kind in _KIND:
                    yield wrap_frame(runtime_pb2.Frame(stream=_KIND[kind], data=data))
        finally:
            attachment.close()
        yield wrap_exit(exited_to_pb(self._rt.wait(container_id, "next-exit")))

    def Attach(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "open":
            raise InvalidArgument("the first Attach message must name the container")
        o = first.open
        client = _ClientInput(request_iterator, o.stdin)
        attachment = self._rt.attach(o.id, stdin=o.stdin, stdout=o.stdout, stderr=o.stderr,
                                     height=client.size[0], width=client.size[1])
        client.bind(attachment)
        yield from self._stream_output(attachment, o.id, lambda f: runtime_pb2.AttachResponse(output=f),
                                       lambda e: runtime_pb2.AttachResponse(exited=e))

    def Wait(self, request, context):
        return runtime_pb2.WaitResponse(exited=exited_to_pb(self._rt.wait(request.id, request.condition)))

    def Kill(self, request, context):
        self._rt.kill(request.id, request.signal)
        return runtime_pb2.KillResponse()

    def Stop(self, request, context):
        self._rt.stop(request.id, request.timeout if request.HasField("timeout") else None)
        return runtime_pb2.StopResponse()

    def Delete(self, request, context):
        return runtime_pb2.DeleteResponse(id=self._rt.delete(request.id, request.force))

    def List(self, request, context):
        views = self._rt.list(request.all, list(request.filters))
        return runtime_pb2.ListResponse(containers=[container_to_pb(v) for v in views])

    def Inspect(self, request, context):
        view, document = self._rt.inspect_document(request.id)
        return runtime_pb2.InspectResponse(container=container_to_pb(view), container_json=json.dumps(document))

    def Logs(self, request, context):
        records = self._rt.logs(
            request.id, follow=request.follow, since_ns=request.since_nanos, until_ns=request.until_nanos,
            tail=request.tail, stdout=request.stdout, stderr=request.stderr,
            cancelled=lambda: not context.is_active(),
        )
        for rec in records:
            yield runtime_pb2.LogsResponse(
                stream=runtime_pb2.STREAM_KIND_STDERR if rec.stream == "stderr" else runtime_pb2.STREAM_KIND_STDOUT,
                data=rec.data, time_nanos=rec.time_ns,
            )

    def Events(self, request, context):
        wanted = {}
        for f in request.filters:
            key, _, value = f.partition("=")
            wanted.setdefault(key, set()).add(value)
        for ev in self._rt.events.stream(request.since_nanos, lambda: not context.is_active()):
            if "container" in wanted and not any(ev.id.startswith(v) or ev.attributes.get("name") == v
                                                 for v in wanted["container"]):
                continue
            if "event" in wanted and ev.action not in wanted["event"]:
                continue
            yield runtime_pb2.EventsResponse(type=ev.type, action=ev.action, id=ev.id,
                                             attributes=ev.attributes, time_nanos=ev.time_ns)

    def Info(self, request, context):
        info = self._rt.info()
        scalars = {k: v for k, v in vars(info).items() if k not in ("build", "runtimes")}
        return runtime_pb2.InfoResponse(
            build=types_pb2.BuildInfo(**vars(info.build)),
            runtimes=[runtime_pb2.OciRuntime(**vars(r)) for r in info.runtimes], **scalars)
