"""The compact build view for a terminal (``--progress=auto`` on a tty, or
``--progress=tty``): one line per step, as BuildKit's terminal view keeps
it, instead of the legacy builder's full log.

It reads the legacy progress text (what :mod:`cli.buildstages` prints
without a terminal) and redraws it: while a step runs its line shows the
latest line of the step's output; when it ends the line is final, with
``CACHED`` or the step's seconds. The output of a step that fails is
printed whole, so the error can be read.
"""

from __future__ import annotations

import re
import time
from typing import Callable, List, Optional

__all__ = ["CompactView"]

_STEP = re.compile(r"Step (\d+)/(\d+) : (.*)")
_ID = re.compile(r" ---> ([0-9a-f]{12})?")
_QUIET = (" ---> Running in ", "Removing intermediate container ", " ---> Using cache")


class CompactView:
    """A write-only text sink over ``out`` (a terminal of ``width`` columns)."""

    def __init__(self, out: Callable[[str], object], width: int = 80, clock: Callable[[], float] = time.monotonic,
                 flush: Callable[[], None] = lambda: None) -> None:
        self._out = out
        self._flush = flush
        self._width = max(20, width)
        self._clock = clock
        self._partial = ""
        self._title: Optional[str] = None
        self._started = 0.0
        self._cached = False
        self._log: List[str] = []

    def write(self, text: str) -> None:
        text = self._partial + text
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)
        if self._partial and self._title is not None:
            self._draw(self._partial)

    def _fit(self, text: str) -> str:
        text = text.replace("\r", "").replace("\t", " ")
        return text if len(text) <= self._width - 1 else text[: self._width - 2] + "…"

    def _draw(self, last: str = "") -> None:
        shown = "[" + (self._title or "") + (" | " + last.strip() if last.strip() else "")
        self._out("\r\x1b[K" + self._fit(shown))

    def _line(self, line: str) -> None:
        step = _STEP.fullmatch(line)
        if step:
            self._end()
            n, m, what = step.groups()
            self._title = f"{n}/{m}] {what}"
            self._started, self._cached, self._log = self._clock(), False, []
            self._draw()
            return
        if line == " ---> Using cache":
            self._cached = True
            return
        if self._title is not None and _ID.fullmatch(line):
            self._end()
            return
        if line.startswith(_QUIET):
            return
        if self._title is None:
            self._out(line + "\n")
            return
        self._log.append(line)
        del self._log[:-1000]
        self._draw(line)

    def _end(self) -> None:
        if self._title is None:
            return
        took = "CACHED" if self._cached else f"{self._clock() - self._started:.1f}s"
        title = "[" + self._title
        room = self._width - 2 - len(took)
        if len(title) > room:
            title = title[: room - 1] + "…"
        pad = max(1, self._width - 1 - len(title) - len(took))
        self._out("\r\x1b[K" + title + " " * pad + took + "\n")
        self._title = None

    def fail(self) -> None:
        """The build stopped: the running step's output, whole."""
        if self._partial:
            self._log.append(self._partial)
            self._partial = ""
        if self._title is not None:
            self._out("\r\x1b[K" + self._fit("[" + self._title) + "\n")
            for line in self._log:
                self._out(line + "\n")
            self._title = None

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = ""
        self._end()

    def flush(self) -> None:
        self._flush()
