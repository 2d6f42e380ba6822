"""Thin gRPC servicer of the runtime: proto in, one domain call, proto out."""

from __future__ import annotations

import json

from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from barque.types.v1 import types_pb2
from client.errors import InvalidArgument
from client.eventfilter import EventFilter
from services.common.prunefilter import PruneFilter
from services.runtime.core import ContainerView, ExitStatus, RuntimeService
from services.runtime.engine.inspect import network_name, port_map
from services.runtime.network.manager import NetworkRequest
from services.runtime.network.state import Network
from services.runtime.engine.client_input import ClientInput
from services.runtime.engine.copy import ContainerFiles, PathInfo
from services.runtime.engine.diskusage import disk_usage
from services.runtime.engine.execs import STDERR, Execs
from services.runtime.engine.stats import ContainerSample, sample_rounds
from services.runtime.engine.top import top
from services.runtime.engine.pausing import state_name
from services.runtime.engine.prune import prune_containers
from services.runtime.shim import client as shimclient
from services.runtime.volumes.listing import volume_json
from services.runtime.volumes.store import Volume

__all__ = ["RuntimeServicer"]

_KIND = {shimclient.KIND_STDOUT: runtime_pb2.STREAM_KIND_STDOUT,
         shimclient.KIND_STDERR: runtime_pb2.STREAM_KIND_STDERR}


_EXEC_KIND = {STDERR: runtime_pb2.STREAM_KIND_STDERR}
#: how long a terminal's first size is awaited (the CLI sends it right after the spec)
INITIAL_SIZE_WAIT = 0.5


def _ports_pb(view: ContainerView) -> list[runtime_pb2.Port]:
    """Docker's container-list ports: the published ones with their host
    side, the exposed-only ones without; none unless it runs."""
    out = []
    for key, bindings in port_map(view.record, view.running, view.endpoints).items():
        port, proto = key.split("/")
        for b in bindings or [None]:
            out.append(runtime_pb2.Port(private_port=int(port), type=proto) if b is None else
                       runtime_pb2.Port(ip=b["HostIp"], private_port=int(port), public_port=int(b["HostPort"]),
                                        type=proto))
    return out


def _networks_pb(view: ContainerView) -> dict[str, runtime_pb2.EndpointSettings]:
    live = {e.network.name: e for e in view.endpoints}
    mode = network_name(view.record.host_config.network_mode)
    names = list(view.record.networks) or ([mode] if mode in ("none", "host") else [])
    out = {}
    for name in names:
        e = live.get(name)
        out[name] = runtime_pb2.EndpointSettings() if e is None else runtime_pb2.EndpointSettings(
            network_id=e.network.id, endpoint_id=e.endpoint.endpoint_id, gateway=e.network.gateway,
            ip_address=e.endpoint.ip, ip_prefix_len=e.network.prefix_len, mac_address=e.endpoint.mac,
            aliases=e.endpoint.aliases)
    return out


def _health_pb(health: dict) -> runtime_pb2.HealthState:
    """The record's health state (Docker's State.Health shape) as the proto."""
    return runtime_pb2.HealthState(
        status=health.get("Status", ""), failing_streak=int(health.get("FailingStreak") or 0),
        log=[runtime_pb2.HealthResult(start=e.get("Start", ""), end=e.get("End", ""),
                                      exit_code=int(e.get("ExitCode", 0)), output=e.get("Output", ""))
             for e in health.get("Log") or []])


def container_to_pb(view: ContainerView) -> runtime_pb2.Container:
    r = view.record
    status = state_name(r, view.running)
    state = runtime_pb2.ContainerState(
        status=status, running=view.running, paused=status == "paused", oom_killed=r.oom_killed, pid=r.pid if view.running else 0,
        exit_code=r.exit_code, error=r.error, started_at=r.started_at, finished_at=r.finished_at,
        restarting=not view.running and r.status == "restarting",
    )
    if r.health:
        state.health.CopyFrom(_health_pb(r.health))
    return runtime_pb2.Container(
        id=r.id, name=r.name, created=r.created, image_id=r.image_id, args=r.args, config=r.config,
        host_config=r.host_config, state=state, log_path=r.log_path, env=r.env, working_dir=r.working_dir,
        hostname=r.hostname, user=r.user, ports=_ports_pb(view), networks=_networks_pb(view),
        restart_count=r.restart_count,
        mounts=[runtime_pb2.MountPoint(type=m["Type"], source=m["Source"], destination=m["Destination"],
                                       rw=m["RW"], mode=m["Mode"], name=m.get("Name", ""),
                                       driver=m.get("Driver", ""), propagation=m.get("Propagation", ""))
                for m in r.mounts],
        rootfs=[types_pb2.Mount(type="overlay", source="overlay", options=[
            f"lowerdir={':'.join(r.rootfs.get('lowerdirs', []))}", f"upperdir={r.rootfs.get('upperdir', '')}",
            f"workdir={r.rootfs.get('workdir', '')}"])] if r.rootfs else [],
    )


def network_to_pb(net: Network, containers: int) -> runtime_pb2.Network:
    pools = [runtime_pb2.IPAMPool(subnet=net.subnet, ip_range=net.ip_range, gateway=net.gateway)] if net.subnet else []
    return runtime_pb2.Network(id=net.id, name=net.name, created=net.created, scope="local", driver=net.driver,
                               internal=net.internal, labels=net.labels, ipam=pools, options=net.options,
                               bridge=net.bridge, containers=containers)


def volume_to_pb(volume: Volume, users: list[str]) -> runtime_pb2.Volume:
    return runtime_pb2.Volume(name=volume.name, driver=volume.driver, mountpoint=volume.mountpoint,
                              created_at=volume.created_at, labels=volume.labels, options=volume.options,
                              scope="local", used_by=users, anonymous=volume.anonymous)


def stats_to_pb(s: ContainerSample) -> runtime_pb2.ContainerStats:
    """A sample as the proto: the dataclasses carry the proto's field names."""
    scalars = {k: v for k, v in vars(s).items() if k not in ("cpu", "precpu", "memory", "networks")}
    return runtime_pb2.ContainerStats(
        cpu=runtime_pb2.CpuStats(**vars(s.cpu)), precpu=runtime_pb2.CpuStats(**vars(s.precpu)),
        memory=runtime_pb2.MemoryStats(**vars(s.memory)),
        networks=[runtime_pb2.NetworkStats(**vars(n)) for n in s.networks], **scalars)


def exited_to_pb(status: ExitStatus) -> runtime_pb2.Exited:
    return runtime_pb2.Exited(exit_code=status.exit_code, oom_killed=status.oom_killed, error=status.error)


class RuntimeServicer(runtime_pb2_grpc.RuntimeServicer):
    def __init__(self, runtime: RuntimeService, execs: Execs) -> None:
        self._rt = runtime
        self._execs = execs

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
        client = ClientInput(request_iterator, stdin=spec.attach_stdin)
        self._rt.start(record.id, wait_attach=True)
        attachment = self._rt.attach(record.id, stdin=spec.attach_stdin, stdout=True, stderr=True,
                                     height=client.size[0], width=client.size[1])
        client.bind(attachment)
        yield runtime_pb2.RunResponse(created=runtime_pb2.CreateResponse(id=record.id))
        yield from self._stream_output(context, attachment, record.id, lambda f: runtime_pb2.RunResponse(output=f),
                                       lambda e: runtime_pb2.RunResponse(exited=e))

    def _stream_output(self, context, attachment, container_id, wrap_frame, wrap_exit):
        """The container's output, then its exit. A client gone (cancelled,
        past its deadline, disconnected) hangs up the shim connection, whose
        read would otherwise hold this worker thread until the container
        exits, and is not waited for: abandoned attaches would take every
        worker of the service."""
        context.add_callback(attachment.hang_up)
        try:
            for kind, data in attachment:
                if kind in _KIND:
                    yield wrap_frame(runtime_pb2.Frame(stream=_KIND[kind], data=data))
        finally:
            attachment.close()
        if not context.is_active():
            return
        yield wrap_exit(exited_to_pb(self._rt.final_exit(container_id)))

    def Attach(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "open":
            raise InvalidArgument("the first Attach message must name the container")
        o = first.open
        client = ClientInput(request_iterator, stdin=o.stdin)
        attachment = self._rt.attach(o.id, stdin=o.stdin, stdout=o.stdout, stderr=o.stderr,
                                     height=client.size[0], width=client.size[1])
        client.bind(attachment)
        yield from self._stream_output(context, attachment, o.id, lambda f: runtime_pb2.AttachResponse(output=f),
                                       lambda e: runtime_pb2.AttachResponse(exited=e))

    def Wait(self, request, context):
        return runtime_pb2.WaitResponse(exited=exited_to_pb(self._rt.wait(request.id, request.condition)))

    def Kill(self, request, context):
        self._rt.kill(request.id, request.signal)
        return runtime_pb2.KillResponse()

    def Stop(self, request, context):
        self._rt.stop(request.id, request.timeout if request.HasField("timeout") else None)
        return runtime_pb2.StopResponse()

    def Restart(self, request, context):
        self._rt.restart(request.id, request.timeout if request.HasField("timeout") else None)
        return runtime_pb2.RestartResponse()

    def Rename(self, request, context):
        self._rt.rename(request.id, request.name)
        return runtime_pb2.RenameResponse()

    def Pause(self, request, context):
        self._rt.pause(request.id)
        return runtime_pb2.PauseResponse()

    def Unpause(self, request, context):
        self._rt.unpause(request.id)
        return runtime_pb2.UnpauseResponse()

    def Delete(self, request, context):
        return runtime_pb2.DeleteResponse(id=self._rt.delete(request.id, request.force, request.remove_volumes))

    def List(self, request, context):
        views = self._rt.list(request.all, list(request.filters))
        containers = [container_to_pb(v) for v in views]
        for c, v in zip(containers, views) if request.size else ():
            c.size_rw, c.size_root_fs = self._rt.sizes(v.record)
        return runtime_pb2.ListResponse(containers=containers)

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
        wanted = EventFilter.parse(list(request.filters))
        for ev in self._rt.events.stream(request.since_nanos, lambda: not context.is_active(), request.until_nanos):
            if wanted.include(ev.type, ev.action, ev.id, ev.attributes):
                yield runtime_pb2.EventsResponse(type=ev.type, action=ev.action, id=ev.id,
                                                 attributes=ev.attributes, time_nanos=ev.time_ns)

    def Stats(self, request, context):
        for samples in sample_rounds(self._rt, list(request.ids), request.all, request.stream,
                                     cancelled=lambda: not context.is_active()):
            yield runtime_pb2.StatsResponse(stats=[stats_to_pb(s) for s in samples])

    def Top(self, request, context):
        result = top(self._rt, request.id, list(request.ps_args))
        return runtime_pb2.TopResponse(titles=result.titles,
                                       processes=[runtime_pb2.TopProcess(fields=p) for p in result.processes])

    # ---- networks ----------------------------------------------------------------

    def CreateNetwork(self, request, context):
        spec = request.spec
        pool = spec.ipam[0] if spec.ipam else runtime_pb2.IPAMPool()
        if len(spec.ipam) > 1:
            raise InvalidArgument("one IPv4 address pool per network is supported")
        net = self._rt.network_api.create(NetworkRequest(
            spec.name, spec.driver or "bridge", spec.internal, pool.subnet, pool.gateway, pool.ip_range,
            dict(spec.labels), dict(spec.options)))
        return runtime_pb2.CreateNetworkResponse(id=net.id)

    def ListNetworks(self, request, context):
        return runtime_pb2.ListNetworksResponse(
            networks=[network_to_pb(net, count) for net, count in self._rt.network_api.listing(list(request.filters))])

    def InspectNetwork(self, request, context):
        net, doc = self._rt.network_api.inspect(request.ref)
        return runtime_pb2.InspectNetworkResponse(network=network_to_pb(net, len(doc["Containers"])),
                                                  json=json.dumps(doc))

    def RemoveNetwork(self, request, context):
        self._rt.network_api.remove(request.ref)
        return runtime_pb2.RemoveNetworkResponse()

    def PruneNetworks(self, request, context):
        return runtime_pb2.PruneNetworksResponse(
            deleted=self._rt.network_api.prune(PruneFilter.parse(list(request.filters))))

    def ConnectNetwork(self, request, context):
        ep = request.endpoint
        self._rt.network_api.connect(request.network, request.container, ep.ipam_config.ipv4_address, list(ep.aliases))
        return runtime_pb2.ConnectNetworkResponse()

    def DisconnectNetwork(self, request, context):
        self._rt.network_api.disconnect(request.network, request.container, request.force)
        return runtime_pb2.DisconnectNetworkResponse()

    def CreateVolume(self, request, context):
        volume, _ = self._rt.volumes.create(request.name, request.driver, dict(request.driver_opts),
                                            dict(request.labels))
        return runtime_pb2.CreateVolumeResponse(volume=volume_to_pb(volume, []))

    def ListVolumes(self, request, context):
        return runtime_pb2.ListVolumesResponse(
            volumes=[volume_to_pb(v, users) for v, users in self._rt.volumes.list_volumes(list(request.filters))])

    def InspectVolume(self, request, context):
        volume, users = self._rt.volumes.inspect(request.name)
        return runtime_pb2.InspectVolumeResponse(volume=volume_to_pb(volume, users),
                                                 json=json.dumps(volume_json(volume)))

    def RemoveVolume(self, request, context):
        self._rt.volumes.remove(request.name, request.force)
        return runtime_pb2.RemoveVolumeResponse()

    def PruneVolumes(self, request, context):
        deleted, freed = self._rt.volumes.prune(list(request.filters), request.all)
        return runtime_pb2.PruneVolumesResponse(deleted=deleted, space_reclaimed=freed)

    def PruneContainers(self, request, context):
        pruned = prune_containers(self._rt, list(request.filters))
        return runtime_pb2.PruneContainersResponse(deleted=pruned.deleted, space_reclaimed=pruned.reclaimed)

    def DiskUsage(self, request, context):
        du = disk_usage(self._rt)
        containers = []
        for u in du.containers:
            pb = container_to_pb(u.view)
            pb.size_rw, pb.size_root_fs = u.size_rw, u.size_root_fs
            containers.append(runtime_pb2.ContainerUsage(container=pb, size_rw=u.size_rw, size_root_fs=u.size_root_fs,
                                                         local_volumes=u.local_volumes))
        return runtime_pb2.DiskUsageResponse(containers=containers, volumes=[
            runtime_pb2.VolumeUsage(name=v.name, links=v.links, size=v.size) for v in du.volumes])

    def Info(self, request, context):
        info = self._rt.info()
        scalars = {k: v for k, v in vars(info).items() if k not in ("build", "runtimes")}
        return runtime_pb2.InfoResponse(
            build=types_pb2.BuildInfo(**vars(info.build)),
            runtimes=[runtime_pb2.OciRuntime(**vars(r)) for r in info.runtimes], **scalars)

    def Exec(self, request_iterator, context):
        """The first message is the ExecSpec; later ones stdin frames and resizes.
        The pid is sent once started, then the output frames, then Exited."""
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "spec":
            raise InvalidArgument("the first Exec message must carry the spec")
        s = first.spec
        client = ClientInput(request_iterator)
        height, width = client.wait_size(INITIAL_SIZE_WAIT) if s.tty and not s.detach else (0, 0)
        session = self._execs.exec(
            s.id, list(s.args), list(s.env), workdir=s.working_dir, user=s.user, tty=s.tty,
            stdin=s.attach_stdin, detach=s.detach, privileged=s.privileged, height=height, width=width)
        # a client gone while the process is silent: nothing is yielded that would stop this generator
        if not context.add_callback(session.kill):
            session.kill()  # the RPC ended already
        finished = False
        try:
            pid = session.pid()
            if pid:
                yield runtime_pb2.ExecResponse(pid=pid)
            if not s.detach:  # stdin frames (-i) and resizes (-t)
                client.bind(session)
                for stream, data in session.output():
                    yield runtime_pb2.ExecResponse(output=runtime_pb2.Frame(
                        stream=_EXEC_KIND.get(stream, runtime_pb2.STREAM_KIND_STDOUT), data=data))
            code = session.wait()
            finished = True
            yield runtime_pb2.ExecResponse(exited=runtime_pb2.Exited(exit_code=code, error=session.error))
        finally:
            if not finished:
                session.kill()
                session.wait()
            session.close()

    # ---- files: cp and export (engine/copy.py) -------------------------------------

    def _files(self) -> ContainerFiles:
        return ContainerFiles(self._rt.store, self._rt.events.emit)

    def StatPath(self, request, context):
        return runtime_pb2.StatPathResponse(stat=_path_stat_pb(self._files().stat_path(request.id, request.path)))

    def CopyFrom(self, request, context):
        for item in self._files().copy_from(request.id, request.path, request.follow_link):
            yield (runtime_pb2.CopyFromResponse(data=item) if isinstance(item, bytes)
                   else runtime_pb2.CopyFromResponse(stat=_path_stat_pb(item)))

    def CopyTo(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "header":
            raise InvalidArgument("the first CopyTo message must carry the header")
        h = first.header
        self._files().copy_to(h.id, h.path, (m.data for m in request_iterator), copy_uid_gid=h.copy_uid_gid,
                              no_overwrite_dir_non_dir=h.no_overwrite_dir_non_dir,
                              make_parents=(h.parents_uid, h.parents_gid) if h.make_parents else None)
        return runtime_pb2.CopyToResponse()

    def Export(self, request, context):
        for chunk in self._files().export(request.id):
            yield runtime_pb2.ExportResponse(data=chunk)


def _path_stat_pb(info: PathInfo) -> runtime_pb2.PathStat:
    return runtime_pb2.PathStat(name=info.name, size=info.size, mode=info.mode, mtime=info.mtime,
                                link_target=info.link_target)
