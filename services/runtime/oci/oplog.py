"""barque-oci's log, as runc's ``--log``/``--log-format``: one line per event,
``{"level": ..., "msg": ..., "time": ..., <fields>}`` in JSON or
``time=... level=... msg=... k=v`` in text. Without ``--log`` events are
dropped, unless ``--debug``: then they go to stderr, as runc's (which logs
to stderr by default); a duplicate of fd 2 taken at configure time, so that
the container's processes, which log their setup steps before their own
stdio replaces fd 2, still write to barque-oci's stderr.

Deliberately tiny (no structlog): barque-oci runs several times per container
start, so its import time is on every ``run``'s critical path.
"""

from __future__ import annotations

import json
import os
import time
from typing import TextIO

__all__ = ["configure", "get_logger", "OciLogger"]

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class OciLogger:
    def __init__(self, context: dict | None = None) -> None:
        self._context = dict(context or {})

    def bind(self, **fields) -> "OciLogger":
        return OciLogger({**self._context, **fields})

    def _emit(self, level: str, msg: str, fields: dict) -> None:
        if _sink.stream is None or _LEVELS[level] < _sink.level:
            return
        record = {"level": level, "msg": msg, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  **self._context, **fields}
        if _sink.json:
            line = json.dumps(record, default=str, separators=(",", ":"))  # as logrus
        else:
            line = " ".join(f"{k}={json.dumps(v, default=str) if isinstance(v, str) and ' ' in v else v}"
                            for k, v in record.items())
        _sink.stream.write(line + "\n")
        _sink.stream.flush()

    def debug(self, msg: str, **fields) -> None:
        self._emit("debug", msg, fields)

    def info(self, msg: str, **fields) -> None:
        self._emit("info", msg, fields)

    def warning(self, msg: str, **fields) -> None:
        self._emit("warning", msg, fields)

    def error(self, msg: str, **fields) -> None:
        self._emit("error", msg, fields)


class _Sink:
    stream: TextIO | None = None
    json = False
    level = 20
    own: TextIO | None = None  # the stderr duplicate made here


_sink = _Sink()


def configure(stream: TextIO | None, *, json_format: bool, debug: bool) -> None:
    """Log to ``stream``; with ``stream`` None, to stderr if ``debug``, else nowhere."""
    if _sink.own is not None:
        _sink.own.close()
        _sink.own = None
    if stream is None and debug:
        try:
            stream = _sink.own = os.fdopen(os.dup(2), "w")  # dup: close-on-exec
        except OSError:  # no stderr: nowhere to log
            stream = None
    _sink.stream, _sink.json, _sink.level = stream, json_format, 10 if debug else 20


def get_logger(name: str | None = None) -> OciLogger:
    return OciLogger({"logger": name} if name else None)
