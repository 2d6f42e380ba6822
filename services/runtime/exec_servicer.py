"""runtime.v1 ``Exec`` over :class:`services.runtime.execs.Execs`: the first
message is the ExecSpec; later ones stdin frames and resizes. The server sends
the pid once started, the output frames, then Exited."""

from __future__ import annotations

import threading

from barque.runtime.v1 import runtime_pb2
from services.common.errors import InvalidArgument
from services.runtime.execs import STDERR, ExecSession, Execs

__all__ = ["ExecServicerMixin"]

_KIND = {STDERR: runtime_pb2.STREAM_KIND_STDERR}


def _pump(requests, session: ExecSession) -> None:
    """Forward stdin frames and resizes until the client closes its side."""
    try:
        for req in requests:
            which = req.WhichOneof("msg")
            if which == "stdin":
                if req.stdin.data:
                    session.send_stdin(req.stdin.data)
                if req.stdin.eof:
                    session.close_stdin()
            elif which == "resize":
                session.resize(req.resize.height, req.resize.width)
    except Exception:  # the client went away: the exec goes on until the stream ends
        pass


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
        session = self._execs().exec(
            s.id, list(s.args), list(s.env), workdir=s.working_dir, user=s.user, tty=s.tty,
            stdin=s.attach_stdin, detach=s.detach, privileged=s.privileged)
        finished = False
        try:
            pid = session.pid()
            if pid:
                yield runtime_pb2.ExecResponse(pid=pid)
            if not s.detach:  # stdin frames (-i) and resizes (-t)
                threading.Thread(target=_pump, args=(request_iterator, session), daemon=True,
                                 name="exec-stdin").start()
            if not s.detach:
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
