"""The two processes forked by ``create``, and the one forked by ``exec``.

Process model (runc's): ``create`` forks an intermediate that joins the cgroup,
joins or unshares the namespaces and forks the container init; the
intermediate reports the init's host pid and exits. The init (pid 1 in a new
pid namespace) builds the rootfs, pivots into it, drops privileges, reports
"ready" and then blocks opening the exec fifo for writing until ``start``
opens it for reading; then it execs the user's process.

Children talk to the ``create`` process over a pipe of JSON lines:
``{"pid": N}``, ``{"ready": true}`` or ``{"error": msg, "code": exit_code}``.
Every function here ends the process (os._exit or execve); none returns.
"""

from __future__ import annotations

import json
import os
import socket
import traceback
from dataclasses import dataclass
from typing import NoReturn

from client.errors import BarqueError, FailedPrecondition, InvalidArgument

from . import console, devnodes, hooks, oplog, process, rootfs, seccomp, syscalls, userns
from .cgroups import CgroupV1, CgroupV2

__all__ = ["NS_FLAGS", "NS_PROC_NAMES", "InitConfig", "intermediate_main", "exec_main",
           "send", "describe_error"]

NS_FLAGS = {
    "pid": syscalls.CLONE_NEWPID, "network": syscalls.CLONE_NEWNET,
    "mount": syscalls.CLONE_NEWNS, "ipc": syscalls.CLONE_NEWIPC,
    "uts": syscalls.CLONE_NEWUTS, "cgroup": syscalls.CLONE_NEWCGROUP,
    "user": syscalls.CLONE_NEWUSER,
}
#: spec namespace type -> /proc/<pid>/ns/<name>; setns order puts user first, mnt last
NS_PROC_NAMES = {"user": "user", "cgroup": "cgroup", "ipc": "ipc", "uts": "uts", "network": "net",
                 "pid": "pid", "mount": "mnt"}


@dataclass
class InitConfig:
    spec: dict
    bundle: str
    fifo_path: str
    cgroup: CgroupV1 | CgroupV2 | None
    console_socket: socket.socket | None
    #: fds 3..3+preserve_fds-1 stay open into the process (runc's --preserve-fds)
    preserve_fds: int = 0
    #: this end of the socket on which ``create`` answers the requests of a
    #: container in a user namespace (-1: the spec has none)
    userns_sock: int = -1
    #: index in ``mounts`` -> O_PATH fd of its source, opened by ``create``
    source_fds: dict[int, int] | None = None
    #: the container's id, for the state its createContainer/startContainer hooks read
    container_id: str = ""
    #: (read, write) of the pipe on which ``create`` answers b"1" once the
    #: prestart/createRuntime hooks ran ((-1, -1): the spec has none)
    hooks_pipe: tuple[int, int] = (-1, -1)


def send(fd: int, message: dict) -> None:
    os.write(fd, (json.dumps(message) + "\n").encode())


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, BarqueError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else str(exc.strerror)
    return f"{type(exc).__name__}: {exc}"


def _fail(sync: int, exc: BaseException) -> NoReturn:
    code = exc.exit_code if isinstance(exc, process.ExecFailed) else 1
    try:
        message = describe_error(exc)
        if not isinstance(exc, BarqueError):
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            message += f" (at {os.path.basename(frame.filename)}:{frame.lineno})"
        send(sync, {"error": message, "code": code})
    finally:
        os._exit(code)


def _prepare_exec(proc: dict, linux: dict) -> tuple[str, dict[str, str], list | None]:
    """Limits, capabilities, user and cwd applied, the executable found:
    everything that can still fail with a message for the caller, done
    before the child reports ready. Returns (path, env, seccomp program
    still to load)."""
    program = process.finalize(proc, linux.get("seccomp"))
    env = process.process_env(proc)
    return process.lookup_executable(proc["args"][0], env), env, program


def _exec(proc: dict, linux: dict, prepared: tuple[str, dict[str, str], list | None],
          preserve_fds: int) -> NoReturn:
    """Replace this process with the container's (nothing is reported any
    more: a failing execve writes to the process's stderr and exits 126/127)."""
    path, env, program = prepared
    umask = int((proc.get("user") or {}).get("umask", 0o022))
    process.exec_process(path, proc["args"], env, umask, program,
                         (linux.get("seccomp") or {}).get("flags"), preserve_fds)
    os._exit(127)


def _namespaces(spec: dict) -> tuple[int, list[tuple[str, str]]]:
    """(unshare flags for new namespaces, [(type, path)] to join)."""
    flags, joins = 0, []
    for ns in (spec.get("linux") or {}).get("namespaces") or ():
        if ns.get("path"):
            joins.append((ns["type"], ns["path"]))
        else:
            flags |= NS_FLAGS[ns["type"]]
    return flags, joins


def _join_order(join: tuple[str, str]) -> int:
    """setns order: mount after the others, a user namespace last. runc
    joins the user namespace first, which an unprivileged caller needs; as
    the host's root we may join any namespace, and joining the user
    namespace last also reaches namespaces it does not own (a network
    namespace the host made, shared with a container in another one)."""
    return {"mount": 1, "user": 2}.get(join[0], 0)


def _enter_sysctls(spec: dict, flags: int) -> None:
    """Before entering a user namespace, with a network namespace joined
    (the host's or a peer's, owned by the host): its sysctls, set while we
    are still the host's root."""
    linux = spec.setdefault("linux", {})
    if not flags & syscalls.CLONE_NEWNET and linux.get("sysctl"):
        linux["sysctl"] = userns.apply_host_sysctls(linux["sysctl"])


def _is_own_userns(fd: int) -> bool:
    own, other = os.stat("/proc/self/ns/user"), os.fstat(fd)
    return (own.st_dev, own.st_ino) == (other.st_dev, other.st_ino)


#: --debug's milestones, in runc's words (its nsexec and init log the same steps)
_log = oplog.get_logger("init")


def intermediate_main(cfg: InitConfig, sync: int) -> NoReturn:
    _log.debug("nsexec container setup")
    try:
        if cfg.hooks_pipe[1] >= 0:
            os.close(cfg.hooks_pipe[1])  # create's end: EOF here if create dies
        # opened while still the host's root: the state dir is closed to the
        # container's (remapped) root, which reopens it through /proc/self/fd
        fifo = os.open(cfg.fifo_path, os.O_PATH | os.O_CLOEXEC)
        if cfg.cgroup is not None:
            cfg.cgroup.join(0)
        flags, joins = _namespaces(cfg.spec)
        if not flags & syscalls.CLONE_NEWNS and not any(t == "mount" for t, _ in joins):
            raise InvalidArgument("a mount namespace is required")
        in_userns = userns.joins(cfg.spec)
        if in_userns:
            process.before_userns(cfg.spec["process"])  # inherited by the init
        ordered = sorted(joins, key=_join_order)
        # every path opened first: a joined mount namespace has a /proc of its own
        fds = [os.open(path, os.O_RDONLY | os.O_CLOEXEC) for _, path in ordered]
        try:
            for (kind, _), fd in zip(ordered, fds):
                if kind == "user":
                    _enter_sysctls(cfg.spec, flags)
                    if _is_own_userns(fd):
                        continue  # setns refuses the namespace one is in (EINVAL): nothing to join
                syscalls.setns(fd, NS_FLAGS[kind])
                if kind == "user":
                    userns.become_root()
        finally:
            for fd in fds:
                os.close(fd)
        if flags & syscalls.CLONE_NEWUSER:
            _enter_sysctls(cfg.spec, flags)
            userns.unshare_user(lambda message: send(sync, message), cfg.userns_sock)
            flags &= ~syscalls.CLONE_NEWUSER
        syscalls.unshare(flags)
        sources = userns.bind_sources(cfg.spec, cfg.bundle) if in_userns else []
        if sources and flags & syscalls.CLONE_NEWNS:
            # the remapped root may not reach them: create opens them in our mount namespace
            fds = userns.receive_sources(lambda message: send(sync, message), cfg.userns_sock,
                                         len(sources))
            cfg.source_fds = {index: fd for (index, _), fd in zip(sources, fds)}
        pid = os.fork()
        if pid == 0:
            _init_main(cfg, sync, flags, fifo, in_userns)
        send(sync, {"pid": pid})
    except BaseException as exc:  # report anything, then die: this is a forked child
        _fail(sync, exc)
    os._exit(0)


def _setup_terminal(cfg: InitConfig, root: str) -> int:
    """Allocate the pty in the container's devpts, bind it at /dev/console,
    hand the master to the caller. Returns the slave fd."""
    if cfg.console_socket is None:
        raise InvalidArgument("process.terminal is set but no --console-socket was given")
    master, slave, number = console.open_pty(os.path.join(root, "dev/pts/ptmx"))
    try:
        console.set_size(master, cfg.spec["process"].get("consoleSize"))
        target = rootfs.open_in_root(root, "/dev/console", create="file")
        try:
            syscalls.mount(os.path.join(root, "dev/pts", number), f"/proc/self/fd/{target}",
                           None, syscalls.MS_BIND)
        finally:
            os.close(target)
        console.send_master(cfg.console_socket, master)
    finally:
        os.close(master)
        cfg.console_socket.close()
    return slave


def _init_main(cfg: InitConfig, sync: int, new_ns: int, fifo: int, in_userns: bool) -> NoReturn:
    spec, proc = cfg.spec, cfg.spec["process"]
    linux = spec.get("linux") or {}
    _log.debug("child process in init()")
    try:
        syscalls.prctl(syscalls.PR_SET_DUMPABLE, 0)
        os.umask(0)
        if new_ns & syscalls.CLONE_NEWNET:
            syscalls.set_loopback_up()
        if new_ns & syscalls.CLONE_NEWUTS:
            if spec.get("hostname"):
                syscalls.sethostname(spec["hostname"])
            if spec.get("domainname"):
                syscalls.setdomainname(spec["domainname"])
        root = spec["root"]["path"]
        rootfs.prepare_root(root, linux.get("rootfsPropagation"))
        rootfs.mount_all(spec, root, cfg.bundle, cfg.cgroup,
                         cgroupns=bool(new_ns & syscalls.CLONE_NEWCGROUP), userns=in_userns,
                         source_fds=cfg.source_fds)
        devnodes.create_devices(spec, root, bind=in_userns)
        slave = _setup_terminal(cfg, root) if proc.get("terminal") else None
        _creation_hooks(cfg, sync, root)
        rootfs.pivot_root(root)
        rootfs.apply_sysctl(linux.get("sysctl"))
        rootfs.finish_readonly(spec)
        rootfs.readonly_paths(linux.get("readonlyPaths"))
        rootfs.mask_paths(linux.get("maskedPaths"))
        os.close(rootfs.open_in_root("/", proc.get("cwd") or "/", create="dir"))
        if spec["root"].get("readonly"):
            rootfs.remount_root_readonly()
        if slave is not None:
            console.make_controlling(slave)
            os.close(slave)
        prepared = _prepare_exec(proc, linux)
        _log.debug("init: closing the pipe to signal completion")
        send(sync, {"ready": True})
        os.close(sync)
        sync = -1
        # Blocks until `start` opens the fifo for reading.
        writer = os.open(f"/proc/self/fd/{fifo}", os.O_WRONLY | os.O_CLOEXEC)
        os.write(writer, b"0")
        os.close(writer)
        if hooks.has(spec, "startContainer"):
            prepared = _load_seccomp_now(prepared, linux)
            hooks.run(spec, "startContainer",
                      hooks.state_document(spec, cfg.container_id, cfg.bundle, "created",
                                           os.getpid()))
    except BaseException as exc:  # forked child: report and die
        if sync < 0:
            # started: no one reads the sync pipe any more, the process's stderr is all there is
            line = " ".join(describe_error(exc).split())
            os.write(2, f"barque-oci: {line}\n".encode(errors="replace"))
            os._exit(1)
        _fail(sync, exc)
    _exec(proc, linux, prepared, cfg.preserve_fds)


def _load_seccomp_now(prepared: tuple[str, dict[str, str], list | None],
                      linux: dict) -> tuple[str, dict[str, str], list | None]:
    """As runc 1.1 (which loads the filter before it signals ready): the
    startContainer hooks run under the container's seccomp filter. Loaded
    here, before them, only when there are such hooks, since every syscall
    this Python process makes afterwards is filtered; the exec then loads
    none."""
    path, env, program = prepared
    if program is not None:
        seccomp.install_filter(program, (linux.get("seccomp") or {}).get("flags"))
    return path, env, None


def _creation_hooks(cfg: InitConfig, sync: int, root: str) -> None:
    """runc's procHooks point, the rootfs mounted and not yet pivoted:
    ``create`` runs the prestart and createRuntime hooks in the runtime's
    namespaces (we wait for its b"1"; anything else means a hook failed and
    ``create`` reports it and kills us), then the createContainer hooks run
    here, in the container's mount namespace with the rootfs as cwd."""
    if cfg.hooks_pipe[0] >= 0:
        send(sync, {"hooks": True})
        answer = os.read(cfg.hooks_pipe[0], 1)
        os.close(cfg.hooks_pipe[0])
        if answer != b"1":
            os._exit(1)
    if hooks.has(cfg.spec, "createContainer"):
        os.chdir(root)
        hooks.run(cfg.spec, "createContainer",
                  hooks.state_document(cfg.spec, cfg.container_id, cfg.bundle, "creating",
                                       os.getpid()))


def _open_init(init_pid: int, init_start: int) -> int:
    """A pidfd of the container's init, checked to be that process: the pid
    recorded at create may have been reused by an unrelated process since.

    The start time is compared after the pidfd is taken, so a match means the
    pidfd refers to the init itself, not to whatever holds the pid later."""
    try:
        pidfd = syscalls.pidfd_open(init_pid)
    except ProcessLookupError as exc:
        raise FailedPrecondition(f"container init (pid {init_pid}) has exited") from exc
    now = syscalls.process_start_time(init_pid)  # None: gone, or a zombie
    if now == init_start and init_start:
        return pidfd
    os.close(pidfd)
    if now is None:
        raise FailedPrecondition(f"container init (pid {init_pid}) has exited")
    raise FailedPrecondition(f"container init (pid {init_pid}) has exited; the pid now "
                             "belongs to another process, refusing to join its namespaces")


def _join_namespaces(pidfd: int, init_pid: int, namespaces: list[str]) -> None:
    """setns through the init's pidfd: every namespace at once (kernel >= 5.8),
    and ESRCH rather than another process's namespaces if the init is gone."""
    flags = 0
    for kind in namespaces:
        flags |= NS_FLAGS[kind]
    if not flags:
        return
    try:
        syscalls.setns(pidfd, flags)
    except ProcessLookupError as exc:
        raise FailedPrecondition(f"container init (pid {init_pid}) has exited") from exc


def exec_main(spec: dict, proc: dict, init_pid: int, init_start: int, namespaces: list[str],
              cgroup: CgroupV1 | CgroupV2 | None, console_sock: socket.socket | None,
              preserve_fds: int, sync: int) -> NoReturn:
    """First child of ``exec``: join the container, fork the process, report it.

    Non-dumpable before it touches the container (CVE-2019-5736): once in the
    container's cgroup and namespaces, its processes must not be able to
    ptrace it or open its /proc/<pid> files (exe, fds, mem). The child
    inherits the flag.
    """
    _log.debug("nsexec container setup")
    try:
        syscalls.prctl(syscalls.PR_SET_DUMPABLE, 0)
        if "user" in namespaces:
            process.before_userns(proc)  # inherited by the exec'd process
        pidfd = _open_init(init_pid, init_start)
        try:
            if cgroup is not None:
                cgroup.join(0)
            _join_namespaces(pidfd, init_pid, namespaces)
        finally:
            os.close(pidfd)
        pid = os.fork()
        if pid == 0:
            _exec_child(spec, proc, console_sock, preserve_fds, sync)
        send(sync, {"pid": pid})
    except BaseException as exc:  # forked child: report and die
        _fail(sync, exc)
    os._exit(0)


def _exec_child(spec: dict, proc: dict, console_sock: socket.socket | None,
                preserve_fds: int, sync: int) -> NoReturn:
    linux = spec.get("linux") or {}
    _log.debug("child process in init()")
    try:
        syscalls.prctl(syscalls.PR_SET_DUMPABLE, 0)
        if proc.get("terminal"):
            if console_sock is None:
                raise InvalidArgument("process.terminal is set but no --console-socket was given")
            master, slave, _ = console.open_pty("/dev/pts/ptmx")
            console.set_size(master, proc.get("consoleSize"))
            console.send_master(console_sock, master)
            os.close(master)
            console_sock.close()
            console.make_controlling(slave)
            os.close(slave)
        prepared = _prepare_exec(proc, linux)
        _log.debug("setns_init: about to exec")
        send(sync, {"ready": True})
        os.close(sync)
    except BaseException as exc:  # forked child: report and die
        _fail(sync, exc)
    _exec(proc, linux, prepared, preserve_fds)
