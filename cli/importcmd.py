"""``barque import FILE|URL|- [REPOSITORY[:TAG]]`` (also ``image import``), with
docker 20.10's flags, output and exit codes.

The tar (plain or compressed: the image-store tells them apart) is streamed
to the image-store's Import in 1 MiB chunks, never read whole: from a file,
from stdin (``-``), or from a URL, which this CLI downloads first into a
temporary directory (:func:`cli.buildfetch.fetch_url`: per-socket timeouts
and a deadline; removed after) and announces as docker does with
``Downloading from <URL>``. ``--change`` lines are applied here, by the same
code as ``commit --change`` (:func:`cli.changes.apply_changes`), to docker's
zero container config. The new image's id is printed. Any error is one line
on stderr and exit status 1, as docker's import; a usage error exits 125.
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from barque.images.v1 import images_pb2, images_pb2_grpc
from cli.commands import add_command
from client.channels import RemoteStub, connect
from client.config import Config
from client.errors import BarqueError, InvalidArgument
from client.imagespec import Platform
from client.protoconv import platform_to_pb
from client.reference import parse_reference

__all__ = ["CHUNK", "ImportImages", "ZERO_CONFIG", "import_config_json", "register"]

CHUNK = 1 << 20
#: docker 20.10's zero ``container.Config``: what its import writes before --change
ZERO_CONFIG: dict = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None, "Cmd": None,
    "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
}


class ImportImages:
    """The image-store's Import, as the CLI sees it."""

    def __init__(self, config: Config) -> None:
        self._stub = RemoteStub(images_pb2_grpc.ImagesStub(connect(config, "images")), "images")

    def import_tar(self, header: images_pb2.ImportHeader, stream: BinaryIO) -> images_pb2.Image:
        def requests() -> Iterator[images_pb2.ImportRequest]:
            yield images_pb2.ImportRequest(header=header)
            while data := stream.read(CHUNK):
                yield images_pb2.ImportRequest(data=data)

        return self._stub.Import(requests()).image


def import_config_json(changes: list[str]) -> bytes:
    """The config's ``config`` object: docker's zero config with ``changes`` applied
    (InvalidArgument, in docker's words, for a refused instruction)."""
    from cli.changes import apply_changes

    return json.dumps(apply_changes(copy.deepcopy(ZERO_CONFIG), changes)).encode()


def _fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(1)


def _open_source(source: str, tmpdir: Path | None) -> BinaryIO:
    """The tar to send: stdin, a downloaded URL, or a file."""
    from cli.buildfetch import fetch_url, is_url

    if source == "-":
        return sys.stdin.buffer
    if is_url(source):
        print(f"Downloading from {source}", flush=True)
        try:
            fetched = fetch_url(source, None, tmpdir or Path(tempfile.gettempdir()))
        except InvalidArgument as exc:  # fetch_url words its errors for ADD
            _fail(f"Error response from daemon: {str(exc).removeprefix('ADD failed: ')}")
        return open(fetched.path, "rb")
    try:
        return open(source, "rb")
    except OSError as exc:
        _fail(f"open {source}: {(exc.strerror or str(exc)).lower()}")
        raise  # unreachable: _fail exits


def cmd_import(ctx, args) -> int:
    from cli.buildfetch import is_url

    reference = args.reference or ""
    try:
        if reference and parse_reference(reference).digest:
            _fail("Error response from daemon: cannot import digest reference")
        platform = Platform.parse(args.platform) if args.platform else None
    except InvalidArgument as exc:
        _fail(str(exc))
    try:
        config_json = import_config_json(args.change or [])
    except InvalidArgument as exc:
        _fail(f"Error response from daemon: {exc}")
    header = images_pb2.ImportHeader(
        reference=reference, config_json=config_json, message=args.message or "",
        platform=platform_to_pb(platform) if platform else None,
        source=args.source if is_url(args.source) else "-")  # a file is sent as stdin is: "Imported from -"
    # a temp dir only for a download: a file or stdin streams from where it is,
    # so even a killed CLI leaves nothing of its own behind
    tmpdir = Path(tempfile.mkdtemp(prefix="barque-import-")) if is_url(args.source) else None
    try:
        with _open_source(args.source, tmpdir) as stream:
            image = ImportImages(ctx.config).import_tar(header, stream)
    except BarqueError as exc:
        ctx.error(exc)
        sys.exit(1)
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    print(image.id)
    return 0


def register(sub, image_group) -> None:
    """``import`` (also ``image import``)."""
    for p in add_command([(sub, "import"), (image_group, "import")], cmd_import,
                         help="Import the contents from a tarball to create a filesystem image"):
        p.add_argument("-c", "--change", action="append", help="Apply Dockerfile instruction to the created image")
        p.add_argument("-m", "--message", help="Set commit message for imported image")
        p.add_argument("--platform", help="Set platform if server is multi-platform capable")
        p.add_argument("source", metavar="file|URL|-")
        p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
