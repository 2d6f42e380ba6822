"""``barque commit``, ``barque diff`` and ``barque image history``, with
Docker's flags, output and exit codes.

The runtime names the container (its id, image and ``Config`` from inspect)
and pauses it; the image-store does the work (Changes, Commit, Inspect)
through :class:`CommitImages`, a small adapter over its stub. A daemon error
is printed as docker prints it and exits 1, as docker's commit, diff and
history do; a usage error exits 125.
"""

from __future__ import annotations

import json
import sys
import time
import unicodedata
from dataclasses import dataclass

from barque.images.v1 import images_pb2, images_pb2_grpc
from cli.commands import add_command
from cli.format import (
    Template,
    human_size,
    parse_time,
    render_table,
    short_id,
    time_ago,
)
from client.channels import RemoteStub, connect
from client.config import Config
from client.errors import BarqueError, InvalidArgument, NotFound

__all__ = ["CommitImages", "HistoryRow", "ellipsis", "history_rows", "register"]

_KIND = {images_pb2.CHANGE_KIND_MODIFIED: "C", images_pb2.CHANGE_KIND_ADDED: "A",
         images_pb2.CHANGE_KIND_DELETED: "D"}
_TRUE = ("1", "t", "true", "True", "TRUE")
_FALSE = ("0", "f", "false", "False", "FALSE")


class CommitImages:
    """The image-store's commit, diff and history calls, as the CLI sees them."""

    def __init__(self, config: Config) -> None:
        self._stub = RemoteStub(images_pb2_grpc.ImagesStub(connect(config, "images")), "images")

    def changes(self, key: str) -> list[tuple[str, str]]:
        resp = self._stub.Changes(images_pb2.ChangesRequest(key=key))
        return [(_KIND[c.kind], c.path) for c in resp.changes]

    def commit(self, request: images_pb2.CommitRequest) -> images_pb2.CommitResponse:
        return self._stub.Commit(request)

    def inspect(self, reference: str) -> images_pb2.Image:
        return self._stub.Inspect(images_pb2.InspectRequest(reference=reference)).image


def _bool_flag(text: str, flag: str) -> bool:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidArgument(f'invalid argument "{text}" for "{flag}" flag: strconv.ParseBool: '
                          f'parsing "{text}": invalid syntax')


def _bool_and_operands(value: str, operands: list[str]) -> tuple[str, list[str]]:
    """``-p``/``-H`` take an optional ``=false``: a value that is no boolean
    was the first operand (``commit -p ctr``), so it goes back there."""
    if value in _TRUE or value in _FALSE:
        return value, operands
    return "true", [value, *operands]


def _usage(name: str, text: str) -> int:
    print(f'"barque {name}" requires {text}.\nSee \'barque {name} --help\'.', file=sys.stderr)
    return 125


def _daemon_error(ctx, exc: BaseException) -> None:
    ctx.error(exc)
    sys.exit(1)


def _container(ctx, ref: str) -> dict:
    try:
        return ctx.runtime().inspect_document(ref)
    except NotFound:
        print(f"Error response from daemon: No such container: {ref}", file=sys.stderr)
        sys.exit(1)


# ---- commit -------------------------------------------------------------------

def cmd_commit(ctx, args) -> int:
    from cli.changes import apply_changes

    value, operands = _bool_and_operands(args.pause, args.operands)
    if not 1 <= len(operands) <= 2:
        return _usage("commit", "at least 1 and at most 2 arguments")
    try:
        pause = _bool_flag(value, "pause")
    except InvalidArgument as exc:
        print(exc, file=sys.stderr)
        return 125
    container, reference = operands[0], operands[1] if len(operands) > 1 else ""
    doc = _container(ctx, container)
    cid = doc["Id"]
    config = dict(doc.get("Config") or {})
    created_by = " ".join(config.get("Cmd") or [])
    try:
        new_config = apply_changes(config, args.change or [])
    except InvalidArgument as exc:
        print(f"Error response from daemon: {exc}", file=sys.stderr)
        sys.exit(1)
    request = images_pb2.CommitRequest(
        key=cid, parent=doc.get("Image", ""), config_json=json.dumps(new_config).encode(),
        reference=reference, author=args.author or "", comment=args.message or "",
        created_by=created_by, container_id=cid)
    state = doc.get("State") or {}
    paused_here = False
    runtime = ctx.runtime()
    if pause and state.get("Running") and not state.get("Paused"):
        try:
            runtime.pause(cid)
            paused_here = True
        except BarqueError:
            pass  # moby commits unpaused when the pause fails (the container just stopped)
    try:
        resp = CommitImages(ctx.config).commit(request)
    except BarqueError as exc:
        _daemon_error(ctx, exc)
    finally:
        if paused_here:
            try:
                runtime.unpause(cid)
            except BarqueError as exc:
                ctx.error(exc)
    print(resp.image.id)
    return 0


# ---- diff ---------------------------------------------------------------------

def cmd_diff(ctx, args) -> int:
    doc = _container(ctx, args.container)
    try:
        changes = CommitImages(ctx.config).changes(doc["Id"])
    except BarqueError as exc:
        _daemon_error(ctx, exc)
    out = sys.stdout
    for kind, path in changes:
        out.write(f"{kind} {path}\n")
    return 0


# ---- history ------------------------------------------------------------------

@dataclass(frozen=True)
class HistoryRow:
    """One history entry, as docker-cli's history formatter sees it."""

    id: str
    created: float | None
    created_by: str
    size: int
    comment: str


def history_rows(image_id: str, config: dict, diff_sizes: list[int]) -> list[HistoryRow]:
    """Newest first; the newest carries the image id, the rest ``<missing>``
    (the containerd image store's history); each layer's size goes to the
    entry that is not an empty layer, in order."""
    sizes = list(diff_sizes)
    history = config.get("history") or []
    rows: list[HistoryRow] = []
    for entry in history:
        if not isinstance(entry, dict):
            continue
        size = 0
        if not entry.get("empty_layer"):
            size = sizes.pop(0) if sizes else 0
        rows.append(HistoryRow("<missing>", parse_time(str(entry.get("created") or "")),
                               str(entry.get("created_by") or ""), size, str(entry.get("comment") or "")))
    if not rows:
        rows.append(HistoryRow("<missing>", parse_time(str(config.get("created") or "")), "",
                               sum(diff_sizes), ""))
    rows.reverse()
    rows[0] = HistoryRow(image_id, *[getattr(rows[0], f) for f in ("created", "created_by", "size", "comment")])
    return rows


def _width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def ellipsis(text: str, max_width: int) -> str:
    """docker-cli's formatter.Ellipsis: cut to ``max_width`` display columns, "…" last."""
    if sum(_width(c) for c in text) <= max_width:
        return text
    if max_width <= 0:
        return ""
    out, used = [], 0
    for ch in text:
        w = _width(ch)
        if used + w > max_width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


class _HistoryView:
    """A row's template fields (``{{.ID}}``, ``{{.CreatedSince}}``...)."""

    def __init__(self, row: HistoryRow, trunc: bool, human: bool, now: float) -> None:
        self.ID = short_id(row.id) if trunc and row.id != "<missing>" else row.id
        self.CreatedAt = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row.created))
                          if row.created is not None else "")
        self.CreatedSince = time_ago(row.created, now) if human else self.CreatedAt
        by = row.created_by.replace("\t", " ")
        self.CreatedBy = ellipsis(by, 45) if trunc else by
        self.Size = human_size(row.size) if human else str(row.size)
        self.Comment = row.comment


_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
            "Size": "SIZE", "Comment": "COMMENT"}
_DEFAULT = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
_NON_HUMAN = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"


def format_history(rows: list[HistoryRow], fmt: str | None, *, quiet: bool, trunc: bool, human: bool,
                   now: float | None = None) -> str:
    now = time.time() if now is None else now
    views = [_HistoryView(r, trunc, human, now) for r in rows]
    if quiet and not fmt:
        return "\n".join(v.ID for v in views)
    text = fmt if fmt and fmt != "table" else (_DEFAULT if human else _NON_HUMAN)
    tpl = Template(text)
    lines = [tpl.render(v) for v in views]
    if not tpl.table:
        return "\n".join(lines)
    fields = [expr.strip().lstrip(".") for expr in text.removeprefix("table").split("{{")[1:]]
    headers = [_HEADERS.get(f.split("}}")[0].strip(), f.split("}}")[0].strip().upper()) for f in fields]
    rows_cells = [line.split("\t") for line in lines]
    if all(len(r) == len(headers) for r in rows_cells):
        return render_table(headers, rows_cells)
    return "\n".join(lines)


def cmd_history(ctx, args) -> int:
    value, operands = _bool_and_operands(args.human, args.operands)
    if len(operands) != 1:
        return _usage("history", "exactly 1 argument")
    try:
        human = _bool_flag(value, "human")
    except InvalidArgument as exc:
        print(exc, file=sys.stderr)
        return 125
    try:
        image = CommitImages(ctx.config).inspect(operands[0])
    except NotFound:
        print(f"Error response from daemon: No such image: {operands[0]}", file=sys.stderr)
        sys.exit(1)
    except BarqueError as exc:
        _daemon_error(ctx, exc)
    try:
        config = json.loads(image.config_json or b"{}")
    except ValueError:
        config = {}
    rows = history_rows(image.id, config, list(image.diff_sizes))
    try:
        text = format_history(rows, args.format, quiet=args.quiet, trunc=not args.no_trunc, human=human)
    except (ValueError, KeyError, AttributeError) as exc:
        print(f"template: {exc}", file=sys.stderr)
        return 125
    if text:
        print(text)
    return 0


def register(sub, container_group, image_group) -> None:
    """``commit`` and ``diff`` (also under ``container``), ``history`` (also ``image history``)."""
    for p in add_command([(sub, "commit"), (container_group, "commit")], cmd_commit,
                         help="Create a new image from a container's changes"):
        p.add_argument("-a", "--author", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
        p.add_argument("-c", "--change", action="append", help="Apply Dockerfile instruction to the created image")
        p.add_argument("-m", "--message", help="Commit message")
        p.add_argument("-p", "--pause", nargs="?", const="true", default="true",
                       help="Pause container during commit (default true)")
        p.add_argument("operands", nargs="*", metavar="CONTAINER [REPOSITORY[:TAG]]")
    for p in add_command([(sub, "diff"), (container_group, "diff")], cmd_diff,
                         help="Inspect changes to files or directories on a container's filesystem"):
        p.add_argument("container")
    for p in add_command([(sub, "history"), (image_group, "history")], cmd_history,
                         help="Show the history of an image"):
        p.add_argument("-H", "--human", nargs="?", const="true", default="true",
                       help="Print sizes and dates in human readable format (default true)")
        p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
        p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
        p.add_argument("--format", help="Format output using a custom template")
        p.add_argument("operands", nargs="*", metavar="IMAGE")
