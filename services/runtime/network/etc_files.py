"""A container's name-resolution files on the host side: /etc/hostname,
/etc/hosts and /etc/resolv.conf, written per container and bind-mounted
read-write into it, as Docker does."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_etc_files"]


def _host_resolv_conf() -> str:
    """The host's resolv.conf without loopback resolvers, as Docker writes it."""
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        lines = []
    kept = [ln for ln in lines if not (ln.startswith("nameserver") and (" 127." in ln or " ::1" in ln))]
    return "\n".join(kept).strip() + "\n" if kept else ""


def write_etc_files(directory: Path, hostname: str) -> dict[str, str]:
    """Write hostname, hosts and resolv.conf; return container path -> host file."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "/etc/hostname": f"{hostname}\n",
        "/etc/hosts": (
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        ),
        "/etc/resolv.conf": _host_resolv_conf(),
    }
    out = {}
    for path, text in files.items():
        host = directory / path.rsplit("/", 1)[1]
        host.write_text(text)
        os.chmod(host, 0o644)
        out[path] = str(host)
    return out
