"""runtime.v1 ``Exec`` over :class:`services.runtime.execs.Execs`: the first
message is the ExecSpec; later ones stdin frames and resizes. The server sends
the pid once started, the output frames, then Exited."""

from __future__ import annotations

from barque.runtime.v1 import runtime_pb2
from services.common.errors import InvalidArgument
from services.runtime.client_input import ClientInput
from services.runtime.execs import STDERR, Execs

__all__ = ["ExecServicerMixin"]

_KIND = {STDERR: runtime_pb2.STREAM_KIND_STDERR}
#: how long a terminal's first size is awaited (the CLI sends it right after the spec)
INITIAL_SIZE_WAIT = 0.5


class ExecServicerMixin:
    """Mixed into RuntimeServicer, which provides ``self._execs``."""

    _execs: Execs

    def Exec(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "spec":
            raise InvalidArgument("the first Exec message must carry the spec")
        s = first.spec
        client = ClientInput(request_iterator)
        height, width = client.wait_size(INITIAL_SIZE_WAIT) if s.tty and not s.detach else (0, 0)
        session = self._execs.exec(
            s.id, list(s.args), list(s.env), workdir=s.working_dir, user=s.user, tty=s.tty,
            stdin=s.attach_stdin, detach=s.detach, privileged=s.privileged, height=height, width=width)
        finished = False
        try:
            pid = session.pid()
            if pid:
                yield runtime_pb2.ExecResponse(pid=pid)
            if not s.detach:  # stdin frames (-i) and resizes (-t)
                client.bind(session)
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
