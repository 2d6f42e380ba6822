"""barque's per-container supervisor ("shim"), like containerd-shim or conmon.

One shim per container holds the container's stdio, writes its log
(:mod:`services.runtime.shim.logfile`), reaps it and records its exit status,
independently of the runtime service: containers, their exit codes and logs
survive a restart (even a SIGKILL) of the service.

Command line::

    python -m services.runtime.shim --id ID --bundle BUNDLE --state-dir DIR
        --runtime BIN [--runtime-arg ARG ...] --runtime-root ROOT
        --log-path FILE --log-driver json-file|k8s-file [--log-max-size BYTES]
        [--log-max-file N] [--stdin] [--tty] [--wait-attach] [--oom-cgroup DIR]

Process model: the service spawns the shim in a new session with stdio on
/dev/null. That first process forks; the child marks itself a child
subreaper (the mark survives execve) and re-executes the interpreter with the
same flags, so the long-lived shim never loads ctypes. The first process
exits 0 as soon as the shim wrote ``DIR/shim.pid`` and listens on
``DIR/attach.sock`` (non-zero if it died first): the service waits only for
that short-lived process and never owns the shim, which init adopts. The
shim runs ``BIN create`` and ``BIN start`` from a setup worker, a child that
exits once the container started (:mod:`services.runtime.shim.setupworker`):
the long-lived shim never runs that code. The container's init, orphaned
when ``BIN create`` exits, becomes the shim's child. The shim ignores
SIGTERM, SIGINT and SIGHUP (with handlers, so the runtime and the container
get default dispositions). If the shim is
SIGKILLed, the container is reparented to init and keeps running; its exit
status is then lost (``status.json`` stays ``running`` and ``shim.pid`` names
no live shim, which is how the service can tell).

Files in DIR (written atomically: temp file, fsync, rename, fsync of DIR):

- ``shim.pid``: the shim's pid; it stays after the shim exited (a fast
  failure can end the shim before its spawner reads the file), so liveness is
  checked against ``/proc/PID/cmdline`` naming this state dir.
- ``init.pid``: written by the OCI runtime (``--pid-file``).
- ``status.json``: ``{"state": "created", "pid": P}`` after create;
  ``{"state": "running", "pid": P, "started_at": T}`` after start;
  ``{"state": "exited", "pid": P, "exit_code": N, "signal": null|"SIGKILL",
  "oom_killed": bool, "started_at": T|"", "finished_at": T, "error": ""}`` at
  the end. ``exit_code`` is the status, or 128+signum when killed by a signal.
  When create or start fails, ``error`` holds the OCI runtime's message,
  ``started_at`` is "" and ``exit_code`` is 127 (command not found), 126 (not
  executable) or 125 (anything else). Times are RFC 3339 UTC with nanoseconds.
- ``attach.sock``: unix stream socket, mode 0600, removed when the shim exits.
- ``console.sock``: with --tty, only during ``create``: the runtime's
  ``--console-socket``, on which it sends the pty master (SCM_RIGHTS). When
  that path is too long for a unix socket, it is bound in a private
  ``/tmp/barque-console-*`` dir instead, removed with it.
- ``shim.log``: only if the shim itself crashed (a traceback).

Attach protocol on ``attach.sock``: the client first sends one JSON line
``{"stdin": bool, "stdout": bool, "stderr": bool, "logs": false}\\n``, with
optional ``"height"`` and ``"width"`` (the client's terminal size, applied to a
--tty container's terminal before anything else). After
that both directions carry frames ``[1 byte kind][4 bytes big-endian payload
length][payload]`` (payload at most 1 MiB):

====  ===========  ============  ==============================================
kind  name         direction     payload
====  ===========  ============  ==============================================
0     stdin        client->shim  bytes for the container's stdin (needs
                                 ``"stdin": true`` and a shim run with --stdin)
1     stdout       shim->client  bytes the container wrote to stdout
2     stderr       shim->client  bytes the container wrote to stderr
3     stdin EOF    client->shim  empty; the container's stdin is closed once
                                 buffered stdin was written
4     exit         shim->client  the final ``status.json`` document; last frame
5     resize       client->shim  ``{"height": H, "width": W}``; sets the window
                                 size of a --tty container (else ignored)
====  ===========  ============  ==============================================

With --tty the container's stdin, stdout and stderr are one pseudo-terminal:
its output is logged and sent as stdout, stdin frames are written to it (a
stdin EOF frame only stops further stdin: a terminal cannot be half-closed),
and the pipes carry only for the OCI runtime's own messages.

Output written before a client attached is not replayed (``logs`` is not
supported here; read the log file). With --wait-attach the shim runs
``BIN start`` only after the first client completed its handshake (or after
10 s), so a ``docker run``-style client sees all output. A client that stops
reading pauses the container's output once 256 KiB are queued for it (as
``docker attach`` does); a client that closes its sending side keeps
receiving. When the container has exited and its output pipes are closed
(or 2 s later), the final status is written, every client gets the exit
frame (5 s to take it), and the shim exits; a client arriving later finds no
socket and reads ``status.json``.

Memory: every container has a shim, so its imports are limited to builtin
modules and C accelerators (``_socket``, ``_signal``, ``_json``, ``select``,
``posix``) plus ``os`` and ``time``; ``ctypes`` (for prctl) only in the first
stage; from ``services.common`` only ``atomic`` (which imports only ``os``).
Spawned as ``python -I -S path/to/shim/__main__.py`` (no site-packages, no
runpy), a shim costs about 3.5 MiB PSS with 20 running, ~2.7 MiB of it the
bare interpreter. Forked from the warm zygote (the default), it shares the
zygote's pages and pays for each one it writes to, which is every page
holding an object its code touches (CPython 3.11 writes reference counts):
about 0.85 MiB private per shim with 20 running (0.9 MiB of PSS per
container), where a forked process that only waits costs ~0.2 MiB and a
minimal supervisor (signals, prctl, epoll) ~0.35 MiB. Compared page by page
with the zygote, a running shim's private pages are about 0.33 MiB whose
objects it only touched (a reference taken and dropped: functions,
builtins, types, modules, method descriptors), 0.23 MiB holding objects it
changed (the references it keeps, code objects that only shims run), and
0.26 MiB of its own: new objects, its frame stack, the interpreter's state
in libpython (gc lists, type cache). Hence: no import and no ``open()``,
``os.path`` or exception on a shim's common path, create and start in the
setup worker, the zygote rehearsing a shim 16 times before it forks so that
its bytecode is quickened and specialised
(:mod:`services.runtime.shim.rehearsal`), the zygote filling the holes in
its heap so that a shim's new objects land on fresh pages instead of on
shared ones (``zygote._fill_pools``), and reading the next request in the
child, not the zygote.
"""

__all__: list[str] = []
