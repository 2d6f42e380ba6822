"""``barque push [-q] [--all-tags] NAME[:TAG]`` (and ``image push``), with
docker 20.10's output and exit codes.

The image-store does the work (its Push RPC, which goes through the
registry-proxy); this module prints its progress as docker-cli's
``jsonmessage`` does: on a terminal one line per layer redrawn in place
(``Pushing [==>  ] 1.2MB/3.4MB``), off a terminal every phase but the
byte counts (docker skips progress messages there). ``-q`` prints only the
reference. An error in the stream is printed as its message alone, exit 1.
"""

from __future__ import annotations

import sys
from typing import Iterator, TextIO

from barque.images.v1 import images_pb2, images_pb2_grpc
from cli.commands import add_command
from cli.progress import progress_bar
from client.channels import RemoteStub, connect
from client.config import Config
from client.errors import BarqueError
from client.reference import parse_reference

__all__ = ["PushImages", "PushPrinter", "register"]

_LABEL = {
    images_pb2.PUSH_STATUS_PREPARING: "Preparing",
    images_pb2.PUSH_STATUS_WAITING: "Waiting",
    images_pb2.PUSH_STATUS_PUSHING: "Pushing",
    images_pb2.PUSH_STATUS_PUSHED: "Pushed",
    images_pb2.PUSH_STATUS_EXISTS: "Layer already exists",
}


class PushImages:
    """The image-store's Push, as the CLI sees it."""

    def __init__(self, config: Config) -> None:
        self._stub = RemoteStub(images_pb2_grpc.ImagesStub(connect(config, "images")), "images")

    def push(self, reference: str, all_tags: bool) -> Iterator[images_pb2.PushResponse]:
        return self._stub.Push(images_pb2.PushRequest(reference=reference, all_tags=all_tags))


class PushPrinter:
    """docker-cli's DisplayJSONMessagesStream for a push."""

    def __init__(self, out: TextIO | None = None, tty: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.order: list[str] = []

    def event(self, ev: images_pb2.PushResponse) -> None:
        if ev.status in (images_pb2.PUSH_STATUS_INFO, images_pb2.PUSH_STATUS_TAG_DONE):
            self.order = []  # a line with no id ends the block being redrawn, as docker's
            self.line(ev.message)
            return
        label = ev.message if ev.status == images_pb2.PUSH_STATUS_MOUNTED else _LABEL.get(ev.status, "")
        text = f"{ev.id}: {label}"
        if ev.status == images_pb2.PUSH_STATUS_PUSHING:
            if not self.tty:
                return  # docker: no progress bars off a terminal
            text += " " + progress_bar(ev.current, ev.total)
        if ev.id not in self.order:
            self.order.append(ev.id)
            self.out.write(text + "\n")
        elif self.tty:
            up = len(self.order) - self.order.index(ev.id)
            self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def cmd_push(ctx, args) -> int:
    try:
        ref = parse_reference(args.reference)
    except BarqueError as exc:  # docker-cli's own check: its message, exit 1
        print(str(exc), file=sys.stderr)
        sys.exit(1)
    name_only = ref.digest is None and ":" not in args.reference.rsplit("/", 1)[-1]
    if args.all_tags and not name_only:
        print("tag can't be used with --all-tags/-a", file=sys.stderr)
        sys.exit(1)
    printer = PushPrinter()
    if name_only and not args.all_tags and not args.quiet:
        printer.line(f"Using default tag: {ref.tag or 'latest'}")
    client = PushImages(ctx.config)
    try:
        for ev in client.push(args.reference, args.all_tags):
            if not args.quiet:
                printer.event(ev)
    except BarqueError as exc:
        if exc.remote:  # the daemon's error in the stream: docker prints its message alone
            print(str(exc), file=sys.stderr)
            sys.exit(1)
        raise
    if args.quiet:
        printer.line(ref.name if args.all_tags else str(ref))
    return 0


def register(sub, image_group) -> None:
    for p in add_command([(sub, "push"), (image_group, "push")], cmd_push,
                         help="Push an image or a repository to a registry"):
        p.add_argument("reference", metavar="NAME[:TAG]")
        p.add_argument("-a", "--all-tags", action="store_true", help="Push all tagged images in the repository")
        p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
