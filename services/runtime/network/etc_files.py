"""A container's name-resolution files on the host side: /etc/hostname,
/etc/hosts and /etc/resolv.conf, written per container and bind-mounted
read-write into it, as Docker does.

resolv.conf follows Docker's rules (libnetwork's resolvconf): the host's
file, or systemd-resolved's upstream list when the host's names only its
loopback stub (127.0.0.53); loopback name servers dropped, since a
container cannot reach the host's loopback, and Docker's public defaults
when none is left; ``--dns``, ``--dns-search`` and ``--dns-option`` replace
their parts. On the host's network the host's file is used as it is.

/etc/hosts holds the defaults, the ``--add-host`` entries (``host-gateway``
standing for the bridge's gateway) and last the container's own address
and name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from client.errors import InvalidArgument

__all__ = ["EtcSettings", "write_etc_files", "resolv_conf", "hosts_file", "host_nameservers", "SYSTEMD_RESOLVED"]

#: where systemd-resolved lists the upstream servers behind its 127.0.0.53 stub
SYSTEMD_RESOLVED = "/run/systemd/resolve/resolv.conf"
#: Docker's name servers when the host's are all unreachable from a container
DEFAULT_NAMESERVERS = ("8.8.8.8", "8.8.4.4")

_DEFAULT_HOSTS = (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
)


@dataclass(frozen=True)
class EtcSettings:
    """What a container's name-resolution files are made of."""

    hostname: str
    address: str = ""                    # the container's own address ("" on none/host)
    gateway: str = ""                    # what host-gateway stands for
    extra_hosts: tuple[str, ...] = ()    # "name:ip", Docker's ExtraHosts
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    host_network: bool = False
    resolv_source: str = "/etc/resolv.conf"
    embedded_dns: str = ""               # a user network's responder (its gateway): the only name server


def _read(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def _nameservers(lines: list[str]) -> list[str]:
    return [ln.split()[1] for ln in lines if ln.startswith("nameserver") and len(ln.split()) > 1]


def _is_loopback(server: str) -> bool:
    return server.startswith("127.") or server == "::1"


def host_nameservers(source: str) -> list[str]:
    """The name servers a process in the host's namespace uses (loopback
    ones included, unlike a container's): the embedded DNS's upstream."""
    return _nameservers(_read(source))


def _search(lines: list[str]) -> list[str]:
    found: list[str] = []
    for ln in lines:
        if ln.startswith(("search", "domain")):
            found = ln.split()[1:]  # the last one wins, as in the resolver
    return found


def _options(lines: list[str]) -> list[str]:
    return [opt for ln in lines if ln.startswith("options") for opt in ln.split()[1:]]


def resolv_conf(s: EtcSettings) -> str:
    lines = _read(s.resolv_source)
    if s.embedded_dns:
        # as Docker writes it for its embedded DNS: the responder forwards the rest upstream
        search = list(s.dns_search) if s.dns_search else _search(lines)
        options = list(s.dns_options) if s.dns_options else ["ndots:0"]
        out = [f"nameserver {s.embedded_dns}"]
        if search and " ".join(search).strip() != ".":
            out.insert(0, "search " + " ".join(search))
        return "\n".join(out + ["options " + " ".join(options)]) + "\n"
    if s.host_network and not (s.dns or s.dns_search or s.dns_options):
        return "\n".join(lines) + "\n" if lines else ""
    servers = _nameservers(lines)
    if servers and all(_is_loopback(ns) for ns in servers) and "127.0.0.53" in servers:
        upstream = _read(SYSTEMD_RESOLVED)
        if _nameservers(upstream):
            lines = upstream
    kept = [ln for ln in lines if not (ln.startswith("nameserver") and len(ln.split()) > 1
                                       and _is_loopback(ln.split()[1]))]
    defaults = [] if _nameservers(kept) else [f"nameserver {ns}" for ns in DEFAULT_NAMESERVERS]
    if not (s.dns or s.dns_search or s.dns_options):
        # the host's file, loopback servers out (libnetwork's FilterResolvDNS)
        text = "\n".join(kept + defaults)
        return text.strip("\n") + "\n" if text.strip() else ""
    # any flag: rebuilt as libnetwork's resolvconf.Build writes it
    search = list(s.dns_search) if s.dns_search else _search(kept)
    servers = list(s.dns) if s.dns else _nameservers(kept) or list(DEFAULT_NAMESERVERS)
    options = list(s.dns_options) if s.dns_options else _options(kept)
    out = []
    if search and " ".join(search).strip() != ".":
        out.append("search " + " ".join(search))
    out += [f"nameserver {ns}" for ns in servers]
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"


def hosts_file(s: EtcSettings) -> str:
    if s.host_network:
        lines = _read("/etc/hosts")
        base = "\n".join(lines) + "\n" if lines else _DEFAULT_HOSTS
    else:
        base = _DEFAULT_HOSTS
    extra = []
    for entry in s.extra_hosts:
        name, sep, ip = entry.partition(":")
        if not sep or not name or not ip:
            raise InvalidArgument(f"invalid extra host {entry!r}: expected HOST:IP")
        if ip == "host-gateway":
            if not s.gateway:
                raise InvalidArgument("host-gateway has no address on this network")
            ip = s.gateway
        extra.append(f"{ip}\t{name}\n")
    own = f"{s.address}\t{s.hostname}\n" if s.address and not s.host_network else ""
    return base + "".join(extra) + own


def write_etc_files(directory: Path, settings: EtcSettings | str) -> dict[str, str]:
    """Write hostname, hosts and resolv.conf; return container path -> host file."""
    if isinstance(settings, str):
        settings = EtcSettings(hostname=settings)
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "/etc/hostname": f"{settings.hostname}\n",
        "/etc/hosts": hosts_file(settings),
        "/etc/resolv.conf": resolv_conf(settings),
    }
    out = {}
    for path, text in files.items():
        host = directory / path.rsplit("/", 1)[1]
        host.write_text(text)  # in place: a running container's bind mount keeps the inode
        os.chmod(host, 0o644)
        out[path] = str(host)
    return out
