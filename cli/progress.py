"""Pull progress as Docker prints it: per-layer bars on a terminal, plain
lines otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from cli.format import human_size, short_id

__all__ = ["PullPrinter", "progress_bar"]

_LABEL = {
    "waiting": "Waiting",
    "downloading": "Downloading",
    "verifying": "Verifying Checksum",
    "extracting": "Extracting",
    "already_exists": "Already exists",
    "done": "Pull complete",
}


class PullPrinter:
    def __init__(self, out: TextIO | None = None, tty: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.order: list[str] = []
        self.lines: dict[str, str] = {}
        self.plain_last: dict[str, str] = {}

    def layer(self, digest: str, status: str, current: int = 0, total: int = 0) -> None:
        lid = short_id(digest)
        label = _LABEL.get(status, status)
        if status == "waiting" and lid not in self.lines:
            label = "Pulling fs layer"
        text = f"{lid}: {label}"
        if self.tty and status == "downloading" and total:
            text += " " + progress_bar(current, total)
        if lid not in self.lines:
            self.order.append(lid)
            self.lines[lid] = text
            self.out.write(text + "\n")
        elif self.tty:
            self.lines[lid] = text
            up = len(self.order) - self.order.index(lid)
            self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
        else:
            # plain output: one line per phase change, not per chunk
            if self.plain_last.get(lid) != label:
                self.out.write(text + "\n")
        self.plain_last[lid] = label
        self.out.flush()

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def progress_bar(current: int, total: int, width: int = 50) -> str:
    """docker's JSONProgress: ``[====>    ]  1.2MB/3.4MB`` (pull's and push's bars)."""
    filled = min(width, int(width * current / total)) if total else 0
    arrow = ">" if filled < width else ""
    bar = "=" * max(0, filled - (1 if arrow else 0)) + arrow
    return f"[{bar.ljust(width)}]  {human_size(current)}/{human_size(total)}"
