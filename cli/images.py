"""Image commands (pull, images, rmi, image inspect, tag, login, logout) and
the remote adapter they share over the image-store and registry-proxy stubs."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Iterator

from barque.images.v1 import images_pb2, images_pb2_grpc
from barque.registry.v1 import registry_pb2, registry_pb2_grpc
from cli.commands import add_command
from cli.format import (
    Template,
    human_size,
    parse_time,
    print_documents,
    render_table,
    short_id,
    time_ago,
)
from cli.progress import PullPrinter
from client.channels import RemoteStub, connect
from client.config import Config
from client.errors import InvalidArgument
from client.imagespec import Platform
from client.protoconv import platform_to_pb
from client.reference import parse_reference, registry_host

__all__ = ["ImagesClient", "register", "pull_with_progress", "visible_images"]



def _status_name(status: int) -> str:
    """"downloading" for PULL_STATUS_DOWNLOADING: the printer's vocabulary."""
    return images_pb2.PullStatus.Name(status).removeprefix("PULL_STATUS_").lower()


class ImagesClient:
    """The image-store as the CLI sees it."""

    def __init__(self, config: Config) -> None:
        self._stub = RemoteStub(images_pb2_grpc.ImagesStub(connect(config, "images")), "images")

    def pull(self, reference: str, platform: Platform | None = None) -> Iterator[images_pb2.PullResponse]:
        return self._stub.Pull(images_pb2.PullRequest(reference=reference, platform=platform_to_pb(platform)))

    def list(self) -> list[images_pb2.Image]:
        return list(self._stub.List(images_pb2.ListRequest()).images)

    def inspect(self, reference: str) -> images_pb2.Image:
        return self._stub.Inspect(images_pb2.InspectRequest(reference=reference)).image

    def inspect_document(self, reference: str) -> dict:
        """Docker's ImageInspect, as the image-store builds it."""
        return json.loads(self._stub.Inspect(images_pb2.InspectRequest(reference=reference)).image_json)

    def tag(self, source: str, target: str) -> images_pb2.Image:
        return self._stub.Tag(images_pb2.TagRequest(source=source, target=target)).image

    def remove(self, reference: str, force: bool) -> images_pb2.RemoveResponse:
        return self._stub.Remove(images_pb2.RemoveRequest(reference=reference, force=force))


class RegistryClient:
    def __init__(self, config: Config) -> None:
        self._stub = RemoteStub(registry_pb2_grpc.RegistryProxyStub(connect(config, "registry")), "registry")

    def login(self, registry: str, username: str, password: str) -> str:
        return self._stub.Login(
            registry_pb2.LoginRequest(registry=registry, username=username, password=password)
        ).registry

    def logout(self, registry: str) -> bool:
        return self._stub.Logout(registry_pb2.LogoutRequest(registry=registry)).removed


def familiar(name: str) -> tuple[str, str]:
    """("busybox", "latest") for "docker.io/library/busybox:latest"."""
    ref = parse_reference(name)
    return ref.familiar_name, ref.tag or "<none>"


def pull_with_progress(client: ImagesClient, reference: str, platform: Platform | None,
                       quiet: bool = False, out=None) -> images_pb2.Image:
    out = out or sys.stdout
    ref = parse_reference(reference)
    printer = PullPrinter(out)
    if not quiet:
        if ref.tag == "latest" and ref.digest is None and ":" not in reference.rsplit("/", 1)[-1]:
            printer.line("Using default tag: latest")
        printer.line(f"{ref.digest or ref.tag}: Pulling from {ref.familiar_name if ref.domain == 'docker.io' else ref.path}")
    image = None
    up_to_date = False
    digest = ""
    for ev in client.pull(reference, platform):
        status = _status_name(ev.status)
        if ev.HasField("image"):
            image, up_to_date = ev.image, ev.up_to_date
        elif ev.status == images_pb2.PULL_STATUS_RESOLVED:
            digest = ev.message
        elif ev.id and not quiet:
            printer.layer(ev.id, status, ev.current, ev.total)
    if image is None:
        raise InvalidArgument(f"pull of {reference!r} ended without an image")
    if quiet:
        printer.line(str(ref))
        return image
    printer.line(digest)
    shown = ref.familiar()
    printer.line(f"Status: Image is up to date for {shown}" if up_to_date
                 else f"Status: Downloaded newer image for {shown}")
    printer.line(str(ref))
    return image


# ---- commands ----------------------------------------------------------------

def cmd_pull(ctx, args) -> int:
    platform = Platform.parse(args.platform) if args.platform else None
    pull_with_progress(ctx.images(), args.reference, platform, quiet=args.quiet)
    return 0


def _rows(images: list[images_pb2.Image], show_all_digests: bool):
    for img in images:
        names = list(img.repo_tags) or [""]
        for name in names:
            if name:
                repo, tag = familiar(name)
            else:
                repo, tag = "<none>", "<none>"
            yield {
                "Repository": repo,
                "Tag": tag,
                "Digest": img.tag_digests.get(name, "<none>"),
                "ID": short_id(img.id),
                "CreatedSince": time_ago(parse_time(img.created)),
                "CreatedAt": img.created,
                "Size": human_size(img.size),
                "VirtualSize": human_size(img.size),
                "SharedSize": "N/A",
                "UniqueSize": "N/A",
                "Containers": "N/A",
            }


def visible_images(images: list[images_pb2.Image], show_all: bool) -> list[images_pb2.Image]:
    """moby's image list: an image with no name that is the parent of another
    kept image (a build's intermediate step) is shown only with ``-a``."""
    if show_all:
        return images
    parents = {i.parent for i in images if i.parent}
    return [i for i in images if i.repo_tags or i.repo_digests or i.id not in parents]


def cmd_images(ctx, args) -> int:
    images = visible_images(ctx.images().list(), args.all)
    if args.reference:
        wanted = parse_reference(args.reference)
        images = [i for i in images if any(
            parse_reference(t).name == wanted.name and (":" not in args.reference.rsplit("/", 1)[-1]
                                                        or parse_reference(t).tag == wanted.tag)
            for t in i.repo_tags)]
    rows = list(_rows(images, args.digests))
    if args.quiet:
        seen = []
        for r in rows:
            if r["ID"] not in seen:
                seen.append(r["ID"])
        print("\n".join(seen)) if seen else None
        return 0
    if args.format:
        if args.format == "json":
            for r in rows:
                print(json.dumps(r, separators=(",", ":")))
            return 0
        text = Template(args.format).render_all(rows)
        if text:
            print(text)
        return 0
    headers = ["REPOSITORY", "TAG"] + (["DIGEST"] if args.digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    table = [[r["Repository"], r["Tag"]] + ([r["Digest"]] if args.digests else [])
             + [r["ID"], r["CreatedSince"], r["Size"]] for r in rows]
    print(render_table(headers, table))
    return 0


def cmd_rmi(ctx, args) -> int:
    status = 0
    client = ctx.images()
    for reference in args.images:
        try:
            resp = client.remove(reference, args.force)
        except Exception as exc:
            ctx.error(exc)
            status = 1
            continue
        for name in resp.untagged:
            ref = parse_reference(name)
            print(f"Untagged: {ref.familiar()}")
        for item in resp.deleted:
            print(f"Deleted: {item}")
    return status


def cmd_image_inspect(ctx, args) -> int:
    client = ctx.images()
    out, status = [], 0
    for reference in args.images:
        try:
            out.append(client.inspect_document(reference))
        except Exception as exc:
            ctx.error(exc)
            status = 1
    print_documents(out, args.format)
    return status


def cmd_tag(ctx, args) -> int:
    ctx.images().tag(args.source, args.target)
    return 0


def cmd_login(ctx, args) -> int:
    server = args.server or "docker.io"
    username = args.username or input("Username: ")
    if args.password_stdin:
        password = sys.stdin.read().rstrip("\n")
    else:
        password = args.password if args.password is not None else getpass.getpass("Password: ")
    if not username or not password:
        raise InvalidArgument("username and password are required")
    ctx.registry().login(server, username, password)
    print("Login Succeeded")
    return 0


def cmd_logout(ctx, args) -> int:
    server = args.server or "docker.io"
    host = registry_host(server)
    if ctx.registry().logout(server):
        print(f"Removing login credentials for {host}")
    else:
        print(f"Not logged in to {host}")
    return 0


def register(sub, image_group) -> None:
    """Add the image commands to the top-level and ``image`` subparsers."""
    for p in add_command([(sub, "pull"), (image_group, "pull")], cmd_pull,
                         help="Download an image from a registry"):
        p.add_argument("reference")
        p.add_argument("--platform", help="os/arch[/variant] (default linux/amd64)")
        p.add_argument("-q", "--quiet", action="store_true", help="print only the image name")
    for p in add_command([(sub, "images"), (image_group, "ls")], cmd_images, help="List images"):
        p.add_argument("reference", nargs="?")
        p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
        p.add_argument("--digests", action="store_true", help="show digests")
        p.add_argument("--format", help="'json' or a Go template")
        p.add_argument("-a", "--all", action="store_true", help="show all images")
    for p in add_command([(sub, "rmi"), (image_group, "rm")], cmd_rmi,
                         help="Remove one or more images"):
        p.add_argument("images", nargs="+")
        p.add_argument("-f", "--force", action="store_true")
    p = image_group.add_parser("inspect", help="Display detailed information on images")
    p.add_argument("images", nargs="+")
    p.add_argument("-f", "--format")
    p.set_defaults(func=cmd_image_inspect)
    for p in add_command([(sub, "tag"), (image_group, "tag")], cmd_tag,
                         help="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"):
        p.add_argument("source")
        p.add_argument("target")
    p = sub.add_parser("login", help="Log in to a registry")
    p.add_argument("server", nargs="?")
    p.add_argument("-u", "--username")
    p.add_argument("-p", "--password")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(func=cmd_login)
    p = sub.add_parser("logout", help="Log out from a registry")
    p.add_argument("server", nargs="?")
    p.set_defaults(func=cmd_logout)
