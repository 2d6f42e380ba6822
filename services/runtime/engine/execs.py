"""``exec``: another process in a running container, as Docker's ``exec``.

The process is described as a runtime-spec ``process`` object derived from the
container's own (environment plus overrides, user, working directory,
capabilities) and started by ``barque-oci exec``, which joins the container's
namespaces and cgroups. With the runtime's warm zygote, barque-oci runs in a
worker the zygote forks, on pipes this service makes and hands over
(:mod:`services.runtime.engine.warmexec`); without it (``BARQUE_RUNTIME_WARM=0``
or another OCI runtime such as runc), as a plain subprocess with pipes. Either
way the service itself never forks into the container.

Errors barque-oci reports before the process starts (command not found, not
executable, container gone) come from its JSON ``--log``; its own one-line
message on stderr is held back until the process is known to run (the pid file
exists), so a client never sees it mixed into the process's stderr.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from client.errors import FailedPrecondition, Internal, InvalidArgument
from services.runtime.engine.warmexec import WarmProcess, spawn_warm
from services.runtime.shim.client import Zygote
from services.runtime.spec import all_capabilities
from services.runtime.spec.users import process_user, resolve_user

__all__ = ["Execs", "ExecHost", "ExecSession", "STDOUT", "STDERR"]

STDOUT = "stdout"
STDERR = "stderr"
#: how long a terminal's master is awaited on the console socket
CONSOLE_TIMEOUT = 30.0
#: after the process exited, output still arriving within this is delivered
#: (descendants holding the pipes open do not keep the session alive)
DRAIN_GRACE = 0.5


@dataclass(frozen=True)
class ExecOptions:
    args: list[str]
    env: list[str]
    workdir: str = ""
    user: str = ""
    tty: bool = False
    stdin: bool = False
    detach: bool = False
    privileged: bool = False
    height: int = 0
    width: int = 0


def merge_env(base: list[str], overrides: list[str]) -> list[str]:
    """``base`` with ``overrides`` replacing same-named entries, order kept."""
    merged: dict[str, str] = {}
    for item in [*base, *overrides]:
        key = item.partition("=")[0]
        merged[key] = item
    return list(merged.values())


def exec_process(spec: dict, rootfs: Path, opts: ExecOptions) -> dict:
    """The runtime-spec process object of an exec into the container of ``spec``."""
    if not opts.args:
        raise InvalidArgument("no command specified")
    base = spec.get("process") or {}
    proc = {k: v for k, v in base.items() if k not in ("consoleSize",)}
    proc["args"] = list(opts.args)
    proc["terminal"] = opts.tty
    if opts.tty and opts.height and opts.width:
        proc["consoleSize"] = {"height": opts.height, "width": opts.width}
    proc["env"] = merge_env(list(base.get("env") or []), opts.env)
    if opts.tty and not any(e.startswith("TERM=") for e in proc["env"]):
        proc["env"].append("TERM=xterm")
    if opts.workdir:
        if not opts.workdir.startswith("/"):
            raise InvalidArgument(f"the working directory {opts.workdir!r} is invalid, it needs to be an "
                                  "absolute path")
        proc["cwd"] = opts.workdir
    user = dict(base.get("user") or {"uid": 0, "gid": 0})
    if opts.user:
        user = process_user(resolve_user(rootfs, opts.user))
    proc["user"] = user
    caps = dict(base.get("capabilities") or {})
    bounding = all_capabilities() if opts.privileged else list(caps.get("bounding") or [])
    root_user = int(user.get("uid", 0)) == 0
    proc["capabilities"] = {
        "bounding": bounding,
        "effective": list(bounding) if root_user or opts.privileged else [],
        "permitted": list(bounding) if root_user or opts.privileged else [],
        "inheritable": [],
        "ambient": [],
    }
    return proc


def _command_not_found(failure: str) -> bool:
    """dockerd's isInvalidCommand: the runtime's error says the command is missing."""
    text = failure.lower()
    return "executable file not found" in text or "no such file or directory" in text


class ExecSession:
    """One exec'd process: its output, its stdin, its exit code.

    ``output()`` yields ``(STDOUT|STDERR, bytes)`` until the process ended and
    its output was drained; ``wait()`` returns the exit code (126/127 with
    ``error`` set when it could not start).
    """

    def __init__(self, container_id: str, workdir: Path, proc: subprocess.Popen | WarmProcess,
                 console: socket.socket | None, opts: ExecOptions) -> None:
        self.container_id = container_id
        self.error = ""
        self._dir = workdir
        self._proc = proc
        self._opts = opts
        self._pid_file = workdir / "pid"
        self._log_file = workdir / "oci.log"
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._readers = 0
        self._master: int | None = None
        self._stdin_lock = threading.Lock()
        self._code: int | None = None
        self._closed = False
        self._killed = False
        self._kill_lock = threading.Lock()
        if console is not None:
            self._master = self._receive_master(console)
            self.resize(opts.height, opts.width)
        if proc.stdout is not None:
            self._start_reader(proc.stdout.fileno(), STDOUT, gated=False)
        if proc.stderr is not None:
            self._start_reader(proc.stderr.fileno(), STDERR, gated=True)
        if self._master is not None:
            self._start_reader(self._master, STDOUT, gated=False)

    # ---- start ---------------------------------------------------------------

    def _receive_master(self, console: socket.socket) -> int | None:
        """The pty master barque-oci's child sends; None if it failed first."""
        console.settimeout(0.1)
        deadline = time.monotonic() + CONSOLE_TIMEOUT
        try:
            while True:
                try:
                    conn, _ = console.accept()
                    break
                except socket.timeout:
                    if self._proc.poll() is not None or time.monotonic() > deadline:
                        return None
            with conn:
                conn.settimeout(CONSOLE_TIMEOUT)
                _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        except OSError:
            return None
        finally:
            console.close()
        for extra in fds[1:]:
            os.close(extra)
        return fds[0] if fds else None

    def _started(self) -> bool:
        try:
            return bool(self._pid_file.read_text().strip())
        except FileNotFoundError:
            return False

    def pid(self, timeout: float = 30.0) -> int:
        """Host pid of the process once started; 0 if it did not start (within
        ``timeout``: 0 looks once)."""
        deadline = time.monotonic() + timeout
        delay = 0.001  # barque-oci writes the file within milliseconds: look soon, then back off
        while True:
            try:
                text = self._pid_file.read_text().strip()
            except FileNotFoundError:
                text = ""
            if text:
                return int(text)
            if self._proc.poll() is not None and not self._pid_file.exists():
                return 0
            if time.monotonic() >= deadline:
                return 0
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    # ---- output --------------------------------------------------------------

    def _start_reader(self, fd: int, stream: str, gated: bool) -> None:
        self._readers += 1
        threading.Thread(target=self._read, args=(fd, stream, gated), daemon=True,
                         name=f"exec-{stream}").start()

    def _read(self, fd: int, stream: str, gated: bool) -> None:
        """Copy ``fd`` into the queue; a gated stream is held until the process
        is known to have started, and dropped if it never did (it was then
        barque-oci's own error, reported through ``error``)."""
        held: list[bytes] = []
        try:
            while True:
                if gated and held == [] and not self._started():
                    ready, _, _ = select.select([fd], [], [], 0.05)
                    if not ready:
                        continue
                elif gated and held:
                    if self._started():
                        for chunk in held:
                            self._queue.put((stream, chunk))
                        held = []
                        continue
                    ready, _, _ = select.select([fd], [], [], 0.05)
                    if not ready:
                        continue
                try:
                    data = os.read(fd, 65536)
                except OSError:  # EIO: the terminal's last holder closed it
                    data = b""
                if not data:
                    break
                if gated and not self._started():
                    held.append(data)
                else:
                    self._queue.put((stream, data))
        finally:
            if held:
                self._proc.wait()
                if self._started():
                    for chunk in held:
                        self._queue.put((stream, chunk))
            self._queue.put(None)

    def output(self) -> Iterator[tuple[str, bytes]]:
        ended = 0
        exited_at: float | None = None
        while ended < self._readers:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._proc.poll() is None:
                    continue
                exited_at = exited_at or time.monotonic()
                if time.monotonic() - exited_at > DRAIN_GRACE:
                    return  # descendants still hold the pipes: the process itself is done
                continue
            if item is None:
                ended += 1
            else:
                yield item

    # ---- input ---------------------------------------------------------------

    def send_stdin(self, data: bytes) -> None:
        with self._stdin_lock:
            try:
                if self._master is not None and self._opts.stdin:
                    os.write(self._master, data)
                elif self._proc.stdin is not None and not self._proc.stdin.closed:
                    self._proc.stdin.write(data)
                    self._proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass  # the process closed its stdin or ended

    def close_stdin(self) -> None:
        with self._stdin_lock:
            try:
                if self._master is not None and self._opts.stdin:
                    os.write(self._master, b"\x04")
                elif self._proc.stdin is not None:
                    self._proc.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass

    def resize(self, height: int, width: int) -> None:
        if self._master is not None and height and width:
            try:
                fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
            except OSError:
                pass

    # ---- end -----------------------------------------------------------------

    def wait(self) -> int:
        """The exit code: the process's, or 126/127 when it could not start."""
        if self._code is not None:
            return self._code
        code = self._proc.wait()
        failure = self._failure()
        if failure and not (self._opts.detach and code == 0):
            self.error = f"OCI runtime exec failed: exec failed: unable to start container process: {failure}: unknown"
            # as dockerd (translateContainerdStartErr): a command not found is 127,
            # whatever code the runtime exited with (runc, and barque-oci, exit 255)
            code = 127 if code == 127 or _command_not_found(failure) else 126
        elif code < 0:
            code = 128 - code
        self._code = code
        return code

    def _failure(self) -> str:
        try:
            lines = self._log_file.read_text().splitlines()
        except FileNotFoundError:
            return ""
        for line in reversed(lines):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("level") == "error":
                # {"msg": "command_failed", "error": ...}, or runc's style: the error is msg
                return str(event.get("error") or event.get("msg") or "")
        return ""

    def kill(self) -> None:
        """SIGKILL the process if it still runs (the client went away); once:
        the gRPC callback and the stream's end may both ask. Never blocks."""
        with self._kill_lock:
            if self._killed or self._proc.poll() is not None:
                return
            pid = self.pid(timeout=0)
            self._killed = bool(pid)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        if self._master is not None:
            try:
                os.close(self._master)
            except OSError:
                pass
            self._master = None
        shutil.rmtree(self._dir, ignore_errors=True)


@dataclass(frozen=True)
class ExecHost:
    """What an exec needs from the engine, and nothing more."""

    #: a container reference (id, unique id prefix or name) -> (its full id, whether it runs now)
    find_container: Callable[[str], tuple[str, bool]]
    #: a container id -> its bundle directory (config.json and the rootfs it names)
    bundle_dir: Callable[[str], Path]
    #: the OCI runtime's command line (barque-oci or runc) and its ``--root``
    oci: tuple[str, ...]
    oci_root: Path
    #: the runtime's warm helper, which runs barque-oci in-process; None: ``oci`` as a subprocess
    zygote: Zygote | None = None


class Execs:
    """Exec sessions in the containers of one engine."""

    def __init__(self, host: ExecHost) -> None:
        self._host = host
        #: each exec's scratch dir (process.json, pid file, console socket), under
        #: the runtime's state: a runtime killed mid-exec leaves one, dropped here
        #: at its next start rather than in /tmp for good
        self._scratch = host.oci_root.parent / "exec"
        shutil.rmtree(self._scratch, ignore_errors=True)
        self._scratch.mkdir(mode=0o700, parents=True, exist_ok=True)

    def exec(self, ref: str, args: list[str], env: list[str], workdir: str = "", user: str = "",
             tty: bool = False, stdin: bool = False, detach: bool = False,
             privileged: bool = False, height: int = 0, width: int = 0) -> ExecSession:
        """Start ``args`` in the running container ``ref``; ``height``/``width``
        is the terminal's initial size (``tty``)."""
        opts = ExecOptions(args=list(args), env=list(env), workdir=workdir, user=user, tty=tty,
                           stdin=stdin and not detach, detach=detach, privileged=privileged,
                           height=height, width=width)
        cid, running = self._host.find_container(ref)
        if not running:
            raise FailedPrecondition(f"container {cid} is not running")
        bundle = self._host.bundle_dir(cid)
        try:
            spec = json.loads((bundle / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise Internal(f"read the spec of container {cid}: {exc}") from exc
        root = Path((spec.get("root") or {}).get("path") or "rootfs")
        rootfs = root if root.is_absolute() else bundle / root
        proc_obj = exec_process(spec, rootfs, opts)

        workdir_path = Path(tempfile.mkdtemp(prefix="barque-exec-", dir=self._scratch))
        console: socket.socket | None = None
        try:
            process_file = workdir_path / "process.json"
            process_file.write_text(json.dumps(proc_obj))
            argv = ["--root", str(self._host.oci_root), "--log", str(workdir_path / "oci.log"),
                    "--log-format", "json", "exec", "--process", str(process_file),
                    "--pid-file", str(workdir_path / "pid")]
            if tty and not detach:
                console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                console.bind(str(workdir_path / "console.sock"))
                console.listen(1)
                argv += ["--console-socket", str(workdir_path / "console.sock")]
            elif tty:
                proc_obj["terminal"] = False  # detached: nobody would read the terminal
                process_file.write_text(json.dumps(proc_obj))
            if detach:
                argv.append("--detach")
            argv.append(cid)
            proc = self._start(argv, stdin=opts.stdin and not tty, stdout=not (detach or tty),
                               stderr=not detach)
        except BaseException:
            if console is not None:
                console.close()
            shutil.rmtree(workdir_path, ignore_errors=True)
            raise
        return ExecSession(cid, workdir_path, proc, console, opts)

    def _start(self, args: list[str], *, stdin: bool, stdout: bool, stderr: bool,
               ) -> subprocess.Popen | WarmProcess:
        """The OCI runtime with ``args``, a pipe for each stream asked for."""
        if self._host.zygote is not None:
            return spawn_warm(self._host.zygote, args, stdin=stdin, stdout=stdout, stderr=stderr)
        return subprocess.Popen(
            [*self._host.oci, *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE if stderr else subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )
