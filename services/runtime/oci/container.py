"""Container lifecycle as runc's commands: create, start, state, kill, delete,
exec, run. This is the library surface a supervisor may import instead of
calling the CLI; it must be called from a single-threaded process (it forks).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import select
import signal
import socket
import sys
import time

from services.common.atomic import write_atomic
from client.errors import FailedPrecondition, Internal

from . import (cgroups, console, execcgroup, foreground, hooks, init, process, ptyrelay,
               spec as specmod, syscalls, userns)
from .state import (STATUS_CREATED, STATUS_PAUSED, STATUS_RUNNING, STATUS_STOPPED,
                    ContainerNotFound, ContainerState, StateStore)

__all__ = ["create", "start", "state", "kill", "delete", "exec_in", "run", "list_states",
           "kill_all", "pause", "resume", "InitFailed", "wait_status"]

_START_TIMEOUT = 10.0


class InitFailed(FailedPrecondition):
    """The container process reported an error before it was ready."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def _read_child_reports(reader: int, on_request=None,
                        reported: dict | None = None) -> tuple[int, dict]:
    """Read {"pid"} and {"ready"}, or an {"error"}, from the sync pipe; a
    {"usermap": pid} or {"mountsources": pid} request is answered by
    ``on_request(message)``, and the init's {"hooks"} request by
    ``on_request({"hooks": True, "pid": its host pid})`` once that pid came.
    The pid is also put in ``reported`` as soon as it comes, so that a caller
    can kill an init whose creation then failed.

    The two come from different processes (the intermediate reports the pid
    after its fork returns, the container process reports ready when set up)
    and so in either order: a fast init on a loaded host is ready before its
    parent has written the pid."""
    pid = 0
    ready: dict | None = None
    hooks_wanted = False
    reported = {} if reported is None else reported
    with os.fdopen(reader, "rb") as f:
        for line in f:
            msg = json.loads(line)
            if "error" in msg:
                raise InitFailed(msg["error"], int(msg.get("code", 1)))
            if ("usermap" in msg or "mountsources" in msg or "hooks" in msg) and on_request is None:
                raise InitFailed(f"unexpected request {sorted(msg)} from the container's process")
            if "usermap" in msg or "mountsources" in msg:
                on_request(msg)
            if "pid" in msg:
                pid = reported["pid"] = int(msg["pid"])
            hooks_wanted = hooks_wanted or "hooks" in msg
            if hooks_wanted and pid:
                hooks_wanted = False
                on_request({"hooks": True, "pid": pid})
            if msg.get("ready"):
                ready = msg
            if pid and ready is not None:
                return pid, ready
    if ready is not None:
        raise InitFailed("container init reported ready but its pid never came")
    raise InitFailed("container process exited before it was ready")


def _spawn(target, *args) -> tuple[int, int]:
    """Fork ``target(*args, sync_fd)``; return (child pid, read end)."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reader)
        target(*args, writer)
        os._exit(1)
    os.close(writer)
    return child, reader


def _start_process(target, console_sock, *args, on_request=None) -> int:
    """Fork ``target(*args, sync_fd)``, whose args pass on ``console_sock``
    (closed here once the child holds it), and return the pid of the
    container process it reports ready. The forked child exits after
    reporting, so it is reaped here whatever it said."""
    child, reader = _spawn(target, *args)
    if console_sock is not None:
        console_sock.close()
    reported: dict = {}
    try:
        pid, _ = _read_child_reports(reader, on_request, reported)
    except BaseException:
        # an init left blocked (on a request answered by an error here) dies with the failure
        if reported.get("pid"):
            _kill_quietly(reported["pid"])
            _wait_gone(reported["pid"], 0)
        raise
    finally:
        _reap(child)
    return pid


class _CreationHooks:
    """The ``create`` side of runc's procHooks point: asked by the init once
    its rootfs is mounted (before pivot_root), run the prestart and
    createRuntime hooks here, in the runtime's namespaces, with the init's
    host pid in their state; then release the init with b"1" on the pipe it
    reads. A hook's failure is raised (the init, left waiting, is killed)."""

    def __init__(self, spec: dict, container_id: str, bundle: str):
        self.spec, self.container_id, self.bundle = spec, container_id, bundle
        self.pipe = os.pipe() if hooks.has(spec, "prestart", "createRuntime") else (-1, -1)

    def __call__(self, pid: int) -> None:
        state = hooks.state_document(self.spec, self.container_id, self.bundle, "creating", pid)
        hooks.run(self.spec, "prestart", state)
        hooks.run(self.spec, "createRuntime", state)
        os.write(self.pipe[1], b"1")

    def close(self) -> None:
        for fd in self.pipe:
            if fd >= 0:
                os.close(fd)
        self.pipe = (-1, -1)


class _UsernsHelper:
    """The ``create`` side of a container in a user namespace: a socket pair
    whose other end the intermediate holds, on which this process answers
    its requests, b"1" for done (b"0" for failed, then the error is raised
    here): write the maps of the new namespace, and send the fds of the bind
    mount sources opened in its mount namespace."""

    def __init__(self, spec: dict, bundle: str):
        self.spec, self.bundle = spec, bundle
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ours, self.theirs = ours.detach(), theirs.detach()

    def __call__(self, request: dict) -> None:
        try:
            if "usermap" in request:
                userns.write_maps(int(request["usermap"]), self.spec)
                os.write(self.ours, b"1")
                return
            sources = userns.bind_sources(self.spec, self.bundle)
            fds = userns.open_sources(int(request["mountsources"]), sources)
        except BaseException:
            os.write(self.ours, b"0")
            raise
        try:
            userns.send_sources(self.ours, fds)
        finally:
            for fd in fds:
                os.close(fd)

    def close(self) -> None:
        for fd in (self.ours, self.theirs):
            if fd >= 0:
                os.close(fd)
        self.ours = self.theirs = -1


def _write_pid_file(pid_file: str | None, pid: int) -> None:
    """runc's ``--pid-file``: the process's host pid, replaced atomically."""
    if pid_file:
        write_atomic(pid_file, str(pid).encode(), mode=0o644)


def _load_in(store: StateStore, container_id: str, wanted: str,
             verb: str) -> ContainerState:
    """The container's state, which must be ``wanted`` to ``verb`` it."""
    st = store.load(container_id)
    status = store.status(st)
    if status != wanted:
        raise FailedPrecondition(f"cannot {verb} container {container_id!r} in {status} state")
    return st


def _reap(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return status


def _kill_quietly(pid: int) -> None:
    if pid > 0:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def create(store: StateStore, container_id: str, bundle: str, pid_file: str | None = None,
           console_socket: str | None = None, preserve_fds: int = 0,
           relay: ptyrelay.PtyRelay | None = None) -> ContainerState:
    """Set the container up and leave its init blocked on the exec fifo.
    A terminal's master goes to ``console_socket``, or (a foreground ``run``)
    to ``relay``, which then has to :meth:`~ptyrelay.PtyRelay.receive` it."""
    specmod.validate_id(container_id)
    bundle = os.path.abspath(bundle)
    spec = specmod.load_bundle(bundle)
    hooks.validate(spec)
    ptyrelay.check_terminal(bool((spec.get("process") or {}).get("terminal")), relay is None,
                            console_socket)
    linux = spec.get("linux") or {}
    store.reserve(container_id)
    manager = None
    init_pid = 0
    sock = None
    helper = _UsernsHelper(spec, bundle) if userns.joins(spec) else None
    creation_hooks = _CreationHooks(spec, container_id, bundle)

    def on_request(message: dict) -> None:
        if "hooks" in message:
            creation_hooks(int(message["pid"]))
        elif helper is not None:
            helper(message)
        else:
            raise InitFailed(f"unexpected request {sorted(message)} from the container's process")

    try:
        if userns.joins(spec):
            # as runc: the exec fifo belongs to the container's root
            os.chown(store.fifo(container_id), *userns.host_root(spec))
        manager = cgroups.new_manager(linux.get("cgroupsPath"), container_id)
        manager.create()
        manager.apply(linux.get("resources"))
        if console_socket:
            sock = console.connect_socket(console_socket)
        elif relay is not None:
            sock, relay.child_socket = relay.child_socket, None
        cfg = init.InitConfig(spec, bundle, store.fifo(container_id), manager, sock,
                              preserve_fds, helper.theirs if helper else -1,
                              container_id=container_id, hooks_pipe=creation_hooks.pipe)
        init_pid = _start_process(init.intermediate_main, sock, cfg, on_request=on_request)
        state = ContainerState(
            id=container_id, bundle=bundle, rootfs=spec["root"]["path"], pid=init_pid,
            pid_start=syscalls.process_start_time(init_pid) or 0,
            created=datetime.datetime.now(datetime.timezone.utc).isoformat().replace(
                "+00:00", "Z"),
            annotations=spec.get("annotations") or {}, cgroup=manager.to_state(),
            namespaces=[ns["type"] for ns in linux.get("namespaces") or ()],
            oci_version=spec.get("ociVersion", specmod.OCI_VERSION), config=spec)
        if not state.pid_start:
            raise InitFailed("container init exited during create")
        store.save(state)
        _write_pid_file(pid_file, init_pid)
        return state
    except BaseException:
        _kill_quietly(init_pid)
        if init_pid:
            _wait_gone(init_pid, 0)
        if manager is not None:
            try:
                manager.destroy(force=True)
            except Exception:  # keep the original error; the state dir is removed anyway
                pass
        store.remove(container_id)
        raise
    finally:
        creation_hooks.close()
        if helper is not None:
            helper.close()


def _wait_gone(pid: int, start: int, timeout: float = 5.0) -> None:
    """Wait until ``pid`` (started at ``start``; 0 = any) is dead or a zombie."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = syscalls.process_start_time(pid)
        if now is None or (start and now != start):
            return
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.01)
    raise Internal(f"process {pid} did not exit after SIGKILL")


def start(store: StateStore, container_id: str) -> None:
    """Release the created init: open the exec fifo for reading, consume its byte."""
    st = _load_in(store, container_id, STATUS_CREATED, "start")
    fifo = store.fifo(container_id)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if poller.poll(50) and os.read(fd, 1) == b"0":
                break
            if not store.alive(st):
                raise FailedPrecondition(f"container {container_id!r} init exited before start")
            if time.monotonic() > deadline:
                raise Internal(f"container {container_id!r} init did not answer start")
    finally:
        os.close(fd)
    os.unlink(fifo)
    if hooks.has(st.config, "poststart"):
        # runtime-spec (and runc 1.2): after the user's process started; a
        # failure kills it, as runc kills the init, and fails start
        try:
            hooks.run(st.config, "poststart",
                      hooks.state_document(st.config, st.id, st.bundle, STATUS_RUNNING, st.pid))
        except hooks.HookFailed:
            _kill_quietly(st.pid)
            _wait_gone(st.pid, st.pid_start)
            raise


def state(store: StateStore, container_id: str) -> dict:
    return store.describe(store.load(container_id))


def kill(store: StateStore, container_id: str, sig: int = signal.SIGTERM) -> None:
    st = store.load(container_id)
    status = store.status(st)
    if status == STATUS_STOPPED:
        raise FailedPrecondition(f"container {container_id!r} is not running")
    try:
        os.kill(st.pid, sig)
    except ProcessLookupError as exc:
        raise FailedPrecondition(f"container {container_id!r} is not running") from exc
    if status == STATUS_PAUSED and sig == signal.SIGKILL:
        # as runc: a frozen (v1) task dies only once thawed; thaw for SIGKILL only
        cgroups.manager_from_state(st.cgroup).freeze(False)


def pause(store: StateStore, container_id: str) -> None:
    """Freeze every process of a running container (its cgroup's freezer)."""
    st = _load_in(store, container_id, STATUS_RUNNING, "pause")
    if not st.cgroup or not cgroups.manager_from_state(st.cgroup).freeze(True):
        raise FailedPrecondition(f"container {container_id!r} has no freezer cgroup")


def resume(store: StateStore, container_id: str) -> None:
    st = _load_in(store, container_id, STATUS_PAUSED, "resume")
    cgroups.manager_from_state(st.cgroup).freeze(False)


def kill_all(store: StateStore, container_id: str, sig: int = signal.SIGTERM) -> None:
    """Signal every process in the container's cgroup (``kill --all``)."""
    st = store.load(container_id)
    if not st.cgroup:
        raise FailedPrecondition(f"container {container_id!r} has no cgroup")
    for pid in cgroups.manager_from_state(st.cgroup).pids():
        _forward(pid, sig)


def delete(store: StateStore, container_id: str, force: bool = False) -> None:
    """Remove a stopped (or created) container; ``force`` kills a running one.

    As runc: a container without state.json (an aborted create) has its dir
    removed, and with ``force`` a missing container is not an error.
    """
    try:
        st = store.load(container_id)
    except ContainerNotFound:
        store.remove(container_id)
        if force:
            return
        raise
    status = store.status(st)
    if status == STATUS_RUNNING and not force:
        raise FailedPrecondition(
            f"cannot delete container {container_id!r} that is running (use --force)")
    if status != STATUS_STOPPED:
        _kill_quietly(st.pid)
        if status == STATUS_PAUSED:
            cgroups.manager_from_state(st.cgroup).freeze(False)
        _wait_gone(st.pid, st.pid_start)
    if st.cgroup:
        cgroups.manager_from_state(st.cgroup).destroy(force=force or status != STATUS_STOPPED)
    store.remove(container_id)
    # as runc: once the container is gone, so a failing hook fails delete and leaves nothing
    hooks.run(st.config, "poststop",
              hooks.state_document(st.config, st.id, st.bundle, STATUS_STOPPED, 0))


def wait_status(status: int) -> int:
    """Shell-style exit code from a wait status."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def exec_in(store: StateStore, container_id: str, proc: dict, detach: bool = False,
            pid_file: str | None = None, console_socket: str | None = None,
            preserve_fds: int = 0, ignore_paused: bool = False,
            sub_cgroups: list[str] | None = None) -> int:
    """Run another process (a runtime-spec ``process``) in the container;
    return its exit code (0 if detached). ``sub_cgroups`` are ``exec
    --cgroup``'s arguments (:mod:`.execcgroup`). A terminal without a console
    socket is relayed to our own stdio (:mod:`ptyrelay`), as runc does."""
    st = store.load(container_id)
    status = store.status(st)
    if status == STATUS_STOPPED:
        raise FailedPrecondition(f"cannot exec in stopped container {container_id!r}")
    if status == STATUS_PAUSED and not ignore_paused:
        # runc's words (cgroups.bats matches "cannot exec in a paused container")
        raise FailedPrecondition(f"cannot exec in a paused container {container_id!r} "
                                 "(use --ignore-paused to override)")
    specmod.validate_process(proc)
    manager = cgroups.manager_from_state(st.cgroup) if st.cgroup else None
    if manager is not None:
        manager = execcgroup.for_exec(manager, sub_cgroups, st.pid)
    namespaces = [k for k in init.NS_PROC_NAMES if k in st.namespaces]
    terminal = bool(proc.get("terminal"))
    ptyrelay.check_terminal(terminal, detach, console_socket)
    relay = ptyrelay.PtyRelay() if terminal and not console_socket else None
    try:
        if relay is not None:
            sock, relay.child_socket = relay.child_socket, None
        else:
            sock = console.connect_socket(console_socket) if console_socket else None
        if not detach:
            syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
        # as runc's exec: in the foreground, our signals are the process's
        with contextlib.nullcontext() if detach else foreground.forwarding() as forwarder:
            pid = _start_process(init.exec_main, sock, st.config, proc, st.pid, st.pid_start,
                                 namespaces, manager, sock, preserve_fds)
            if forwarder is not None:
                forwarder.target(pid)
            if relay is not None:
                relay.receive()
            _write_pid_file(pid_file, pid)
            if detach:
                return 0
            return wait_status(relay.wait(pid) if relay is not None else _reap(pid))
    finally:
        if relay is not None:
            relay.close()


def run(store: StateStore, container_id: str, bundle: str, pid_file: str | None = None,
        console_socket: str | None = None, preserve_fds: int = 0, keep: bool = False) -> int:
    """create + start in the foreground; forward signals; delete (unless
    ``keep``: runc's ``run --keep`` leaves the stopped container, its state
    and cgroup, for a later ``delete``); return the exit code. A poststop
    hook's failure after the process exited is written to stderr, as runc
    logs it; the exit code stays the process's."""
    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    relay = ptyrelay.PtyRelay() if foreground.wants_relay(bundle, console_socket) else None
    try:
        with foreground.forwarding() as forwarder:
            st = create(store, container_id, bundle, pid_file, console_socket, preserve_fds,
                        relay)
            forwarder.target(st.pid)
            try:
                if relay is not None:
                    relay.receive()
                start(store, container_id)
                code = wait_status(relay.wait(st.pid) if relay is not None else _reap(st.pid))
            except BaseException:
                _delete_after_run(store, container_id)
                raise
    finally:
        if relay is not None:
            relay.close()
    if not keep:
        _delete_after_run(store, container_id)
    return code


def _delete_after_run(store: StateStore, container_id: str) -> None:
    try:
        delete(store, container_id, force=True)
    except hooks.HookFailed as exc:
        sys.stderr.write("barque-oci: " + " ".join(str(exc).split()) + "\n")


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def list_states(store: StateStore) -> list[dict]:
    return [store.describe(store.load(i)) for i in store.list_ids()]

