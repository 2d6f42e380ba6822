"""Links, addresses, routes and network namespaces, through pyroute2.

Runs only in a child of the network helper (:mod:`.helper`), never in the
gRPC server: creating a namespace means ``unshare``-ing the calling process,
which only a disposable child may do. A child that made a namespace has
left the host's; it still reaches the host's links through the netlink
socket it opened before (a socket stays in the namespace it was made in).

A container's namespace is created here and bind-mounted at a path that
the spec names (``linux.namespaces`` ``path``), as CNI plugins and podman
do: the network is up before the container's first instruction, a failure
here happens before any container process exists, and ``--network
container:`` or a later exec join it by that path.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import os
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from client.errors import FailedPrecondition, Internal

__all__ = ["host_networks", "ensure_bridge", "remove_bridge", "attach", "detach", "namespace", "PlumbingError"]

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 0x2
_libc = ctypes.CDLL(None, use_errno=True)


class PlumbingError(Internal):
    """A netlink or namespace operation failed."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise PlumbingError(f"{what}: {os.strerror(err)}")


def _netlink(what: str):
    """Context: NetlinkError and OSError become one-line PlumbingErrors naming ``what``."""
    class _Translate:
        def __enter__(self):
            return self

        def __exit__(self, kind, exc, tb):
            if isinstance(exc, NetlinkError):
                raise PlumbingError(f"{what}: {os.strerror(exc.code) if exc.code else exc}") from exc
            if isinstance(exc, OSError) and not isinstance(exc, PlumbingError):
                raise PlumbingError(f"{what}: {exc.strerror or exc}") from exc
            return False
    return _Translate()


def host_networks() -> list[str]:
    """Every IPv4 network the host routes or has an address in (CIDR strings)."""
    out = []
    with IPRoute() as ipr:
        for route in ipr.get_routes(family=2):
            dst = route.get_attr("RTA_DST")
            if dst:
                out.append(f"{dst}/{route['dst_len']}")
        for addr in ipr.get_addr(family=2):
            out.append(str(ipaddress.IPv4Interface(f"{addr.get_attr('IFA_ADDRESS')}/{addr['prefixlen']}").network))
    return out


def _sysctl(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def ensure_bridge(name: str, gateway: str, prefix_len: int) -> None:
    """The bridge ``name``, up, with the gateway address; forwarding on, and
    ``route_localnet`` on the bridge so DNAT from 127.0.0.1 reaches containers."""
    with _netlink(f"bridge {name}"), IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            try:
                ipr.link("add", ifname=name, kind="bridge")
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:  # a concurrent start made it first
                    raise
            found = ipr.link_lookup(ifname=name)
        index = found[0]
        have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=index, family=2)}
        if (gateway, prefix_len) not in have:
            try:
                ipr.addr("add", index=index, address=gateway, prefixlen=prefix_len)
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:
                    raise
        ipr.link("set", index=index, state="up")
    _sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
    _sysctl("/proc/sys/net/ipv4/ip_forward", "1")


def remove_bridge(name: str) -> None:
    with _netlink(f"remove bridge {name}"), IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            ipr.link("del", index=found[0])


def attach(netns: str, host_if: str, bridge: str, ip: str, prefix_len: int, gateway: str, mac: str,
           ifname: str = "eth0", new_namespace: bool = True, default_route: bool = True) -> None:
    """An interface ``ifname`` (``ip``, ``mac``) in the network namespace
    bound at ``netns``, up, and the veth's other end ``host_if`` on
    ``bridge``, up, in hairpin mode. With ``new_namespace`` the namespace is
    made and bound there first, with ``lo`` up; with ``default_route`` the
    default route goes via ``gateway``. Leaves the calling process in that
    namespace: call it from a disposable child. Links are named in each
    request rather than looked up (a lookup by name dumps every link), and
    the veth is made from the host's socket with its master and state set."""
    with _netlink(f"attach {host_if}"), IPRoute() as host:
        try:
            bridge_index = host.link("get", ifname=bridge)[0]["index"]
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                raise FailedPrecondition(f"bridge {bridge} does not exist") from exc
            raise
        _delete_link(host, host_if)  # a stale one, left by a crash
        if new_namespace:
            _new_namespace(netns)
        else:
            try:
                target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError as exc:
                raise FailedPrecondition(f"the container's network namespace {netns} is gone") from exc
            try:
                _check(_libc.setns(target, CLONE_NEWNET), f"enter the network namespace at {netns}")
            finally:
                os.close(target)
        inside_ns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            host.link("add", ifname=host_if, kind="veth", master=bridge_index, state="up",
                      peer={"ifname": ifname, "address": mac, "net_ns_fd": inside_ns})
        finally:
            os.close(inside_ns)
        # hairpin: a container reaches itself through a published port (this
        # process's /sys is still the host's: sysfs follows the mount, not the netns)
        _sysctl(f"/sys/class/net/{host_if}/brport/hairpin_mode", "1")
        with IPRoute() as inside:
            index = inside.link("get", ifname=ifname)[0]["index"]
            inside.addr("add", index=index, address=ip, prefixlen=prefix_len)
            inside.link("set", index=index, state="up")
            if default_route:
                inside.route("add", dst="default", gateway=gateway)


def namespace(netns: str) -> None:
    """A new network namespace with only ``lo`` (up), bound at ``netns``
    (a stale binding there goes first): a bridge-mode container that every
    network was disconnected from starts in one, as Docker's does. Leaves
    the calling process in it: call it from a disposable child."""
    with _netlink(f"namespace {netns}"):
        _new_namespace(netns)


def _new_namespace(netns: str) -> None:
    _unbind(netns)
    _check(_libc.unshare(CLONE_NEWNET), "unshare a network namespace")
    os.close(os.open(netns, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
    _check(_libc.mount(b"/proc/self/ns/net", os.fsencode(netns), b"none", MS_BIND, None),
           f"bind the network namespace at {netns}")
    with IPRoute() as inside:
        inside.link("set", index=1, state="up")  # lo: the first link of every namespace


def _delete_link(ipr: IPRoute, name: str) -> None:
    """Delete link ``name`` if it exists (by name: no lookup)."""
    try:
        ipr.link("del", ifname=name)
    except NetlinkError as exc:
        if exc.code != errno.ENODEV:
            raise


def detach(netns: str, host_if: str, unbind: bool = True) -> None:
    """Remove the veth ``host_if`` (both ends go together; "" for none) and,
    with ``unbind``, the namespace's binding; what is already gone is skipped."""
    if host_if:
        with _netlink(f"detach {host_if}"), IPRoute() as ipr:
            _delete_link(ipr, host_if)
    if unbind:
        _unbind(netns)


def _unbind(netns: str) -> None:
    """Unmount and remove a namespace binding left at ``netns``, if any."""
    path = Path(netns)
    if not path.exists():
        return
    if _libc.umount2(os.fsencode(netns), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # EINVAL: not a mount point
            raise PlumbingError(f"unmount {netns}: {os.strerror(err)}")
    path.unlink(missing_ok=True)
