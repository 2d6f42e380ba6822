"""runtime.v1 ``Exec`` over :class:`services.runtime.execs.Execs`: the first
message is the ExecSpec; later ones stdin frames and resizes. The server sends
the pid once started, the output frames, then Exited."""

from __future__ import annotations

import queue
import threading
import time

from barque.runtime.v1 import runtime_pb2
from services.common.errors import InvalidArgument
from services.runtime.execs import STDERR, ExecSession, Execs

__all__ = ["ExecServicerMixin"]

_KIND = {STDERR: runtime_pb2.STREAM_KIND_STDERR}
#: how long a terminal's first size is awaited (the CLI sends it right after the spec)
INITIAL_SIZE_WAIT = 0.5


class _ClientInput:
    """The client's later messages, read on a thread from the start so that a
    terminal size sent right after the spec is known before the process
    starts; everything is forwarded in order once a session is bound."""

    def __init__(self, requests) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._held: list = []
        threading.Thread(target=self._read, args=(requests,), daemon=True, name="exec-input").start()

    def _read(self, requests) -> None:
        try:
            for req in requests:
                self._queue.put(req)
        except Exception:  # the client went away: the exec goes on until its stream ends
            pass
        finally:
            self._queue.put(None)

    def initial_size(self) -> tuple[int, int]:
        """The first Resize if it comes within INITIAL_SIZE_WAIT, else (0, 0)."""
        deadline = time.monotonic() + INITIAL_SIZE_WAIT
        while True:
            try:
                req = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return 0, 0
            self._held.append(req)
            if req is None:
                return 0, 0
            if req.WhichOneof("msg") == "resize":
                return req.resize.height, req.resize.width

    def forward(self, session: ExecSession) -> None:
        threading.Thread(target=self._forward, args=(session,), daemon=True, name="exec-stdin").start()

    def _forward(self, session: ExecSession) -> None:
        held, self._held = self._held, []
        for req in held:
            if req is None:
                return
            self._deliver(session, req)
        while (req := self._queue.get()) is not None:
            self._deliver(session, req)

    @staticmethod
    def _deliver(session: ExecSession, req) -> None:
        deliver_input(session, req)


def deliver_input(target, req, *, stdin: bool = True) -> None:
    """Hand a client's stdin frame or resize (Run, Attach or Exec message) to
    ``target`` (an exec session or a shim attachment)."""
    which = req.WhichOneof("msg")
    if which == "stdin" and stdin:
        if req.stdin.data:
            target.send_stdin(req.stdin.data)
        if req.stdin.eof:
            target.close_stdin()
    elif which == "resize":
        target.resize(req.resize.height, req.resize.width)


class ExecServicerMixin:
    """Mixed into RuntimeServicer, which provides ``self._rt``."""

    _rt: object
    _execs_instance: Execs | None = None

    def _execs(self) -> Execs:
        if self._execs_instance is None:
            self._execs_instance = Execs(self._rt)
        return self._execs_instance

    def Exec(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "spec":
            raise InvalidArgument("the first Exec message must carry the spec")
        s = first.spec
        client = _ClientInput(request_iterator)
        height, width = client.initial_size() if s.tty and not s.detach else (0, 0)
        session = self._execs().exec(
            s.id, list(s.args), list(s.env), workdir=s.working_dir, user=s.user, tty=s.tty,
            stdin=s.attach_stdin, detach=s.detach, privileged=s.privileged, height=height, width=width)
        finished = False
        try:
            pid = session.pid()
            if pid:
                yield runtime_pb2.ExecResponse(pid=pid)
            if not s.detach:  # stdin frames (-i) and resizes (-t)
                client.forward(session)
                for stream, data in session.output():
                    yield runtime_pb2.ExecResponse(output=runtime_pb2.Frame(
                        stream=_KIND.get(stream, runtime_pb2.STREAM_KIND_STDOUT), data=data))
            code = session.wait()
            finished = True
            yield runtime_pb2.ExecResponse(exited=runtime_pb2.Exited(exit_code=code, error=session.error))
        finally:
            if not finished:
                session.kill()
                session.wait()
            session.close()
