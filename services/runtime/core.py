"""The runtime's domain core: containers from images, run by barque-oci under
a per-container supervisor, with Docker's lifecycle semantics.

The gRPC process never forks into namespaces: barque-oci does that in its own
processes, started by the supervisor (``services.runtime.shim``), which the
service spawns with subprocess in a new session so containers outlive it.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

from barque.runtime.v1.runtime_pb2 import NetworkingConfig
from client.config import CgroupConfig, NetworkConfig
from client.errors import FailedPrecondition, Internal, InvalidArgument, NotFound
from client.units import from_human_size, parse_signal
from services.common.log import get_logger
from services.runtime.engine.containers import (
    ContainerConfig,
    ContainerRecord,
    ContainerStore,
    HostConfig,
    generate_name,
    new_id,
)
from services.runtime.engine.events import EventLog
from services.runtime.engine.filters import matches, parse_filters
from services.runtime.engine.health import merge_healthcheck
from services.runtime.engine.mounts import mount_overlay, unmount
from services.runtime.engine.exitwatch import ExitWatcher
from services.runtime.engine.restart import RESTARTING, RestartManager, comes_back, kill_cancels, validate_policy
from services.runtime.engine.status import refresh, utc_now
from services.runtime.engine.networkapi import NetworkAPI
from services.runtime.engine.networking import ContainerNetworks, hostname_for
from services.runtime.network.dnsprocess import DnsResponder
from services.runtime.network.helperclient import NetworkHelper
from services.runtime.network.manager import Networks, NetworkSettings
from services.runtime.network.modes import exposed_ports, network_kind, port_requests
from services.runtime.oci.cgroups import hierarchy
from services.runtime.shim import client as shimclient
from services.runtime.spec import HostFacts, SpecContext, build_spec, process_args
from services.runtime.spec.flags import parse_log_opts, parse_security_opts
from services.runtime.spec.options import applies, refuse_unapplied
from services.runtime.volumes.manager import Volumes

__all__ = ["RuntimeService", "ImageSource", "ImageInfo", "ExitStatus", "ContainerView"]

log = get_logger()

#: how many exit statuses of --rm containers the service remembers after removing them
REMEMBERED_EXITS = 256


@dataclass(frozen=True)
class ImageInfo:
    id: str
    config: dict          # the image config's "config" object
    lowerdirs: list[str]
    upperdir: str
    workdir: str


class ImageSource(Protocol):
    """The image-store as the runtime needs it."""

    def image_config(self, reference: str) -> tuple[str, dict]: ...

    def prepare(self, key: str, image: str) -> ImageInfo: ...

    def remove_snapshot(self, key: str) -> None: ...


@dataclass(frozen=True)
class ExitStatus:
    exit_code: int
    oom_killed: bool = False
    error: str = ""


@dataclass(frozen=True)
class ContainerView:
    record: ContainerRecord
    running: bool
    endpoints: tuple = ()   # its live endpoints (LiveEndpoint) while it runs


class RuntimeService:
    def __init__(self, root: Path, images: ImageSource, *, oci_command: list[str] | None = None,
                 warm: bool = True, cgroups: CgroupConfig = CgroupConfig(),
                 network: NetworkConfig = NetworkConfig(), run_dir: Path | None = None) -> None:
        """``oci_command`` runs another OCI runtime (runc) instead of barque-oci;
        ``warm`` (barque-oci only) forks shims and barque-oci commands from a
        warm helper process instead of starting an interpreter for each.
        ``cgroups`` picks the hierarchy; barque-oci reads the same config."""
        version, cgroup2_root = hierarchy(cgroups)
        self.cgroup_v2 = version == 2
        self.cgroup_root = Path(cgroup2_root) if self.cgroup_v2 else Path("/sys/fs/cgroup")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.store = ContainerStore(root / "containers")
        self.images = images
        self.oci_root = root / "oci"
        self.oci = oci_command or _default_oci()
        self.zygote = shimclient.Zygote(str(root / "zygote")) if warm and not oci_command else None
        if self.zygote is not None:
            self.zygote.ensure()
        self.events = EventLog()
        self.volumes = Volumes(root / "volumes", lambda: [(r.id, r.mounts) for r in self.store.all()],
                               self.events.emit)
        self.network_config = network
        self.dns = DnsResponder(str(root / "network" / "dns"), network.resolv_conf)
        self.networks = Networks(root / "network", NetworkSettings(
            bridge=network.bridge, subnet=network.bridge_subnet,
            netns_dir=(run_dir or root) / "netns"), NetworkHelper(str(root / "network" / "helper")),
            on_change=self.dns.update)
        self.netglue = ContainerNetworks(self.networks, self.store, self._dir, network)
        self.network_api = NetworkAPI(self.networks, self.netglue, self.store, self.events, root, self._lock,
                                      self._dir)
        self._exited: dict[str, threading.Event] = {}
        self._exits = ExitWatcher()
        #: the exit status of containers removed by --rm, for a Run or Wait
        #: that asks just after the removal (by full id; the newest few)
        self._removed_exits: dict[str, ExitStatus] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.restarts = RestartManager(self._restart_due)
        self._recover()

    # ---- helpers -------------------------------------------------------------

    def _lock(self, container_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(container_id, threading.Lock())

    def _dir(self, record: ContainerRecord) -> Path:
        return self.store.dir(record.id)

    def close(self) -> None:
        """Stop the warm helpers and pending restarts; containers and their shims keep running."""
        self.restarts.close()
        if self.zygote is not None:
            self.zygote.stop()
        self.networks.helper.stop()
        self.dns.stop()

    def _oci(self, *args: str, check: bool = True) -> tuple[int, str]:
        """Run an OCI runtime command; (exit code, stderr)."""
        argv = ["--root", str(self.oci_root), *args]
        if self.zygote is not None:
            code, _, stderr = self.zygote.run_oci(argv)
        else:
            proc = subprocess.run([*self.oci, *argv], capture_output=True, text=True, stdin=subprocess.DEVNULL)
            code, stderr = proc.returncode, proc.stderr
        if check and code != 0:
            raise Internal(f"barque-oci {args[0]}: {stderr.strip() or code}")
        return code, stderr

    def _oom_cgroup(self, container_id: str) -> str:
        if self.cgroup_v2:
            return str(self.cgroup_root / "barque" / container_id)
        return str(self.cgroup_root / "memory" / "barque" / container_id)

    def _recover(self) -> None:
        """Rebuild state after a restart: watch every container still running;
        reconcile the networks (containers that stopped or went away
        meanwhile lose their endpoints, rules and, if removed, leases); a
        "die" for each that exited meanwhile; restart those their policy
        brings back (:func:`~services.runtime.engine.restart.comes_back`)."""
        records, running = self.store.all(), set()
        for record in records:
            with self.store.lock:
                was = record.status
                if refresh(record, self._dir(record) / "shim"):
                    running.add(record.id)
                elif was == "running":
                    self.events.emit("die", record.id, name=record.name, exitCode=str(record.exit_code))
                if record.id not in running and (record.status == RESTARTING or comes_back(record)):
                    # dockerd's restore starts these as a user would: the count and manual stop reset
                    record.status, record.restart_count, record.manually_stopped = RESTARTING, 0, False
                self.store.save(record)
        self.networks.reconcile(running)
        for record in records:
            if record.status == RESTARTING:
                self.restarts.arm(record.id, 0)
            elif record.id in running:
                self._watch(record)
            elif record.status == "exited" and record.host_config.auto_remove:
                threading.Thread(target=self._auto_remove, args=(record.id,), daemon=True).start()

    # ---- create ----------------------------------------------------------------

    @applies("Config.image", "Config.entrypoint", "Config.cmd", "Config.stop_signal",
             "Config.stop_timeout", "Config.hostname", "Config.user", "Config.working_dir",
             "HostConfig.security_opt", "HostConfig.log_config",
             "HostConfig.binds", "HostConfig.port_bindings", "HostConfig.publish_all_ports",
             "Config.exposed_ports")
    def create(self, name: str, config: ContainerConfig, host: HostConfig,
               networking: NetworkingConfig | None = None) -> ContainerRecord:
        """A container from Docker's Config and HostConfig; a field nothing
        applies is refused by name (see :mod:`services.runtime.spec.options`)."""
        config, host = _copy(config), _copy(host)
        refuse_unapplied(config, host, networking or NetworkingConfig())
        validate_policy(host)
        kind, peer, networks = self.netglue.plan(host, networking)
        security = parse_security_opts(host.security_opt)
        log_opts = parse_log_opts([f"{k}={v}" for k, v in host.log_config.config.items()])
        host.log_config.type = host.log_config.type or "json-file"
        host.log_config.config.clear()
        host.log_config.config.update(log_opts)
        if host.log_config.type not in ("json-file", "k8s-file"):
            raise InvalidArgument(
                f"log driver {host.log_config.type!r} is not supported: use json-file or k8s-file")
        began = time.monotonic()
        image_id, image_config = self.images.image_config(config.image)
        mount_plan = self.volumes.plan(config, host, image_config, self.store.find)
        merge_healthcheck(config, image_config)
        cid = new_id()
        _phase(cid, "create.begin", began)
        _phase(cid, "image_lookup")
        if not name:
            name = generate_name()
            while any(r.name == name for r in self.store.all()):
                name = generate_name() + str(len(self.store.all()))
        config.exposed_ports[:] = exposed_ports(config.exposed_ports, image_config, host.port_bindings)
        port_requests(host.port_bindings, host.publish_all_ports, list(config.exposed_ports))  # checked now
        hostname = hostname_for(kind, peer, config.hostname, cid)
        entrypoint = list(config.entrypoint.values) if config.HasField("entrypoint") else None
        cmd = list(config.cmd) or None
        args = process_args(image_config, entrypoint, cmd)
        stop = parse_signal(config.stop_signal or image_config.get("StopSignal") or "SIGTERM")
        record = ContainerRecord(
            id=cid, name=name, created=utc_now(), image_id=image_id, config=config, host_config=host,
            args=args, hostname=hostname, stop_signal=stop,
            stop_timeout=config.stop_timeout if config.HasField("stop_timeout") else 10,
        )
        self.store.reserve(record)
        cdir = self._dir(record)
        try:
            info = self.images.prepare(cid, image_id)
            _phase(cid, "snapshot_prepare")
            rootfs = cdir / "rootfs"
            mount_overlay(rootfs, info.lowerdirs, info.upperdir, info.workdir)
            _phase(cid, "overlay_mount")
            record.rootfs = {"lowerdirs": info.lowerdirs, "upperdir": info.upperdir, "workdir": info.workdir}
            attached = self.volumes.setup(cid, mount_plan, rootfs)
            record.mounts = attached.records
            _phase(cid, "volumes")
            user_text = config.user or image_config.get("User") or ""
            record.networks = networks
            etc = self.netglue.etc_files(record, kind, peer)
            context = SpecContext(
                id=cid, rootfs=rootfs, root_path="rootfs", image_config=image_config, hostname=hostname,
                binds=attached.binds, tmpfs_mounts=attached.tmpfs, security=security, etc_files=etc,
                network=self.netglue.spec_network(cid, kind, peer),
                cgroups_path=f"/barque/{cid}", facts=HostFacts(cgroup_v2=self.cgroup_v2),
            )
            spec = build_spec(config, host, context)
            (cdir / "config.json").write_text(json.dumps(spec, indent=1))
            _phase(cid, "spec")
            # inspect shows the merged config, as docker's: the image's values where no flag was given
            if entrypoint is None:
                if image_config.get("Entrypoint"):
                    config.entrypoint.values[:] = list(image_config["Entrypoint"])
                if not config.cmd:
                    config.cmd[:] = list(image_config.get("Cmd") or [])
            config.stop_signal = config.stop_signal or str(image_config.get("StopSignal") or "")
            config.working_dir = config.working_dir or str(image_config.get("WorkingDir") or "")
            record.env = list(spec["process"]["env"])
            record.working_dir = spec["process"]["cwd"]
            record.user = user_text
            record.log_path = str(cdir / f"{cid}-json.log")
            self.store.save(record)
            _phase(cid, "record")
            self.volumes.commit(cid)
        except BaseException:
            self._teardown(record)
            raise
        self.events.emit("create", cid, name=name, image=config.image)
        log.info("container.created", id=cid, name=name, image=config.image)
        return record

    # ---- start, wait, watch ---------------------------------------------------

    @applies("Config.open_stdin")
    def start(self, ref: str, *, wait_attach: bool = False, by_policy: bool = False) -> ContainerRecord:
        """A user's start, or (``by_policy``) the restart its policy asked for."""
        record = self.store.find(ref)
        self._settle_exit(record)
        with self._lock(record.id):
            if (record.status == RESTARTING) != by_policy:
                return record  # a user start of one waiting to restart is Docker's no-op; so is a cancelled restart
            if refresh(record, self._dir(record) / "shim"):
                return record  # docker start of a running container is a no-op
            if not by_policy:  # Docker's ResetRestartManager: a user start begins afresh
                self.restarts.reset(record.id)
                record.restart_count, record.manually_stopped = 0, False
            cdir = self._dir(record)
            shim_dir = cdir / "shim"
            if record.starts:
                self._oci("delete", "--force", record.id, check=False)
                shutil.rmtree(shim_dir, ignore_errors=True)
            shim_dir.mkdir(mode=0o700, exist_ok=True)
            done = threading.Event()
            self._exited[record.id] = done
            host = record.host_config
            opts = host.log_config.config
            runtime = [shimclient.INPROC_OCI] if self.zygote is not None else self.oci
            config = shimclient.ShimConfig(
                container_id=record.id, bundle=str(cdir), state_dir=str(shim_dir),
                runtime=runtime[0], runtime_args=tuple(runtime[1:]), runtime_root=str(self.oci_root),
                log_path=record.log_path, log_driver=host.log_config.type,
                log_max_size=from_human_size(opts["max-size"]) if "max-size" in opts else 0,
                log_max_file=int(opts.get("max-file") or 1), stdin=record.config.open_stdin,
                tty=record.config.tty, wait_attach=wait_attach, oom_cgroup=self._oom_cgroup(record.id),
            )
            _phase(record.id, "start.begin")
            if network_kind(host.network_mode) == "container":
                self.netglue.join_peer(record, cdir)
            else:
                self.netglue.connect(record, cdir)
                self.network_api.endpoint_events("connect", record, self.netglue.live(record.id))
                _phase(record.id, "network")
            try:
                if self.zygote is not None:
                    self.zygote.spawn_shim(config)
                else:
                    shimclient.spawn_shim(config)
            except BaseException:
                self.netglue.disconnect(record)
                done.set()  # no run to wait for
                raise
            _phase(record.id, "shim_spawn")
            record.status, record.starts = "running", record.starts + 1
            record.started_at, record.error, record.oom_killed = utc_now(), "", False
            self.store.save(record)
        if not wait_attach:
            try:
                self._await_started(record)
            except BaseException:
                with self._lock(record.id):  # create or start failed: nothing of the network stays
                    self.netglue.disconnect(record)
                done.set()
                raise
        else:  # its process starts once a client attached; Docker's event all the same
            self.events.emit("start", record.id, name=record.name)
        self.volumes.events("mount", record.id, record.mounts)
        self._watch(record)
        return record

    def _await_started(self, record: ContainerRecord, timeout: float = 30.0) -> None:
        status = shimclient.wait_status(str(self._dir(record) / "shim"), ("running", "exited"), timeout=timeout)
        with self.store.lock:
            refresh(record, self._dir(record) / "shim")
            self.store.save(record)
        _phase(record.id, "oci_create_start")
        if status.state == "exited" and status.error:
            raise FailedPrecondition(status.error)
        self.events.emit("start", record.id, name=record.name)

    def _watch(self, record: ContainerRecord) -> None:
        done = self._exited.setdefault(record.id, threading.Event())
        run = record.starts
        self._exits.watch(self._dir(record) / "shim", record.pid, lambda: self._on_exit(record.id, done, run),
                          name=f"watch-{record.id[:12]}")

    def _settle_exit(self, record: ContainerRecord, timeout: float = 30.0) -> None:
        """Wait until the last run's exit is handled (its network given back,
        its status saved) when its process is gone but the watcher has not
        finished yet: a wait that returned on the supervisor's status can be
        followed at once by a start, which must not race that handling."""
        done = self._exited.get(record.id)
        if done is None or done.is_set() or threading.current_thread().name == f"watch-{record.id[:12]}":
            return
        with self.store.lock:
            running = refresh(record, self._dir(record) / "shim")
        if not running:
            done.wait(timeout)

    @applies("HostConfig.auto_remove")
    def _on_exit(self, container_id: str, done: threading.Event, run: int) -> None:
        try:
            record = self.store.find(container_id)
        except Exception:
            done.set()
            return
        if record.starts != run:  # a later run began meanwhile: this exit is not its
            done.set()
            return
        _phase(container_id, "exit_reported")
        try:
            endpoints = self.netglue.live(container_id)
            self.netglue.disconnect(record)  # Docker frees the published ports before wait returns
            self.network_api.endpoint_events("disconnect", record, endpoints)
        except Exception as exc:  # logged; rm and the next start retry it
            log.warning("container.network_disconnect_failed", id=container_id, error=str(exc))
        with self.store.lock:
            refresh(record, self._dir(record) / "shim")
            if record.status == "running":  # supervisor gone, process gone
                record.status, record.finished_at = "exited", utc_now()
            delay = self.restarts.exited(record)
            self.store.save(record)
        if record.oom_killed:
            self.events.emit("oom", container_id, name=record.name)
        self.events.emit("die", container_id, name=record.name, exitCode=str(record.exit_code))
        self.volumes.events("unmount", container_id, record.mounts)
        log.info("container.exited", id=container_id, exit_code=record.exit_code, oom=record.oom_killed,
                 restart_in=delay)
        if delay is not None:
            self.restarts.arm(container_id, delay)
        elif record.host_config.auto_remove and not self.restarts.kept(container_id):
            self._remember_exit(container_id, ExitStatus(record.exit_code, record.oom_killed, record.error))
            self._auto_remove(container_id)
        done.set()

    def _remember_exit(self, container_id: str, status: ExitStatus) -> None:
        with self._guard:
            self._removed_exits[container_id] = status
            while len(self._removed_exits) > REMEMBERED_EXITS:
                del self._removed_exits[next(iter(self._removed_exits))]

    def _auto_remove(self, container_id: str) -> None:
        try:
            self.delete(container_id, force=True, remove_volumes=True)  # --rm takes its anonymous volumes
        except Exception as exc:  # logged: nobody else will see it
            log.warning("container.auto_remove_failed", id=container_id, error=str(exc))

    def final_exit(self, container_id: str) -> ExitStatus:
        """The status a Run or Attach stream reports once the container's
        output ended: :meth:`wait` for the next exit or, when ``--rm``
        removed the container first, the status it exited with. (``wait``
        itself answers "no such container" then, as Docker's does.)"""
        try:
            return self.wait(container_id, "next-exit")
        except NotFound:
            with self._guard:
                removed = self._removed_exits.get(container_id)
            if removed is None:
                raise
            return removed

    def wait(self, ref: str, condition: str = "not-running") -> ExitStatus:
        record = self.store.find(ref)
        if condition not in ("", "not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition {condition!r}")
        with self.store.lock:
            running = refresh(record, self._dir(record) / "shim")
        if not running and condition in ("", "not-running"):
            self._settle_exit(record)  # Docker's wait answers once the engine has handled the exit
        if running or condition in ("next-exit", "removed"):
            done = self._exited.get(record.id)
            if done is None:
                if not running and condition == "next-exit":
                    raise FailedPrecondition(f"container {ref} is not running")
            else:
                done.wait()
        if condition == "removed":
            while True:
                try:
                    self.store.find(record.id)
                except Exception:
                    break
                time.sleep(0.02)
        return ExitStatus(record.exit_code, record.oom_killed, record.error)

    def attach(self, ref: str, *, stdin: bool, stdout: bool, stderr: bool, height: int = 0, width: int = 0):
        """Attach to a container's streams; ``height``/``width`` size its terminal (with -t)."""
        record = self.store.find(ref)
        return shimclient.attach(str(self._dir(record) / "shim"), stdin=stdin, stdout=stdout, stderr=stderr,
                                 height=height, width=width)

    # ---- signals, stop, delete ---------------------------------------------------

    def _restart_due(self, container_id: str) -> None:
        """The restart manager's timer: start it again, unless a stop or rm came first."""
        try:
            self.start(container_id, by_policy=True)
        except NotFound:
            return
        except Exception:  # Docker: a failed restart leaves it stopped
            with self._lock(container_id):
                record = self.store.find(container_id)
                if record.status == RESTARTING:
                    record.status, record.finished_at = "exited", utc_now()
                    self.store.save(record)
            raise

    def _manual_stop(self, record: ContainerRecord, cancel: bool = True) -> None:
        """A user's stop, kill or rm -f (Docker's killWithSignal): it counts as
        stopped by the user and, with ``cancel``, restarts nothing until a user
        starts it again; one waiting to restart is stopped now."""
        if cancel:
            self.restarts.cancel(record.id)
        with self._lock(record.id):
            record.manually_stopped = True
            if cancel and record.status == RESTARTING:
                record.status = "exited"
            self.store.save(record)

    def restart(self, ref: str, timeout: int | None = None) -> ContainerRecord:
        """Docker's restart: stop (its exit neither restarts nor auto-removes
        it), then a user's start; a "restart" event. A stopped one just starts."""
        record = self.store.find(ref)
        self.restarts.keep(record.id, True)
        try:
            self.stop(record.id, timeout)
        finally:
            self.restarts.keep(record.id, False)
        record = self.start(record.id)
        self.events.emit("restart", record.id, name=record.name)
        return record

    def kill(self, ref: str, sig: str = "SIGKILL") -> None:
        record = self.store.find(ref)
        signum = parse_signal(sig or "SIGKILL")
        with self.store.lock:
            running = refresh(record, self._dir(record) / "shim")
        if not running and record.status != RESTARTING:
            raise FailedPrecondition(f"Cannot kill container: {ref}: Container {record.id} is not running")
        self._manual_stop(record, cancel=kill_cancels(record.config.stop_signal, signum))
        with self.store.lock:
            if not refresh(record, self._dir(record) / "shim"):
                return  # it waited to restart: Docker signals nothing, emits nothing
        self._oci("kill", record.id, str(signum))
        self.events.emit("kill", record.id, name=record.name, signal=str(signum))

    def stop(self, ref: str, timeout: int | None = None) -> None:
        record = self.store.find(ref)
        with self.store.lock:
            running = refresh(record, self._dir(record) / "shim")
        if not running and record.status != RESTARTING:
            return
        self._manual_stop(record)  # before the signal: its exit restarts nothing
        with self.store.lock:
            if not refresh(record, self._dir(record) / "shim"):  # it waited to restart: stopped now
                self.events.emit("stop", record.id, name=record.name)
                return
        grace = record.stop_timeout if timeout is None else timeout
        done = self._exited.get(record.id)
        self._oci("kill", record.id, str(record.stop_signal), check=False)
        if done is None or not done.wait(max(0, grace)):
            self._oci("kill", record.id, str(int(signal.SIGKILL)), check=False)
            if done is not None:
                done.wait(30)
        self.events.emit("stop", record.id, name=record.name)

    def delete(self, ref: str, force: bool = False, remove_volumes: bool = False) -> str:
        """``rm [-f] [-v]``: ``remove_volumes`` also removes its anonymous volumes."""
        record = self.store.find(ref)
        with self.store.lock:
            running = refresh(record, self._dir(record) / "shim")
        if (running or record.status == RESTARTING) and not force:
            raise FailedPrecondition(
                f"You cannot remove a {'running' if running else RESTARTING} container {record.id}. "
                "Stop the container before attempting removal or force remove"
            )
        self._manual_stop(record)  # nothing restarts it from now on; waits for a restart under way
        with self.store.lock:
            running = refresh(record, self._dir(record) / "shim")
        if running:
            self._oci("kill", record.id, str(int(signal.SIGKILL)), check=False)
            done = self._exited.get(record.id)
            if done is not None and threading.current_thread().name != f"watch-{record.id[:12]}":
                done.wait(30)
        with self._lock(record.id):
            self._teardown(record, remove_volumes)
        self.restarts.reset(record.id)
        _phase(record.id, "teardown")
        self.events.emit("destroy", record.id, name=record.name)
        log.info("container.deleted", id=record.id)
        return record.id

    def _teardown(self, record: ContainerRecord, remove_volumes: bool = False) -> None:
        """Remove everything a container holds; safe on a half-created one
        (whose new volumes go too)."""
        cdir = self._dir(record)
        if (self.oci_root / record.id).exists():
            self._oci("delete", "--force", record.id, check=False)
        unmount(cdir / "rootfs")
        if record.rootfs or (cdir / "rootfs").exists():
            try:
                self.images.remove_snapshot(record.id)
            except NotFound:
                pass  # never prepared, or already removed
        self.networks.disconnect(record.id)
        self.volumes.release(record.id, record.mounts, remove_anonymous=remove_volumes)
        shutil.rmtree(cdir, ignore_errors=True)
        self.store.forget(record.id)
        self._exited.pop(record.id, None)
        with self._guard:
            self._locks.pop(record.id, None)

    # ---- queries -----------------------------------------------------------------

    def inspect(self, ref: str) -> ContainerView:
        record = self.store.find(ref)
        with self.store.lock:
            running = refresh(record, self._dir(record) / "shim")
        return ContainerView(record, running, tuple(self.netglue.live(record.id)) if running else ())

    def inspect_document(self, ref: str) -> tuple[ContainerView, dict]:
        """The container and Docker's ContainerJSON of it, built from the
        record and this runtime's layout (:mod:`services.runtime.engine.inspect`)."""
        from services.runtime.engine.inspect import container_json

        view = self.inspect(ref)
        return view, container_json(view.record, view.running, self._dir(view.record), view.endpoints)

    def list(self, all_: bool = False, filters: list[str] | None = None) -> list[ContainerView]:
        views = []
        live = self.netglue.live_all()
        for record in self.store.all():
            with self.store.lock:
                running = refresh(record, self._dir(record) / "shim")
            views.append(ContainerView(record, running, tuple(live.get(record.id, ())) if running else ()))
        views = [v for v in views if all_ or v.running or v.record.status == RESTARTING]
        for key, values in parse_filters(filters or []).items():
            views = [v for v in views if any(matches(v, key, val) for val in values)]
        return sorted(views, key=lambda v: v.record.created, reverse=True)

    def info(self):
        """Docker's ``info`` of this engine: the containers by state, plus the
        host, cgroup, runtime and security facts :mod:`services.runtime.engine.info`
        gathers (a paused container counts as paused, not running)."""
        from services.runtime.engine.info import ContainerCounts, engine_info

        views = self.list(all_=True)
        paused = sum(v.record.status == "paused" for v in views)
        running = sum(v.running and v.record.status != "paused" for v in views)
        counts = ContainerCounts(running, paused, len(views) - running - paused)
        return engine_info(root=self.root, oci=self.oci, counts=counts, cgroup_v2=self.cgroup_v2,
                           cgroup_root=self.cgroup_root)

    def logs(self, ref: str, *, follow: bool, since_ns: int, until_ns: int, tail: int,
             stdout: bool, stderr: bool, cancelled: Callable[[], bool]) -> Iterator:
        from services.runtime.engine.logs import read_logs

        record = self.store.find(ref)
        if not record.log_path:
            return iter(())

        def stop() -> bool:
            if cancelled():
                return True
            with self.store.lock:
                return not refresh(record, self._dir(record) / "shim")

        return read_logs(record.log_path, record.host_config.log_config.type, follow=follow,
                         since_ns=since_ns, until_ns=until_ns, tail=tail, stdout=stdout, stderr=stderr,
                         stop=stop)


def _phase(container_id: str, phase: str, at: float | None = None) -> None:
    """A debug event that ends one phase of a container's life, with a
    monotonic timestamp: ``bench/runprofile.py`` turns consecutive ones into
    durations (image lookup, snapshot, overlay mount, spec, shim spawn,
    barque-oci create and start, exit reported, teardown)."""
    log.debug("container.phase", id=container_id, phase=phase,
              mono=time.monotonic() if at is None else at)


def _copy(message):
    out = type(message)()
    out.CopyFrom(message)
    return out


def _default_oci() -> list[str]:
    """barque-oci next to our interpreter (the venv's script), else the module."""
    script = Path(sys.executable).with_name("barque-oci")
    return [str(script)] if script.exists() else [sys.executable, "-m", "services.runtime.oci"]

