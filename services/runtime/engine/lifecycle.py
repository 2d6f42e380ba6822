"""A container's processes: start (by a user or its restart policy),
the exit watch and what an exit does (network given back, status saved,
restart armed or --rm removal), wait, attach, and stop, kill and restart
with Docker's semantics.

A mixin of :class:`~services.runtime.core.RuntimeService`, working on the
state :class:`~.runtimestate.RuntimeState` declares: the runtime's state
stays in one object, and this module holds the part of its behaviour that
follows a run from start to exit.
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from pathlib import Path

from client.errors import FailedPrecondition, InvalidArgument, NotFound
from client.units import from_human_size, parse_signal
from services.common.log import get_logger
from services.runtime.engine.containers import ContainerRecord
from services.runtime.engine.mounts import is_mounted, mount_overlay
from services.runtime.volumes.local import mount_data, parse_driver_opts
from services.runtime.engine.restart import RESTARTING, kill_cancels
from services.runtime.engine.runtimestate import ExitStatus, RuntimeState
from services.runtime.engine.status import refresh, utc_now
from services.runtime.network.modes import network_kind
from services.runtime.shim import client as shimclient
from services.runtime.spec.options import applies

__all__ = ["Lifecycle", "ExitStatus", "phase", "REMEMBERED_EXITS"]

log = get_logger()

#: how many exit statuses of --rm containers the service remembers after removing them
REMEMBERED_EXITS = 256


def phase(container_id: str, step: str, at: float | None = None) -> None:
    """A debug event that ends one phase of a container's life, with a
    monotonic timestamp: ``bench/runprofile.py`` turns consecutive ones into
    durations (image lookup, snapshot, overlay mount, spec, shim spawn,
    barque-oci create and start, exit reported, teardown)."""
    log.debug("container.phase", id=container_id, phase=step,
              mono=time.monotonic() if at is None else at)


class Lifecycle(RuntimeState):
    @applies("Config.open_stdin")
    def start(self, ref: str, *, wait_attach: bool = False, by_policy: bool = False) -> ContainerRecord:
        """A user's start, or (``by_policy``) the restart its policy asked for."""
        record = self.store.find(ref)
        self._settle_exit(record)
        with self._lock(record.id):
            if (record.status == RESTARTING) != by_policy:
                return record  # a user start of one waiting to restart is Docker's no-op; so is a cancelled restart
            if refresh(record, self._dir(record) / "shim"):
                if record.status == "paused":
                    raise FailedPrecondition("cannot start a paused container, try unpause instead")
                return record  # docker start of a running container is a no-op
            if not by_policy:  # Docker's ResetRestartManager: a user start begins afresh
                self.restarts.reset(record.id)
                record.restart_count, record.manually_stopped = 0, False
            cdir = self._dir(record)
            shim_dir = cdir / "shim"
            if record.starts:
                self._oci("delete", "--force", record.id, check=False)
                shutil.rmtree(shim_dir, ignore_errors=True)
            self._mount_again(record)
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
            phase(record.id, "start.begin")
            if network_kind(host.network_mode) == "container":
                self.netglue.join_peer(record, cdir)
            else:
                self.netglue.connect(record, cdir)
                self.network_api.endpoint_events("connect", record, self.netglue.live(record.id))
                phase(record.id, "network")
            try:
                if self.zygote is not None:
                    self.zygote.spawn_shim(config)
                else:
                    shimclient.spawn_shim(config)
            except BaseException:
                self.netglue.disconnect(record)
                done.set()  # no run to wait for
                raise
            phase(record.id, "shim_spawn")
            record.status, record.starts = "running", record.starts + 1
            record.started_at, record.error, record.oom_killed = utc_now(), "", False
            self.store.save(record)
            if not wait_attach:  # still under the lock: a stop or kill meanwhile waits for a running process
                try:
                    self._await_started(record)
                except BaseException:
                    self.netglue.disconnect(record)  # create or start failed: nothing of the network stays
                    done.set()
                    raise
        if wait_attach:  # its process starts once a client attached; Docker's event all the same
            self.events.emit("start", record.id, name=record.name)
        self.volumes.events("mount", record.id, record.mounts)
        self._watch(record)
        return record

    def _mount_again(self, record: ContainerRecord) -> None:
        """Its rootfs and its volumes' own mounts (a volume made with driver
        options: tmpfs, a bind, nfs), mounted at create, are gone after a host
        reboot: mount them again, over the same layers and writable dirs
        (what it wrote stays)."""
        for m in record.mounts:
            if m.get("Type") == "volume":
                volume = self.volumes.store.get(m["Name"])
                opts = parse_driver_opts(volume.options)
                if opts is not None and mount_data(opts, Path(volume.mountpoint)):
                    log.info("volume.mounted_again", id=record.id, volume=volume.name)
        rootfs = self._dir(record) / "rootfs"
        if not record.rootfs or is_mounted(rootfs):
            return
        lower, upper, work = record.rootfs["lowerdirs"], record.rootfs["upperdir"], record.rootfs["workdir"]
        remap = self.remap
        if remap is not None and record.host_config.userns_mode != "host":
            remap.mount(rootfs, lower, upper, work, self._dir(record) / "layers")
        else:
            mount_overlay(rootfs, lower, upper, work)
        log.info("container.rootfs_mounted_again", id=record.id)

    def _await_started(self, record: ContainerRecord, timeout: float = 30.0) -> None:
        status = shimclient.wait_status(str(self._dir(record) / "shim"), ("running", "exited"), timeout=timeout)
        with self.store.lock:
            refresh(record, self._dir(record) / "shim")
            self.store.save(record)
        phase(record.id, "oci_create_start")
        if status.state == "exited" and status.error:
            raise FailedPrecondition(status.error)
        self.events.emit("start", record.id, name=record.name)

    def _watch(self, record: ContainerRecord) -> None:
        done = self._exited.setdefault(record.id, threading.Event())
        run = record.starts
        self._exits.watch(self._dir(record) / "shim", record.pid, lambda: self._on_exit(record.id, done, run),
                          name=f"watch-{record.id[:12]}", on_lost=lambda: self._shim_lost(record.id))

    def _shim_lost(self, container_id: str) -> None:
        """Its shim died (SIGKILL) and the container runs on with nobody
        reaping it or holding its stdio: kill every process of its cgroup
        and remove the cgroup (``delete --force``), then record the exit the
        shim could not, :data:`~services.runtime.shim.client.SHIM_DIED`."""
        log.warning("container.shim_died", id=container_id, exit_code=shimclient.SHIM_DIED[0])
        self._oci("delete", "--force", container_id, check=False)
        shimclient.record_lost(str(self.store.dir(container_id) / "shim"), utc_now())

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

    def _settled_state(self, record: ContainerRecord) -> bool:
        """Whether it runs, once neither a start (a policy restart holds the
        lock until its process runs) nor the handling of an exit is under
        way: a stop or kill then sees it running, waiting to restart, or
        stopped, as Docker's container lock shows it, never in between."""
        for _ in range(3):  # a run that began and ended meanwhile: settle its exit too
            self._settle_exit(record)
            with self._lock(record.id), self.store.lock:
                running = refresh(record, self._dir(record) / "shim")
                done = self._exited.get(record.id)
                if running or done is None or done.is_set():
                    break
        return running

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
        phase(container_id, "exit_reported")
        try:
            endpoints = self.netglue.live(container_id)
            self.netglue.disconnect(record)  # Docker frees the published ports before wait returns
            self.network_api.endpoint_events("disconnect", record, endpoints)
        except Exception as exc:  # logged; rm and the next start retry it
            log.warning("container.network_disconnect_failed", id=container_id, error=str(exc))
        with self.store.lock:
            refresh(record, self._dir(record) / "shim")
            if record.status in ("running", "paused"):  # supervisor gone, process gone
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
        running = self._settled_state(record)
        if not running and record.status != RESTARTING:
            raise FailedPrecondition(f"Cannot kill container: {ref}: Container {record.id} is not running")
        self._manual_stop(record, cancel=kill_cancels(record.config.stop_signal, signum))
        with self.store.lock:
            if not refresh(record, self._dir(record) / "shim"):
                return  # it waited to restart: Docker signals nothing, emits nothing
        self._oci("kill", record.id, str(signum))
        self._thaw_after_signal(record)
        self.events.emit("kill", record.id, name=record.name, signal=str(signum))

    def stop(self, ref: str, timeout: int | None = None) -> None:
        record = self.store.find(ref)
        running = self._settled_state(record)
        if not running and record.status != RESTARTING:
            return
        self._manual_stop(record)  # before the signal: its exit restarts nothing
        with self.store.lock:
            if not refresh(record, self._dir(record) / "shim"):  # it waited to restart: stopped now
                self.events.emit("stop", record.id, name=record.name)
                return
        grace = record.stop_timeout if timeout is None else timeout
        done = self._exited.get(record.id)
        # moby's containerStop: each signal is a "kill" event, then "die", then "stop"
        self._oci("kill", record.id, str(record.stop_signal), check=False)
        self.events.emit("kill", record.id, name=record.name, signal=str(record.stop_signal))
        self._thaw_after_signal(record)
        if done is None or not done.wait(max(0, grace)):
            self._oci("kill", record.id, str(int(signal.SIGKILL)), check=False)
            self.events.emit("kill", record.id, name=record.name, signal=str(int(signal.SIGKILL)))
            if done is not None:
                done.wait(30)
        self.events.emit("stop", record.id, name=record.name)
