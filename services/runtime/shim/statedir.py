"""The files in a shim's state dir (their contract is in the package
docstring): their names, how the shim replaces them, its crash log, and
what the final status reads from the container's memory cgroup.

Shared by the shim and by :mod:`services.runtime.shim.client`; stdlib-lean
(``os``, and ``traceback`` only when the shim crashed), and from
``services.common`` only ``atomic``.
"""

from __future__ import annotations

import os

from services.common.atomic import write_atomic

__all__ = [
    "STATUS_FILE", "PID_FILE", "INIT_PID_FILE", "SOCKET_FILE", "CONSOLE_FILE", "CRASH_LOG",
    "write_state_file", "read_small", "record_crash", "oom_killed",
]

STATUS_FILE = "status.json"
PID_FILE = "shim.pid"
#: written by the OCI runtime (``--pid-file``)
INIT_PID_FILE = "init.pid"
SOCKET_FILE = "attach.sock"
#: the runtime's ``--console-socket``, only during ``create`` of a --tty container
CONSOLE_FILE = "console.sock"
#: a traceback, only if the shim itself crashed
CRASH_LOG = "shim.log"


def write_state_file(path: str, text: str) -> None:
    """Replace the state file ``path`` (readers see the old or the new one)."""
    write_atomic(path, text.encode("utf-8"), mode=0o644)


def read_small(path: str, limit: int = 64 * 1024) -> bytes:
    """The first ``limit`` bytes of the file ``path``. No ``open()``: a text
    file object brings the io and codecs machinery, whose objects the shim
    would then touch (and copy from the zygote) for good."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = b""
        while len(data) < limit:
            chunk = os.read(fd, limit - len(data))
            if not chunk:
                break
            data += chunk
        return data
    finally:
        os.close(fd)


def record_crash(state_dir: str) -> None:
    """The shim's stderr is /dev/null: leave the traceback being handled
    next to its state, where the client reports its last line."""
    import traceback

    try:
        with open(os.path.join(state_dir, CRASH_LOG), "a") as f:
            traceback.print_exc(file=f)
    except OSError:
        pass


def oom_killed(memory_cgroup: str | None) -> bool:
    """The kernel's ``oom_kill`` counter of the container's memory cgroup
    directory (v2 ``memory.events``, v1 ``memory.oom_control``) is above
    zero; False without a cgroup or a readable counter."""
    if not memory_cgroup:
        return False
    for name in ("memory.events", "memory.oom_control"):
        try:
            text = read_small(f"{memory_cgroup}/{name}")
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(b" ")
            if key == b"oom_kill":
                try:
                    return int(value) > 0
                except ValueError:
                    break
    return False
