"""A user's exec as moby reports it in ``docker events``: "exec_create: CMD
ARGS" and "exec_start: CMD ARGS" (the action carries the command line),
then "exec_die" with its exitCode, each with the exec's id (execID) and
the container's attributes. Health probes go straight to
:class:`~services.runtime.engine.execs.Execs` and emit none of these.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from services.common.events import EventLog
from services.runtime.engine.execs import Execs, ExecSession

__all__ = ["EventedExecs"]


class _Session:
    """An :class:`ExecSession` whose first ``wait()`` emits "exec_die"."""

    def __init__(self, session: ExecSession, emit_die) -> None:
        self._session = session
        self._emit_die = emit_die
        self._once = threading.Lock()
        self._done = False

    def wait(self) -> int:
        code = self._session.wait()
        with self._once:
            first, self._done = not self._done, True
        if first:
            self._emit_die(code)
        return code

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class EventedExecs:
    """:class:`Execs` with moby's exec events."""

    def __init__(self, execs: Execs, events: EventLog) -> None:
        self._execs = execs
        self._events = events

    def exec(self, ref: str, args: list[str], env: list[str], **options: Any) -> _Session:
        session = self._execs.exec(ref, args, env, **options)
        cid, exec_id = session.container_id, secrets.token_hex(32)
        command = " ".join(args)
        self._events.emit(f"exec_create: {command}", cid, execID=exec_id)
        self._events.emit(f"exec_start: {command}", cid, execID=exec_id)
        return _Session(session, lambda code: self._events.emit("exec_die", cid, execID=exec_id,
                                                                 exitCode=str(code)))
