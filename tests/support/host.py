"""Probes of the host's state, read from /proc and /sys: mounts, cgroups,
processes, network devices and named network namespaces, and inotify's
record of the opens of a file.

Every test tier and bench/ read the host through these, so a probe is written
once: a mountinfo line is parsed here and nowhere else, a cgroup path is
spelled here for every hierarchy (cgroup v1 controllers, v2, a hybrid host's
``unified``), and "alive" means the same thing everywhere (not a zombie).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "interruptible",
    "CGROUP_ROOT",
    "Mount",
    "unescape",
    "parse_mountinfo",
    "mounts",
    "is_mounted",
    "mounts_under",
    "mounts_naming",
    "cgroup_paths",
    "cgroup_dirs",
    "cgroup_pids",
    "container_cgroups",
    "children",
    "descendants",
    "parent_pid",
    "alive",
    "cmdline",
    "pids_matching",
    "status_field",
    "process_status",
    "host_status_field",
    "links",
    "netns_names",
    "IN_OPEN",
    "IN_ACCESS",
    "watch_opens",
]

CGROUP_ROOT = Path("/sys/fs/cgroup")


# ---- mounts ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mount:
    """One line of a mountinfo table (proc(5)), paths unescaped."""

    device: str          # major:minor
    root: str            # the mounted file system's dir that is the mount's root
    point: str
    options: str         # per-mount options, comma separated ("rw,nosuid,relatime")
    optional: tuple[str, ...]  # shared:N, master:N...
    fstype: str
    source: str
    super_options: str   # per-superblock options


def unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    return field.encode().decode("unicode_escape")


def parse_mountinfo(text: str) -> list[Mount]:
    """Every mount of a mountinfo table, in its order (later mounts over earlier)."""
    out = []
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        f, g = pre.split(), post.split()
        if len(f) < 6 or len(g) < 3:
            continue
        out.append(Mount(device=f[2], root=unescape(f[3]), point=unescape(f[4]), options=f[5],
                         optional=tuple(f[6:]), fstype=g[0], source=unescape(g[1]), super_options=g[2]))
    return out


def mounts(pid: int | str = "self") -> list[Mount]:
    """The mount table of ``pid``'s mount namespace (this process by default)."""
    return parse_mountinfo(Path(f"/proc/{pid}/mountinfo").read_text())


def is_mounted(path: str | Path) -> bool:
    return any(m.point == str(path) for m in mounts())


def mounts_under(root: str | Path) -> list[str]:
    """Mount points at or below ``root``, in table order (parents before what is mounted on them)."""
    prefix = str(root).rstrip("/")
    return [m.point for m in mounts() if m.point == prefix or m.point.startswith(prefix + "/")]


def mounts_naming(*words: str) -> set[str]:
    """Mount points of the mounts whose point, root, source or superblock
    options (an overlay's lowerdir/upperdir) contain one of ``words``."""
    return {m.point for m in mounts()
            if any(w in text for w in words for text in (m.point, m.root, m.source, m.super_options))}


# ---- cgroups ---------------------------------------------------------------------------------

def cgroup_paths(rel: str, base: Path = CGROUP_ROOT) -> list[Path]:
    """``rel`` (``barque/<id>``) in every hierarchy under ``base`` where it
    exists: the v2 root, each v1 controller's and a hybrid host's ``unified``."""
    rel = rel.strip("/")
    roots = [base, *sorted(p for p in base.iterdir() if p.is_dir())] if base.is_dir() else []
    return [root / rel for root in roots if (root / rel).is_dir()]


def cgroup_dirs(rel: str, *, include_top: bool = True, base: Path = CGROUP_ROOT) -> list[Path]:
    """Every dir of the subtree ``rel`` in every hierarchy, deepest first."""
    found: set[Path] = set()
    for top in cgroup_paths(rel, base):
        for dirpath, _, _ in os.walk(top):
            if include_top or Path(dirpath) != top:
                found.add(Path(dirpath))
    return sorted(found, key=lambda p: (len(p.parts), str(p)), reverse=True)


def cgroup_pids(rel: str) -> set[int]:
    """The processes in the subtree ``rel`` of any hierarchy."""
    pids: set[int] = set()
    for d in cgroup_dirs(rel):
        try:
            pids.update(int(x) for x in (d / "cgroup.procs").read_text().split())
        except OSError:
            continue
    return pids


def container_cgroups(container_id: str) -> list[Path]:
    """Every cgroup dir of a barque container (``barque/<id>``, v1 or v2)."""
    return cgroup_paths(f"barque/{container_id}")


# ---- processes -------------------------------------------------------------------------------

def _stat_fields(pid: int | str) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, ... (raises OSError when gone)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _parents() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(_stat_fields(entry)[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def children(pid: int) -> list[int]:
    """The direct children of ``pid``."""
    return sorted(_parents().get(pid, []))


def descendants(pid: int) -> set[int]:
    """Every descendant of ``pid``."""
    kids = _parents()
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def parent_pid(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        return _stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def cmdline(pid: int) -> str:
    """``pid``'s command line, arguments joined by spaces ("?" when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


def pids_matching(*needles: str) -> list[int]:
    """PIDs whose command line contains every one of ``needles``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if all(n in text for n in needles):
            found.append(int(entry))
    return sorted(found)


def status_field(text: str, name: str) -> str:
    """A field of /proc/<pid>/status text (``CapEff``, ``NoNewPrivs``...),
    read on the host or printed from inside a container."""
    m = re.search(rf"^{re.escape(name)}:\s*(\S+)", text, re.M)
    assert m, f"no {name} in status text {text!r}"
    return m.group(1)


def process_status(pid: int | str = "self") -> dict[str, str]:
    """/proc/<pid>/status as a dict of its fields (values as written, tabs kept inside)."""
    text = Path(f"/proc/{pid}/status").read_text()
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def host_status_field(name: str) -> str:
    """``name`` of this (test) process's own status: the host's view."""
    return status_field(Path(f"/proc/{os.getpid()}/status").read_text(), name)


# ---- network ---------------------------------------------------------------------------------

def links(*prefixes: str) -> set[str]:
    """Network devices of this network namespace, those starting with one of ``prefixes`` if given."""
    names = {p.name for p in Path("/sys/class/net").iterdir()}
    return {n for n in names if n.startswith(prefixes)} if prefixes else names


def netns_names() -> set[str]:
    """Named network namespaces (``ip netns``'s /run/netns)."""
    d = Path("/run/netns")
    return {p.name for p in d.iterdir()} if d.exists() else set()


# ---- opens of a file -------------------------------------------------------------------------

IN_ACCESS = 0x01
IN_OPEN = 0x20


@contextlib.contextmanager
def watch_opens(path: Path) -> Iterator[list[int]]:
    """Yields a list that, on exit, holds the inotify masks seen on ``path``.

    inotify reports IN_OPEN for every real open(2) of the watched inode and
    none for an O_PATH open: the observable of "looked at, never opened".
    """
    libc = ctypes.CDLL(None, use_errno=True)
    ino = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    assert ino >= 0, os.strerror(ctypes.get_errno())
    seen: list[int] = []
    try:
        assert libc.inotify_add_watch(ino, os.fsencode(path), IN_OPEN | IN_ACCESS) >= 0
        yield seen
        try:
            data = os.read(ino, 65536)
        except BlockingIOError:
            data = b""
        offset = 0
        while offset < len(data):
            _wd, mask, _cookie, length = struct.unpack_from("iIII", data, offset)
            seen.append(mask)
            offset += 16 + length
    finally:
        os.close(ino)


def interruptible(argv: list[str]) -> list[str]:
    """``argv`` run with SIGINT at its default: a test that sends Ctrl-C to a
    command must not depend on how the suite was started, and a shell starts a
    background job (``.ci/run &`` without job control) with SIGINT ignored,
    which every child inherits and Python then leaves ignored."""
    return [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
            "os.execvp(sys.argv[1], sys.argv[1:])", *argv]
