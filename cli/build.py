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
from typing import Dict, List, Optional

from cli.commands import add_command
from client.errors import BarqueError, InvalidArgument

__all__ = ["register", "cmd_build"]


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
        sys.exit(1)
    try:
        epoch = _source_date_epoch()
    except InvalidArgument as exc:
        print(f"barque: {exc}", file=sys.stderr)
        sys.exit(125)
    with tempfile.TemporaryDirectory(prefix="barque-build-") as tmp:
        build = Build(ctx, args, tmp, epoch, _build_args(args.build_arg), _labels(args.label))
        try:
            image_id = build.run()
        except BarqueError as exc:
            from cli.buildscope import BuildContextError
            from client.dockerfile.dispatch import BuildError

            build.output_done()
            # a build's own errors are printed as the legacy builder words them;
            # a RUN's failure exits with the command's status, as docker's CLI does
            if isinstance(exc, (BuildError, BuildContextError)):
                print(str(exc), file=sys.stderr)
            else:
                ctx.error(exc)
            sys.exit(getattr(exc, "code", 1) if isinstance(getattr(exc, "code", None), int) else 1)
        except KeyboardInterrupt:
            build.output_done()
            raise
    if not image_id:
        sys.exit(1)
    return 0


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
