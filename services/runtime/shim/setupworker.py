"""The shim's setup worker: ``runtime create`` and ``runtime start`` run in a
short-lived child of the shim instead of in the shim itself.

Why a child: a shim forked by the zygote shares the zygote's pages until it
writes to them, and running Python code writes to every object it touches
(reference counts), so each page holding one is copied into the shim for the
container's whole life. Creating and starting a container runs a good deal
of code (the OCI runtime's spawn and wait, its output, the pid file, the
status files, a timestamp); run in the worker, those copies go away when it
exits. The container still ends up a child of the shim: the worker is no
subreaper, so once ``runtime create`` exits, the container's init goes to the
nearest one, the shim.

It also writes the shim's pid file (the atomic write's code is the next
largest part). The worker reports on a pipe, one line per step::

    ready             shim.pid names the shim
    created PID       the container exists, status.json says so; PID is its init
    running TIME      it started, status.json says so; TIME is started_at
    failed CODE MSG   a step failed; CODE is the exit code to record

and runs ``create`` and ``start`` each only once the shim wrote one byte on a
second pipe (the log is open; --wait-attach's handshake came); that pipe
closing without a byte ends it.
"""

from __future__ import annotations

import _signal
import os
import time
from collections.abc import Callable
from typing import NoReturn

from .leanjson import dumps
from .logfile import format_timestamp
from .ocirun import OciFailed, failure_exit_code, oci_message, spawn, wait_oci
from .options import Options
from .statedir import (
    INIT_PID_FILE, STATUS_FILE, read_small, record_crash, write_state_file,
)

__all__ = ["OCI_TIMEOUT", "SetupWorker", "oci_create", "oci_start"]

#: longest a runtime create/start may take before it is killed
OCI_TIMEOUT = 60.0
_START_OUTPUT = "start.out"


class SetupWorker:
    """The shim's side of one worker, forked by the constructor, which runs
    ``prepare()`` at once, ``create()`` (the init's pid) when the shim calls
    :meth:`created`, ``start(pid)`` (started_at) when it calls :meth:`started`."""

    def __init__(self, prepare: Callable[[], object], create: Callable[[], int],
                 start: Callable[[int], str]) -> None:
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in (report_r, report_w, go_r, go_w):
                os.close(fd)
            raise OciFailed(f"fork the shim's setup worker: {exc.strerror}", 125) from exc
        if pid == 0:
            os.close(report_r)
            os.close(go_w)
            _work(prepare, create, start, report_w, go_r)
        os.close(report_w)
        os.close(go_r)
        self.pid = pid
        self._report = report_r
        self._go = go_w
        self._buf = b""

    def ready(self) -> None:
        """Once the worker prepared; OciFailed if it could not."""
        self._expect("ready")

    def created(self) -> int:
        """Let the worker create the container; its init's pid. OciFailed if it could not."""
        os.write(self._go, b"1")
        return int(self._expect("created"))

    def started(self) -> str:
        """Let the worker start the container; its started_at. OciFailed if it could not."""
        os.write(self._go, b"1")
        try:
            return self._expect("running")
        finally:
            self.close()

    def close(self) -> None:
        """Let the worker go (it ends without starting if it has not) and reap it."""
        if self._go < 0:
            return
        os.close(self._go)
        os.close(self._report)
        self._go = self._report = -1
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:  # the shim's own reaping was first
            pass

    def _expect(self, step: str) -> str:
        while b"\n" not in self._buf:
            data = os.read(self._report, 4096)
            if not data:
                self.close()
                raise OciFailed("the shim's setup worker ended without a report", 125)
            self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        word, _, rest = line.decode("utf-8", "replace").partition(" ")
        if word == "failed":
            self.close()
            code, _, message = rest.partition(" ")
            raise OciFailed(message, int(code) if code.isdigit() else 125)
        if word != step:
            self.close()
            raise OciFailed(f"the shim's setup worker reported {word!r}, not {step!r}", 125)
        return rest


def _work(prepare: Callable[[], object], create: Callable[[], int], start: Callable[[int], str],
          report: int, go: int) -> NoReturn:
    """In the forked worker: prepare, then create and start each once the shim
    says go, reporting each; exit."""
    try:
        _signal.set_wakeup_fd(-1)  # the shim's wakeup pipe and SIGCHLD handler are the shim's
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
        prepare()
        _send(report, "ready")
        if os.read(go, 1) == b"1":
            init_pid = create()
            _send(report, f"created {init_pid}")
            if os.read(go, 1) == b"1":
                _send(report, f"running {start(init_pid)}")
    except OciFailed as exc:
        _send(report, f"failed {exc.exit_code} {exc}")
    except BaseException as exc:  # noqa: BLE001 - reported, and the traceback kept in shim.log
        record_crash(".")
        _send(report, f"failed 125 the shim's setup worker crashed: {exc!r}")
    os._exit(0)


def _send(fd: int, line: str) -> None:
    data = (line.replace("\n", " ") + "\n").encode("utf-8", "replace")
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:  # the shim is gone: nobody to tell
        pass


def _runtime(opts: Options, *args: str) -> list[str]:
    return [opts.runtime, *opts.runtime_args, "--root", opts.runtime_root, *args]


def oci_create(opts: Options, console: str | None, stdio: tuple[int, int, int],
               capture: tuple[int, int]) -> int:
    """In the worker: ``runtime create`` with ``stdio`` (closed here) as its and
    the container's stdio, reading the runtime's own output from ``capture``;
    the init's pid, recorded in ``status.json`` as created."""
    with_console = ["--console-socket", console] if console is not None else []
    argv = _runtime(opts, "create", "--bundle", opts.bundle, *with_console, "--pid-file",
                    os.path.join(opts.state_dir, INIT_PID_FILE), opts.container_id)
    try:
        pid = spawn(argv, *stdio)
    except OSError as exc:
        raise OciFailed(f"run runtime {opts.runtime!r}: {exc.strerror}", 125) from exc
    finally:
        for fd in stdio:
            os.close(fd)
    code, output = wait_oci(pid, OCI_TIMEOUT, capture)
    if code != 0:
        message = oci_message(output) or f"runtime create exited with status {code}"
        raise OciFailed(message, failure_exit_code(code, message))
    try:
        init_pid = int(read_small(INIT_PID_FILE))
    except (OSError, ValueError) as exc:
        raise OciFailed(f"runtime create left no usable {INIT_PID_FILE}: {exc}", 125) from exc
    if console is not None:
        # the runtime connected and sent the terminal already: its connection
        # waits in the shim's backlog, so the name can go before "created" is said
        try:
            os.unlink(console)
        except FileNotFoundError:
            pass
    write_state_file(STATUS_FILE, dumps({"state": "created", "pid": init_pid}))
    return init_pid


def oci_start(opts: Options, init_pid: int) -> str:
    """In the worker: ``runtime start``; started_at, recorded in ``status.json``
    as running. The runtime's output goes to a file, read for an error message."""
    out = os.open(_START_OUTPUT, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            pid = spawn(_runtime(opts, "start", opts.container_id), null, out, out)
        except OSError as exc:
            raise OciFailed(f"run runtime {opts.runtime!r}: {exc.strerror}", 125) from exc
        finally:
            os.close(null)
        code, _ = wait_oci(pid, OCI_TIMEOUT)
        output = os.pread(out, 64 * 1024, 0)
    finally:
        os.close(out)
        os.unlink(_START_OUTPUT)
    if code != 0:
        message = oci_message(output) or f"runtime start exited with status {code}"
        raise OciFailed(message, failure_exit_code(code, message))
    started_at = format_timestamp(time.time_ns())
    write_state_file(STATUS_FILE, dumps({"state": "running", "pid": init_pid,
                                         "started_at": started_at}))
    return started_at
