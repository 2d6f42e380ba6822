"""Thin gRPC servicer of the runtime: proto in, one domain call, proto out."""

from __future__ import annotations

import threading

from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from barque.types.v1 import types_pb2
from services.common.errors import InvalidArgument
from services.runtime import shimclient
from services.runtime.containers import ContainerConfig, HostConfig
from services.runtime.exec_servicer import ExecServicerMixin, deliver_input
from services.runtime.service import ContainerView, ExitStatus, RuntimeService

__all__ = ["RuntimeServicer"]

_KIND = {shimclient.KIND_STDOUT: runtime_pb2.STREAM_KIND_STDOUT,
         shimclient.KIND_STDERR: runtime_pb2.STREAM_KIND_STDERR}


def config_from_pb(c: runtime_pb2.ContainerConfig) -> ContainerConfig:
    return ContainerConfig(
        image=c.image,
        entrypoint=list(c.entrypoint) if c.entrypoint_set else None,
        cmd=list(c.cmd) or None, env=list(c.env), working_dir=c.working_dir, user=c.user,
        hostname=c.hostname, tty=c.tty, open_stdin=c.open_stdin, labels=dict(c.labels),
        stop_signal=c.stop_signal, stop_timeout=c.stop_timeout if c.HasField("stop_timeout") else None,
    )


def host_from_pb(h: runtime_pb2.HostConfig) -> HostConfig:
    return HostConfig(
        memory=h.memory, memory_swap=h.memory_swap, nano_cpus=h.nano_cpus, cpu_shares=h.cpu_shares,
        pids_limit=h.pids_limit, network_mode=h.network_mode or "none", read_only=h.read_only,
        binds=list(h.binds), cap_add=list(h.cap_add), cap_drop=list(h.cap_drop), privileged=h.privileged,
        security_opt=list(h.security_opt), log_type=h.log_config.type or "json-file",
        log_config=dict(h.log_config.config), auto_remove=h.auto_remove,
    )


def container_to_pb(view: ContainerView) -> runtime_pb2.Container:
    r = view.record
    c, h = r.config, r.host_config
    config = runtime_pb2.ContainerConfig(
        image=c.image, entrypoint=c.entrypoint or [], entrypoint_set=c.entrypoint is not None,
        cmd=c.cmd or [], env=c.env, working_dir=c.working_dir, user=c.user, hostname=c.hostname,
        tty=c.tty, open_stdin=c.open_stdin, labels=c.labels, stop_signal=c.stop_signal,
        stop_timeout=c.stop_timeout,
    )
    host = runtime_pb2.HostConfig(
        memory=h.memory, memory_swap=h.memory_swap, nano_cpus=h.nano_cpus, cpu_shares=h.cpu_shares,
        pids_limit=h.pids_limit, network_mode=h.network_mode, read_only=h.read_only, binds=h.binds,
        cap_add=h.cap_add, cap_drop=h.cap_drop, privileged=h.privileged, security_opt=h.security_opt,
        log_config=runtime_pb2.LogConfig(type=h.log_type, config=h.log_config), auto_remove=h.auto_remove,
    )
    status = "running" if view.running else r.status
    state = runtime_pb2.ContainerState(
        status=status, running=view.running, oom_killed=r.oom_killed, pid=r.pid if view.running else 0,
        exit_code=r.exit_code, error=r.error, started_at=r.started_at, finished_at=r.finished_at,
    )
    return runtime_pb2.Container(
        id=r.id, name=r.name, created=r.created, image_id=r.image_id, args=r.args, config=config,
        host_config=host, state=state, log_path=r.log_path, env=r.env, working_dir=r.working_dir,
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
        record = self._rt.create(request.name, config_from_pb(request.config), host_from_pb(request.host_config))
        return runtime_pb2.CreateResponse(id=record.id)

    def Start(self, request, context):
        return runtime_pb2.StartResponse(pid=self._rt.start(request.id).pid)

    def Run(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "spec":
            raise InvalidArgument("the first Run message must carry the spec")
        spec = first.spec
        create = spec.create
        record = self._rt.create(create.name, config_from_pb(create.config), host_from_pb(create.host_config))
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
        return runtime_pb2.InspectResponse(container=container_to_pb(self._rt.inspect(request.id)))

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


