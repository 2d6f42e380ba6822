"""``barque save`` and ``barque load`` (docker/cli ``image/save.go``, ``image/load.go``),
with their remote adapter over the image-store's Save and Load.

``save`` writes docker's format by default, as docker 20.10 does;
``--format oci`` (which docker 20.10 has not) writes an OCI image layout.
``load`` takes either, detects a compressed archive, and prints docker's lines.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import BinaryIO, Iterator

from barque.images.v1 import images_pb2, images_pb2_grpc
from cli.commands import add_command
from client.channels import RemoteStub, connect
from client.config import Config
from client.errors import BarqueError

__all__ = ["ArchiveClient", "cmd_load", "cmd_save", "register"]

#: bytes per Load message
CHUNK = 1 << 20
#: docker's exit status for a failed save or load (cobra's error path)
FAILED = 1

_FORMATS = {"docker": images_pb2.SAVE_FORMAT_DOCKER, "oci": images_pb2.SAVE_FORMAT_OCI}


class ArchiveClient:
    """The image-store's archive RPCs as the CLI sees them."""

    def __init__(self, config: Config) -> None:
        self._stub = RemoteStub(images_pb2_grpc.ImagesStub(connect(config, "images")), "images")

    def save(self, references: list[str], fmt: str = "docker") -> Iterator[bytes]:
        """The archive's chunks; an unknown image raises on the first ``next``."""
        for message in self._stub.Save(images_pb2.SaveRequest(references=references, format=_FORMATS[fmt])):
            yield message.data

    def load(self, chunks: Iterator[bytes]) -> Iterator[images_pb2.LoadResponse]:
        return self._stub.Load(images_pb2.LoadRequest(data=c) for c in chunks)


def _client(ctx) -> ArchiveClient:
    return ctx._client("archive", ArchiveClient)


def _fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(FAILED)


def _error_text(exc: BarqueError) -> str:
    return f"Error response from daemon: {exc}" if exc.remote else f"barque: {exc}"


def cmd_save(ctx, args) -> int:
    if not args.output and sys.stdout.isatty():
        _fail("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    if args.output:
        directory = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(directory):
            _fail(f"failed to save image: invalid output path: directory {directory!r} does not exist")
    try:
        chunks = _client(ctx).save(args.images, args.format)
        first = next(chunks, b"")  # the service resolves every image before the first byte
        if not args.output:
            out = sys.stdout.buffer
            out.write(first)
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            return 0
        _write_file(args.output, first, chunks)
    except BarqueError as exc:
        _fail(_error_text(exc))
    return 0


def _write_file(path: str, first: bytes, chunks: Iterator[bytes]) -> None:
    """docker's CopyToFile: a temp file beside ``path``, renamed over it once complete."""
    fd, tmp = tempfile.mkstemp(prefix=".docker_temp_", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(first)
            for chunk in chunks:
                f.write(chunk)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _read_chunks(stream) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def cmd_load(ctx, args) -> int:
    source: BinaryIO
    if args.input:
        try:
            source = open(args.input, "rb")
        except OSError as exc:
            _fail(f"open {args.input}: {exc.strerror.lower() if exc.strerror else exc}")
    else:
        if sys.stdin.isatty():
            _fail("requested load from stdin, but stdin is empty")
        source = sys.stdin.buffer
    try:
        with source:
            for message in _client(ctx).load(_read_chunks(source)):
                print(message.message, flush=True)
    except BarqueError as exc:
        _fail(_error_text(exc))
    return 0


def register(sub, image_group) -> None:
    for p in add_command([(sub, "save"), (image_group, "save")], cmd_save,
                         help="Save one or more images to a tar archive (streamed to STDOUT by default)"):
        p.add_argument("-o", "--output", default="", help="Write to a file, instead of STDOUT")
        p.add_argument("--format", choices=sorted(_FORMATS), default="docker",
                       help="Archive layout: docker (docker save's, the default) or oci (an OCI image layout)")
        p.add_argument("images", metavar="IMAGE", nargs="+")
    for p in add_command([(sub, "load"), (image_group, "load")], cmd_load,
                         help="Load an image from a tar archive or STDIN"):
        p.add_argument("-i", "--input", default="", help="Read from tar archive file, instead of STDIN")
        p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")
