"""User namespaces in barque-oci, in runc 1.1's order.

The intermediate process joins the namespaces given by path (a user
namespace first), then unshares a new user namespace alone and asks the
``create`` process, over the sync pipe, to write its uid and gid maps: only a
process in the parent user namespace with CAP_SETUID/CAP_SETGID there may
write arbitrary maps, and it must do so from outside. Once the maps are
written the intermediate becomes root of the namespace (the mapped host ids)
and unshares the other namespaces, which the new user namespace then owns.

The sources of bind mounts are opened by ``create`` too (runc 1.1's mount
sources): the remapped root may not reach a source the host's root can (a
volume's data dir under the closed state dir). ``create`` enters the
container's new mount namespace, opens each source O_PATH there, comes back,
and passes the fds over a socket; the init binds ``/proc/self/fd/N``.

What a process inside cannot do any more is done before: limits above the
current hard limit need CAP_SYS_RESOURCE on the host (runc sets them from
the parent with prlimit), and network sysctls of a network namespace the
host owns (one joined by path) need its CAP_NET_ADMIN.
"""

from __future__ import annotations

import os
import socket

from client.errors import FailedPrecondition

from . import syscalls
from .rootfs import parse_options

__all__ = ["IdMap", "id_maps", "wants_new", "joins", "write_maps", "become_root", "host_root",
           "NET_SYSCTL_PREFIX", "apply_host_sysctls", "unshare_user", "bind_sources", "open_sources",
           "send_sources", "receive_sources"]

#: fds per SCM_RIGHTS message (the kernel's SCM_MAX_FD is 253)
_FDS_PER_MESSAGE = 200

#: (containerID, hostID, size) lines of one map
IdMap = list[tuple[int, int, int]]

NET_SYSCTL_PREFIX = "net."


def id_maps(spec: dict) -> tuple[IdMap, IdMap]:
    """The spec's (uid map, gid map), each a list of (container, host, size)."""
    linux = spec.get("linux") or {}

    def parse(key: str) -> IdMap:
        return [(int(m["containerID"]), int(m["hostID"]), int(m["size"]))
                for m in linux.get(key) or ()]

    return parse("uidMappings"), parse("gidMappings")


def _user_entry(spec: dict) -> dict | None:
    for ns in (spec.get("linux") or {}).get("namespaces") or ():
        if ns.get("type") == "user":
            return ns
    return None


def wants_new(spec: dict) -> bool:
    """The spec asks for a new user namespace (listed without a path)."""
    entry = _user_entry(spec)
    return entry is not None and not entry.get("path")


def joins(spec: dict) -> bool:
    """The container runs in a user namespace, new or joined."""
    return _user_entry(spec) is not None


def host_root(spec: dict) -> tuple[int, int]:
    """The host (uid, gid) of the container's root; (0, 0) without a mapping of it."""
    uid_map, gid_map = id_maps(spec)

    def to_host(maps: IdMap) -> int:
        for inside, outside, size in maps:
            if inside <= 0 < inside + size:
                return outside - inside
        return 0

    return to_host(uid_map), to_host(gid_map)


def _format(maps: IdMap) -> bytes:
    return "".join(f"{inside} {outside} {size}\n" for inside, outside, size in maps).encode()


def write_maps(pid: int, spec: dict) -> None:
    """Write the spec's maps for ``pid`` (which has just unshared its user
    namespace), each in one write(2) as the kernel requires. setgroups stays
    "allow": the writer is privileged in the parent namespace, as runc is
    when not rootless, so the container may still call setgroups."""
    uid_map, gid_map = id_maps(spec)
    for name, maps in (("uid_map", uid_map), ("gid_map", gid_map)):
        path = f"/proc/{pid}/{name}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, _format(maps))
            finally:
                os.close(fd)
        except OSError as exc:
            raise FailedPrecondition(f"write {name} of pid {pid} ({_format(maps).decode().strip()!r}): "
                                     f"{exc.strerror}") from exc


def become_root() -> None:
    """Root of the user namespace just entered: gid, groups and uid 0 there
    (runc's setresuid/setresgid(0, 0, 0) and setgroups(0, NULL))."""
    try:
        os.setresgid(0, 0, 0)
        os.setgroups([])
        os.setresuid(0, 0, 0)
    except OSError as exc:
        raise FailedPrecondition(f"become root in the user namespace: {exc.strerror} "
                                 "(are uid 0 and gid 0 mapped?)") from exc


def apply_host_sysctls(sysctl: dict) -> dict:
    """Write the network sysctls (``net.*``) through /proc/sys now, in the
    network namespace this process has joined, while it is still privileged
    over it; return the others, for the container to set from inside."""
    rest = {}
    for key, value in sysctl.items():
        if not key.startswith(NET_SYSCTL_PREFIX):
            rest[key] = value
            continue
        rel = key.replace(".", "/")
        if ".." in rel.split("/"):
            raise FailedPrecondition(f"invalid sysctl {key!r}")
        try:
            fd = os.open(os.path.join("/proc/sys", rel), os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            try:
                os.write(fd, str(value).encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise FailedPrecondition(f"set sysctl {key}={value!r}: {exc.strerror}") from exc
    return rest


def unshare_user(sync_send, ack_fd: int) -> None:
    """Unshare a user namespace alone, have the parent map it (``sync_send``
    asks; one byte on ``ack_fd`` answers), then become its root."""
    syscalls.unshare(syscalls.CLONE_NEWUSER)
    sync_send({"usermap": os.getpid()})
    answer = os.read(ack_fd, 1)
    if answer != b"1":
        raise FailedPrecondition("the user namespace's uid and gid maps were not written")
    become_root()


def bind_sources(spec: dict, bundle: str) -> list[tuple[int, str]]:
    """(index in ``mounts``, host path) of every bind mount of the spec."""
    out = []
    for index, m in enumerate(spec.get("mounts") or ()):
        if m.get("type") in ("cgroup", "cgroup2"):
            continue
        options = [o for o in m.get("options") or () if o != "tmpcopyup"]
        flags, _, _ = parse_options(options)
        if flags & syscalls.MS_BIND and not flags & syscalls.MS_REMOUNT:
            source = m.get("source") or ""
            out.append((index, source if os.path.isabs(source) else os.path.join(bundle, source)))
    return out


def open_sources(pid: int, sources: list[tuple[int, str]]) -> list[int]:
    """O_PATH fds of ``sources`` opened in the mount namespace of ``pid``
    (entered and left again: this process must be single-threaded)."""
    if len(os.listdir("/proc/self/task")) != 1:
        raise FailedPrecondition("opening mount sources needs a single-threaded barque-oci")
    own = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fds: list[int] = []
    try:
        target = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        try:
            syscalls.setns(target, syscalls.CLONE_NEWNS)
        finally:
            os.close(target)
        try:
            for _, path in sources:
                try:
                    fds.append(os.open(path, os.O_PATH | os.O_CLOEXEC))
                except OSError as exc:
                    raise FailedPrecondition(f"mount source {path!r}: {exc.strerror}") from exc
        finally:
            syscalls.setns(own, syscalls.CLONE_NEWNS)
            os.fchdir(cwd)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    finally:
        os.close(own)
        os.close(cwd)
    return fds


def send_sources(sock_fd: int, fds: list[int]) -> None:
    """``fds`` over the socket ``sock_fd``, each message led by b"1"."""
    sock = socket.socket(fileno=os.dup(sock_fd))
    try:
        for start in range(0, len(fds), _FDS_PER_MESSAGE):
            socket.send_fds(sock, [b"1"], fds[start:start + _FDS_PER_MESSAGE])
    finally:
        sock.close()


def receive_sources(sync_send, sock_fd: int, count: int) -> list[int]:
    """Ask for the ``count`` mount sources and receive their fds."""
    sync_send({"mountsources": os.getpid()})
    sock = socket.socket(fileno=os.dup(sock_fd))
    got: list[int] = []
    try:
        while len(got) < count:
            data, fds, _, _ = socket.recv_fds(sock, 1, min(_FDS_PER_MESSAGE, count - len(got)))
            got += fds
            if data != b"1" or not fds:
                raise FailedPrecondition("the mount sources were not sent")
    except BaseException:
        for fd in got:
            os.close(fd)
        raise
    finally:
        sock.close()
    return got
