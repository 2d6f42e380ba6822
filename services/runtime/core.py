"""The runtime's domain core: containers from images, run by barque-oci under
a per-container supervisor, with Docker's lifecycle semantics.

This module holds the state, create, delete and the recovery after a
restart; a run's start, exit, wait, stop, kill and restart are
:mod:`services.runtime.engine.lifecycle`, and inspect, list, info and logs
:mod:`services.runtime.engine.queries` (mixins on the state that
:mod:`services.runtime.engine.runtimestate` declares); the network API is
:mod:`services.runtime.engine.networkapi`.

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
from typing import Protocol

from barque.runtime.v1.runtime_pb2 import NetworkingConfig
from client.config import CgroupConfig, NetworkConfig, UsernsConfig
from client.errors import FailedPrecondition, Internal, InvalidArgument, NotFound
from client.units import parse_signal
from services.common.idmap import IdMapping
from services.common.log import get_logger
from services.runtime.engine.containers import (
    ContainerConfig,
    ContainerRecord,
    ContainerStore,
    HostConfig,
    new_id,
)
from services.common.events import EventLog
from services.runtime.engine.eventattrs import ContainerAttributes
from services.runtime.engine.lifecycle import ExitStatus, Lifecycle, phase
from services.runtime.engine.pausing import Pausing
from services.runtime.engine.rename import Renaming
from services.runtime.engine.sizes import Sizes
from services.runtime.engine.queries import ContainerView, Queries
from services.runtime.engine.health import merge_healthcheck
from services.runtime.engine.mounts import mount_overlay, unmount
from services.runtime.engine.exitwatch import ExitWatcher
from services.runtime.engine.restart import RESTARTING, RestartManager, comes_back, validate_policy
from services.runtime.engine.status import refresh, utc_now
from services.runtime.engine.networkapi import NetworkAPI
from services.runtime.engine.networking import ContainerNetworks, hostname_for
from services.runtime.network.dnsprocess import DnsResponder
from services.runtime.network.helperclient import NetworkHelper
from services.runtime.network.manager import Networks, NetworkSettings
from services.runtime.network.modes import exposed_ports, port_requests
from services.runtime.oci.cgroups import hierarchy
from services.runtime.shim import client as shimclient
from services.runtime.spec import HostFacts, SpecContext, build_spec, process_args
from services.runtime.spec.flags import parse_log_opts, parse_security_opts
from services.runtime.spec.options import applies, refuse_unapplied
from services.runtime.userns import RemapLayers, open_to_remapped_root
from services.runtime.volumes.manager import Volumes

__all__ = ["RuntimeService", "ImageSource", "ImageInfo", "ExitStatus", "ContainerView"]

log = get_logger()

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

    def image_size(self, image_id: str) -> int: ...


class RuntimeService(Lifecycle, Queries, Pausing, Renaming, Sizes):
    def __init__(self, root: Path, images: ImageSource, *, oci_command: list[str] | None = None,
                 warm: bool = True, cgroups: CgroupConfig = CgroupConfig(),
                 network: NetworkConfig = NetworkConfig(), run_dir: Path | None = None,
                 idmap: IdMapping | None = None, userns: UsernsConfig = UsernsConfig()) -> None:
        """``oci_command`` runs another OCI runtime (runc) instead of barque-oci;
        ``warm`` (barque-oci only) forks shims and barque-oci commands from a
        warm helper process instead of starting an interpreter for each.
        ``cgroups`` picks the hierarchy; barque-oci reads the same config.
        ``idmap`` is the ``--userns-remap`` range (None: no remapping), its
        layers shown as ``userns.layers`` says (:mod:`services.runtime.userns`)."""
        version, cgroup2_root = hierarchy(cgroups)
        self.cgroup_v2 = version == 2
        self.cgroup_root = Path(cgroup2_root) if self.cgroup_v2 else Path("/sys/fs/cgroup")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.store = ContainerStore(root / "containers")
        self.idmap = idmap
        self.remap: RemapLayers | None = None
        if idmap is not None:
            self.remap = RemapLayers(root, idmap, userns.layers)
            # the remapped root walks down to its rootfs: the state root, ours, and containers/
            open_to_remapped_root([root.parent, root, root / "containers"], idmap)
            self.remap.prune()  # copies of layers whose image went while we were down
        self.images = images
        self.oci_root = root / "oci"
        self.oci = oci_command or _default_oci()
        self.zygote = shimclient.Zygote(str(root / "zygote")) if warm and not oci_command else None
        if self.zygote is not None:
            self.zygote.ensure()
        self.events = EventLog(enrich=ContainerAttributes(self.store.get))
        self.volumes = Volumes(root / "volumes", lambda: [(r.id, r.mounts) for r in self.store.all()],
                               self.events.emit)
        if idmap is not None:
            self.volumes.store.data_owner = idmap.root
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
        if self.remap is not None:
            self.remap.close()
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
                elif was in ("running", "paused"):
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
        phase(cid, "create.begin", began)
        phase(cid, "image_lookup")
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
            phase(cid, "snapshot_prepare")
            rootfs = cdir / "rootfs"
            if self.remap is not None and host.userns_mode != "host":
                open_to_remapped_root([cdir], self.remap.idmap)
                self.remap.mount(rootfs, info.lowerdirs, info.upperdir, info.workdir, cdir / "layers")
            else:
                mount_overlay(rootfs, info.lowerdirs, info.upperdir, info.workdir)
            phase(cid, "overlay_mount")
            record.rootfs = {"lowerdirs": info.lowerdirs, "upperdir": info.upperdir, "workdir": info.workdir}
            attached = self.volumes.setup(cid, mount_plan, rootfs)
            record.mounts = attached.records
            phase(cid, "volumes")
            user_text = config.user or image_config.get("User") or ""
            record.networks = networks
            etc = self.netglue.etc_files(record, kind, peer)
            context = SpecContext(
                id=cid, rootfs=rootfs, root_path="rootfs", image_config=image_config, hostname=hostname,
                binds=attached.binds, tmpfs_mounts=attached.tmpfs, security=security, etc_files=etc,
                network=self.netglue.spec_network(cid, kind, peer),
                cgroups_path=f"/barque/{cid}", facts=HostFacts(cgroup_v2=self.cgroup_v2), idmap=self.idmap,
            )
            spec = build_spec(config, host, context)
            (cdir / "config.json").write_text(json.dumps(spec, indent=1))
            phase(cid, "spec")
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
            phase(cid, "record")
            self.volumes.commit(cid)
        except BaseException:
            self._teardown(record)
            raise
        self.events.emit("create", cid, name=record.name, image=config.image)
        log.info("container.created", id=cid, name=record.name, image=config.image)
        return record

    def delete(self, ref: str, force: bool = False, remove_volumes: bool = False) -> str:
        """``rm [-f] [-v]``: ``remove_volumes`` also removes its anonymous volumes."""
        record = self.store.find(ref)
        with self.store.lock:
            running = refresh(record, self._dir(record) / "shim")
        if running and record.status == "paused" and not force:
            raise FailedPrecondition(
                f"You cannot remove a paused container {record.id}. "
                "Unpause and then stop the container before attempting removal or force remove")
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
            self.events.emit("kill", record.id, name=record.name, signal=str(int(signal.SIGKILL)))  # as moby's rm -f
            self._thaw_after_signal(record)
            done = self._exited.get(record.id)
            if done is not None and threading.current_thread().name != f"watch-{record.id[:12]}":
                done.wait(30)
        with self._lock(record.id):
            self._teardown(record, remove_volumes)
        self.restarts.reset(record.id)
        phase(record.id, "teardown")
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
        try:  # even with no rootfs recorded: a create killed after the prepare left its snapshot
            self.images.remove_snapshot(record.id)
        except NotFound:
            pass  # never prepared, or already removed
        self.networks.disconnect(record.id)
        self.volumes.release(record.id, record.mounts, remove_anonymous=remove_volumes)
        shutil.rmtree(cdir, ignore_errors=True)
        if self.remap is not None:
            self.remap.prune()  # copies of layers whose image went meanwhile
        self.store.forget(record.id)
        self._exited.pop(record.id, None)
        with self._guard:
            self._locks.pop(record.id, None)

def _copy(message):
    out = type(message)()
    out.CopyFrom(message)
    return out


def _default_oci() -> list[str]:
    """barque-oci next to our interpreter (the venv's script), else the module."""
    script = Path(sys.executable).with_name("barque-oci")
    return [str(script)] if script.exists() else [sys.executable, "-m", "services.runtime.oci"]

