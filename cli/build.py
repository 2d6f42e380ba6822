"""``barque build``: Docker's legacy builder's flags, progress and exit codes.

The CLI orchestrates and the services do the work: the Dockerfile is parsed
and planned here (:mod:`client.dockerfile`), each step is done by the
image-store and the runtime (:mod:`cli.buildrun`), and the context is read
from disk as COPY needs it (:mod:`cli.buildcontext`), never sent whole.

Only the stages the target needs are built; stages that do not depend on
each other run at the same time, each in its own thread. Progress is
printed as the legacy builder prints it, one stage after another in file
order: the first unfinished stage streams, the others are held until it is
done. A failed RUN exits with the command's status, as docker's CLI does;
other build errors exit 1, usage errors 125.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from concurrent.futures import Future
from typing import Dict, List, Optional

from cli.commands import add_command
from client.errors import BarqueError, InvalidArgument

__all__ = ["register", "cmd_build", "OrderedOutput"]


class OrderedOutput:
    """Stage outputs printed in stage order: the head stage streams."""

    def __init__(self, out, order: List[int]) -> None:
        self._out = out
        self._order = list(order)
        self._pos = 0
        self._held: Dict[int, List[str]] = {i: [] for i in order}
        self._done: set = set()
        self._lock = threading.Lock()

    def _head(self) -> Optional[int]:
        return self._order[self._pos] if self._pos < len(self._order) else None

    def writer(self, stage: int):
        def write(text: str) -> None:
            with self._lock:
                if self._head() == stage:
                    self._out.write(text)
                    self._out.flush()
                else:
                    self._held[stage].append(text)
        return write

    def finish(self, stage: int) -> None:
        with self._lock:
            self._done.add(stage)
            while self._head() is not None and self._head() in self._done:
                self._pos += 1
                nxt = self._head()
                if nxt is not None:
                    self._out.write("".join(self._held[nxt]))
                    self._held[nxt] = []
            self._out.flush()

    def flush_all(self) -> None:
        with self._lock:
            for ix in self._order[self._pos:]:
                self._out.write("".join(self._held[ix]))
                self._held[ix] = []
            self._out.flush()


def _build_args(values: List[str]) -> Dict[str, Optional[str]]:
    out: Dict[str, Optional[str]] = {}
    for item in values or []:
        key, eq, value = item.partition("=")
        out[key] = value if eq else os.environ.get(key)
    return out


def _labels(values: List[str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for item in values or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _source_date_epoch() -> Optional[int]:
    text = os.environ.get("SOURCE_DATE_EPOCH")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"invalid SOURCE_DATE_EPOCH: {text}") from None


def cmd_build(ctx, args) -> int:
    from cli.buildstages import Build

    if args.platform and args.platform not in ("linux/amd64", "linux", "amd64") and not args.platform.startswith("linux/amd64"):
        print(f'barque: build for platform "{args.platform}" is not supported on this host (linux/amd64 only)',
              file=sys.stderr)
        return 1
    try:
        epoch = _source_date_epoch()
    except InvalidArgument as exc:
        print(f"barque: {exc}", file=sys.stderr)
        return 125
    with tempfile.TemporaryDirectory(prefix="barque-build-") as tmp:
        build = Build(ctx, args, tmp, epoch, _build_args(args.build_arg), _labels(args.label))
        try:
            image_id = build.run()
        except BarqueError as exc:
            build.output_done()
            code = getattr(exc, "code", 1) or 1
            text = str(exc)
            print(text if getattr(exc, "code", None) is not None else ctx_error_text(exc), file=sys.stderr)
            return code
        except KeyboardInterrupt:
            build.output_done()
            raise
    return 0 if image_id else 1


def ctx_error_text(exc: BaseException) -> str:
    from cli.main import describe_error

    return describe_error(exc)


def register(sub, image_group, builder_group=None) -> None:
    groups = [(sub, "build"), (image_group, "build")]
    if builder_group is not None:
        groups.append((builder_group, "build"))
    for p in add_command(groups, cmd_build, help="Build an image from a Dockerfile"):
        p.add_argument("-t", "--tag", action="append", default=[])
        p.add_argument("-f", "--file", default=None)
        p.add_argument("--build-arg", action="append", default=[])
        p.add_argument("--target", default="")
        p.add_argument("--no-cache", action="store_true")
        p.add_argument("--pull", action="store_true")
        p.add_argument("--label", action="append", default=[])
        p.add_argument("-q", "--quiet", action="store_true")
        p.add_argument("--iidfile", default="")
        p.add_argument("--network", default="default")
        p.add_argument("--platform", default="")
        p.add_argument("--rm", default="true")
        p.add_argument("--force-rm", action="store_true")
        p.add_argument("--progress", default="auto", choices=["auto", "plain", "tty"])
        p.add_argument("context")
