"""A warm, single-threaded fork server for shims and barque-oci commands.

Starting a Python process per container costs an interpreter (about 3.5 MiB
of PSS per shim) and, for every barque-oci call, its start-up and imports.
The zygote pays both once: it imports the shim and barque-oci, runs a shim's
code on a stand-in container (:mod:`services.runtime.shim.rehearsal`), 16
times, so that its caches are warm and its bytecode specialised, fills the
holes in its heap so that what a child allocates lands on fresh pages
(``_fill_pools``), freezes the heap (``gc.freeze``) so forked children keep
sharing its pages, and forks a child per request. It is its own process,
started by the runtime service in a new session; the gRPC server itself
never forks.

Requests on ``--socket`` (unix stream, 0600), one JSON line each::

    {"op": "shim", "args": [...shim command line...]}
        fork a shim (new session, child subreaper); the reply is the shim's
        readiness byte "1" once it listens, or EOF if it died first.
    {"op": "oci", "args": [...barque-oci command line...]}
        run barque-oci in a forked child; the reply is one JSON line
        {"code": N, "stdout": "...", "stderr": "..."}.
    {"op": "exec_oci", "args": [...barque-oci command line...]}
        with three descriptors (SCM_RIGHTS, on the request's first bytes): run
        barque-oci with them as its stdin, stdout and stderr, streaming; the
        replies are its pid and, at its end, its status (the protocol is in
        :mod:`services.runtime.shim.execrelay`).

Descriptors sent with any other request, or a number other than three, are
closed and the request is dropped.

Shims are the zygote's children only until it exits; it ignores SIGCHLD so
the kernel reaps them, and every child restores the default disposition.
``--pid-file`` names the zygote for whoever stops it.

Run as ``python -I -S path/to/shim/zygote.py --socket S --pid-file P``.
"""

import os
import sys

if not __package__:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))))
    __package__ = "services.runtime.shim"  # noqa: A001 - lets the relative imports below work

import _signal  # noqa: E402
import _socket  # noqa: E402
import gc  # noqa: E402

from services.common.atomic import write_atomic  # noqa: E402

from . import __main__ as shim_main  # noqa: E402
from .execrelay import STDIO_FDS, relay  # noqa: E402
from .leanjson import dumps, loads  # noqa: E402
from .ocirun import preload_prctl, run_oci_inproc, set_child_subreaper  # noqa: E402
from .options import UsageError, parse_args  # noqa: E402
from .rehearsal import rehearse  # noqa: E402
from .statedir import record_crash  # noqa: E402
from .unixsock import accept_unix, listen_unix  # noqa: E402

__all__ = ["main"]

_MAX_REQUEST = 1 << 20
#: longest a client may take to send its request line
_REQUEST_TIMEOUT = 10.0
#: room for the most descriptors a request carries (an exec's three), and one more
#: so that a request with too many shows as such instead of being cut short
_FDS_SPACE = _socket.CMSG_SPACE(4 * (STDIO_FDS + 1))
#: pymalloc's pool size and pool header size (CPython 3.11, 64-bit)
_POOL_SIZE = 16384
_POOL_OVERHEAD = 48
#: most bytes _fill_pools allocates of one size
_FILL_BYTES = 64 * 1024
#: how many times the zygote rehearses a shim before it freezes
_REHEARSALS = 16


def _read_request(conn: _socket.socket) -> tuple[dict, list[int]]:
    """The request line and the descriptors that came with it (close-on-exec;
    closed here when the request is refused)."""
    line = b""
    fds: list[int] = []
    try:
        while not line.endswith(b"\n"):
            data, ancdata, _, _ = conn.recvmsg(65536, _FDS_SPACE, _socket.MSG_CMSG_CLOEXEC)
            for level, kind, payload in ancdata:
                if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                    fds += [int.from_bytes(payload[i:i + 4], sys.byteorder)
                            for i in range(0, len(payload) - len(payload) % 4, 4)]
            if not data:
                break
            line += data
            if len(line) > _MAX_REQUEST:
                raise ValueError(f"more than {_MAX_REQUEST} bytes without a newline")
        request = loads(line)
        if not isinstance(request, dict) or not isinstance(request.get("args"), list):
            raise ValueError("request must be an object with an args list")
        if len(fds) != (STDIO_FDS if request.get("op") == "exec_oci" else 0):
            raise ValueError(f"{len(fds)} descriptors with a {request.get('op')!r} request")
    except BaseException:
        _close(fds)
        raise
    return request, fds


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _child_shim(conn: _socket.socket, args: list[str]) -> None:
    """In the forked child: become the shim for ``args`` and report readiness on ``conn``."""
    try:
        opts = parse_args(args)
    except UsageError:
        os._exit(2)
    try:
        set_child_subreaper()
        ready_fd = os.dup(conn.fileno())
        conn.close()
        shim_main._serve(opts, ready_fd)
    except BaseException:
        record_crash(opts.state_dir)
        os._exit(1)
    os._exit(0)


def _child_oci(conn: _socket.socket, args: list[str]) -> None:
    """In the forked child: run barque-oci with its stdout/stderr captured, reply, exit."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)
        conn.close()
        os._exit(run_oci_inproc(args))
    os.close(out_w)
    os.close(err_w)
    outputs = {out_r: b"", err_r: b""}
    import select

    open_fds = [out_r, err_r]
    while open_fds:
        ready, _, _ = select.select(open_fds, [], [])
        for fd in ready:
            data = os.read(fd, 65536)
            if data:
                outputs[fd] += data
            else:
                open_fds.remove(fd)
    _, status = os.waitpid(pid, 0)
    reply = {"code": os.waitstatus_to_exitcode(status),
             "stdout": outputs[out_r].decode(errors="replace"),
             "stderr": outputs[err_r].decode(errors="replace")}
    conn.sendall(dumps(reply).encode() + b"\n")
    os._exit(0)


def serve(socket_path: str, pid_file: str, preload_oci: bool) -> None:
    preload_prctl()  # every shim calls prctl: ctypes is shared instead of imported per shim
    if preload_oci:  # warm: every child shares these instead of importing them per call
        import client.config  # noqa: F401 - read by create (the [cgroups] settings)
        import services.runtime.oci.cli
        import services.runtime.oci.container  # noqa: F401

        services.runtime.oci.cli.command_parser()
    gc.collect()
    gc.freeze()  # the rehearsals' own collections then only look at what they made
    rehearse(os.path.join(os.path.dirname(os.path.abspath(pid_file)), "rehearsal"), _REHEARSALS)
    listener = listen_unix(socket_path, 64, blocking=True)
    write_atomic(pid_file, f"{os.getpid()}\n".encode(), mode=0o644)
    _signal.signal(_signal.SIGCHLD, _signal.SIG_IGN)  # the kernel reaps our children
    for sig in (_signal.SIGHUP, _signal.SIGINT):
        _signal.signal(sig, _signal.SIG_IGN)
    gc.collect()
    _trim_heap()
    _FILLERS.extend(_fill_pools())
    gc.freeze()
    # Between two forks the zygote does as little as it can: every page it
    # writes then stays behind as a private copy in the child forked last
    # (a shim keeps it for the container's life), so the child, not the
    # zygote, reads and parses the request.
    while True:
        conn = accept_unix(listener)
        try:
            pid = os.fork()
        except OSError:  # EAGAIN, ENOMEM: this request fails (its client sees EOF), the zygote serves on
            pid = -1
        if pid == 0:
            _child(listener, conn)
        conn.close()


#: what _fill_pools allocated, kept for the zygote's life
_FILLERS: list[list[object]] = []


def _fill_pools() -> list[list[object]]:
    """Fill the free blocks of pymalloc's partly used pools, so that what a
    forked shim allocates goes to fresh pools, block after block, instead of
    to holes scattered over pages it shares with the zygote (each such page
    is copied into the shim for good). Measured with 20 running: about
    0.1 MiB less private memory per shim, for 0.3 MiB more in the zygote.

    For each size class (16 to 512 bytes in steps of 16), objects of that
    size are allocated, a page's worth at a time and nothing else meanwhile,
    until one starts a fresh pool (CPython 3.11 on 64 bits: 16 KiB pools,
    48-byte headers); the ones after it are freed again. A class that needs
    more than _FILL_BYTES means the pools are not laid out that way: the
    filling stops there.

    The collector is off meanwhile: a collection it started between two
    batches could free cyclic garbage of a class already filled, a hole
    the next allocation of that size would take."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _fill_each_class()
    finally:
        if enabled:
            gc.enable()


def _fill_each_class() -> list[list[object]]:
    fillers: list[list[object]] = []
    half = 0.5
    for size in range(16, 513, 16):
        per_page = 4096 // size if size > 16 else 255  # indexes below 256 are never allocated
        indexes = range(per_page)
        length = size - 33  # bytes of that length take `size` bytes
        for _ in range(_FILL_BYTES // (per_page * size)):
            batch: list[object] = [None] * per_page
            for i in indexes:
                batch[i] = object() if size == 16 else half * 1.0 if size == 32 else bytes(length)
            fillers.append(batch)
            fresh = next((i for i in indexes if id(batch[i]) % _POOL_SIZE == _POOL_OVERHEAD), -1)
            if fresh >= 0:
                del batch[fresh + 1:]  # freed last to first: the pool hands them out in order
                break
        else:
            break
    return fillers


def _trim_heap() -> None:
    """Hand the C heap's free pages back (glibc's malloc_trim) before the
    first fork. Measured with 20 running: about 35 KiB less private memory
    per shim (issue 10)."""
    import ctypes  # loaded already (preload_prctl)

    ctypes.CDLL(None).malloc_trim(0)


def _child(listener: _socket.socket, conn: _socket.socket) -> None:
    """In the forked child: serve the one request on ``conn``; never returns.
    A request that cannot be read or is refused ends the child unanswered."""
    try:
        listener.close()
        os.setsid()
        for sig in (_signal.SIGCHLD, _signal.SIGHUP, _signal.SIGINT, _signal.SIGTERM):
            _signal.signal(sig, _signal.SIG_DFL)
        conn.settimeout(_REQUEST_TIMEOUT)
        request, fds = _read_request(conn)
        conn.settimeout(None)
        args = [str(a) for a in request["args"]]
        op = request.get("op")
    except BaseException:
        os._exit(1)
    if op == "oci":
        _child_oci(conn, args)
    elif op == "exec_oci":
        relay(conn, args, fds)
    else:
        _child_shim(conn, args)
    os._exit(0)


def main() -> int:
    argv = sys.argv[1:]
    try:
        socket_path = argv[argv.index("--socket") + 1]
        pid_file = argv[argv.index("--pid-file") + 1]
    except (ValueError, IndexError):
        sys.stderr.write("usage: zygote.py --socket PATH --pid-file PATH [--preload-oci]\n")
        return 2
    serve(socket_path, pid_file, "--preload-oci" in argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
