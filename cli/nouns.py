"""What docker-cli's noun commands (``network``, ``volume``) share: their
exit codes, flag-value parsers (``opts.FilterOpt``, ``ValidateLabel``,
``MapOpts``), argument-count checks (``cli.ExactArgs`` and friends),
``PromptForConfirmation``, the formatter's row templates and Go's
tabwriter, and a parser that reads flags and positionals in any order.

Exit codes are Docker's: a flag docker-cli's flag parser refuses exits 125
(``cli.FlagErrorFunc``); a wrong number of arguments, a client-side check
and an engine error exit 1.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import re
import sys
from typing import Any, Callable, Iterable, Mapping

from client.errors import BarqueError, NotFound

__all__ = [
    "FLAG_ERROR",
    "FAILURE",
    "CommandError",
    "flag_error",
    "string_slice",
    "parse_filters",
    "parse_labels",
    "parse_map",
    "check_args",
    "docker_status",
    "confirm",
    "RowTemplate",
    "tabwrite",
    "format_rows",
    "natural_sorted",
    "inspect_each",
    "remove_each",
    "NounParser",
    "add_noun",
]

#: exit status of a flag docker-cli's flag parser refuses (cli.FlagErrorFunc)
FLAG_ERROR = 125
#: exit status of every other failure of a noun command
FAILURE = 1


class CommandError(Exception):
    """A failure docker-cli reports with this text alone and this status."""

    def __init__(self, message: str, status: int = FAILURE) -> None:
        super().__init__(message)
        self.status = status


# ---- flag values, as docker-cli's opts read them ------------------------------

def flag_error(path: str, flag: str, value: str, reason: str) -> CommandError:
    """cli.FlagErrorFunc over pflag's "invalid argument" message; ``path``
    is the command's ("barque network create")."""
    from client.ports import go_quote

    return CommandError(f"invalid argument {go_quote(value)} for {go_quote(flag)} flag: {reason}\n"
                        f"See '{path} --help'.", FLAG_ERROR)


def string_slice(values: list[str]) -> list[str]:
    """pflag StringSlice: each use of the flag is a line of CSV."""
    out: list[str] = []
    for value in values:
        if value:
            out += next(csv.reader([value]))
    return out


def parse_filters(path: str, flag: str, values: list[str]) -> list[str]:
    """opts.FilterOpt: "name=value", the name lower-cased, both trimmed."""
    out = []
    for value in values:
        if value == "":
            continue
        if "=" not in value:
            raise flag_error(path, flag, value, "bad format of filter (expected name=value)")
        name, _, val = value.partition("=")
        out.append(f"{name.strip().lower()}={val.strip()}")
    return out


def parse_labels(path: str, values: list[str]) -> dict[str, str]:
    """opts.ValidateLabel per --label, then ConvertKVStringsToMap."""
    labels: dict[str, str] = {}
    for value in values:
        key = value.partition("=")[0].lstrip(" \t")
        if key == "":
            raise flag_error(path, "--label", value, f"invalid label '{value}': empty name")
        if " " in key or "\t" in key:
            raise flag_error(path, "--label", value, f"label '{key}' contains whitespaces")
        k, _, v = value.partition("=")
        labels[k] = v
    return labels


def parse_map(values: list[str]) -> dict[str, str]:
    """opts.MapOpts without a validator: "k=v", or "k" for an empty value."""
    return dict((v.partition("=")[0], v.partition("=")[2]) for v in values)


def check_args(path: str, use: str, short: str, args: list[str], exactly: int | None = None,
               at_least: int | None = None, at_most: int | None = None) -> None:
    """cli.ExactArgs / RequiresMinArgs / RequiresMaxArgs / NoArgs: their
    message, exit 1. ``use`` is the command's Use line, ``short`` its Short."""
    noun = path.rsplit(" ", 1)[0]
    tail = f".\nSee '{path} --help'.\n\nUsage:  {noun} {use}\n\n{short}"
    if exactly == 0 and args:
        raise CommandError(f'"{path}" accepts no arguments{tail}')
    if exactly and len(args) != exactly:
        plural = "argument" if exactly == 1 else "arguments"
        raise CommandError(f'"{path}" requires exactly {exactly} {plural}{tail}')
    if at_least is not None and len(args) < at_least:
        plural = "argument" if at_least == 1 else "arguments"
        raise CommandError(f'"{path}" requires at least {at_least} {plural}{tail}')
    if at_most is not None and len(args) > at_most:
        plural = "argument" if at_most == 1 else "arguments"
        raise CommandError(f'"{path}" requires at most {at_most} {plural}{tail}')


def docker_status(func: Callable[[Any, argparse.Namespace], int]) -> Callable[[Any, argparse.Namespace], int]:
    """Docker's exits for a noun command: 1 for an engine error, the
    error's own status for a CommandError."""

    def run(ctx, args) -> int:
        try:
            return func(ctx, args)
        except CommandError as exc:
            print(exc, file=sys.stderr)
            sys.exit(exc.status)
        except BarqueError as exc:
            ctx.error(exc)
            sys.exit(FAILURE)

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def confirm(message: str) -> bool:
    """command.PromptForConfirmation: " [y/N] " on stdout, one line of stdin."""
    sys.stdout.write(message + " [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().rstrip("\n").removesuffix("\r")
    return answer.lower() == "y"


# ---- inspect and rm of several objects ------------------------------------------------

def inspect_each(ctx, refs: list[str], fetch: Callable[[str], Any], kind: str, template: str | None) -> int:
    """inspect.Inspect: the documents (``[]`` or an empty line when none),
    then every failure on stderr ("Error: No such KIND: REF"), exit 1 if any."""
    from cli.format import Template, print_documents

    try:
        tpl = Template(template) if template else None
    except ValueError as exc:
        raise CommandError(f"template parsing error: {exc}", 64) from exc
    docs, errors, failed = [], [], False
    for ref in refs:
        try:
            docs.append(fetch(ref))
        except NotFound:
            errors.append(f"Error: No such {kind}: {ref}")
        except BarqueError as exc:
            ctx.error(exc)
            failed = True
    if tpl is None:
        print_documents(docs, None)
    else:
        lines = []
        for doc in docs:
            try:
                lines.append(tpl.render(doc))
            except (KeyError, AttributeError, TypeError) as exc:
                errors.append(f"template parsing error: {exc.args[0] if exc.args else exc}")
        print("\n".join(lines))
    if errors:
        raise CommandError("\n".join(errors))
    if failed:
        sys.exit(FAILURE)
    return 0


def remove_each(ctx, names: list[str], remove: Callable[[str], Any], kind: str) -> int:
    """docker's ``KIND rm``: each name removed printed on stdout, each
    failure on stderr ("Error: No such KIND: NAME" or the daemon's), exit 1
    if any failed."""
    failed = False
    for name in names:
        try:
            remove(name)
        except NotFound:
            print(f"Error: No such {kind}: {name}", file=sys.stderr)
            failed = True
            continue
        except BarqueError as exc:
            ctx.error(exc)
            failed = True
            continue
        print(name)
    if failed:
        sys.exit(FAILURE)
    return 0


# ---- the formatter: row templates and the tabwriter -------------------------------

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s"]+')
_FUNCS = {"json": 1, "upper": 1, "lower": 1, "title": 1, "truncate": 2, "pad": 3}


class _Stop(Exception):
    """A header action Go's template could not execute: output ends there."""


class RowTemplate:
    """The part of Go's text/template ``ls --format`` users type, over a
    formatter context (``context`` names its Go type in errors, e.g.
    "*network.networkContext"): ``{{.Field}}``, ``{{.Label "key"}}``, and
    the functions json, upper, lower, title, truncate and pad of a field."""

    def __init__(self, text: str, context: str) -> None:
        self.text = text
        self.context = context
        self.actions: list[tuple[int, int, list[str], int]] = []  # start, end, tokens, field offset
        for m in _ACTION.finditer(text):
            tokens = _TOKEN.findall(m.group(1))
            if not tokens:
                raise CommandError("template parsing error: template: :1: missing value for command")
            if not tokens[0].startswith(".") and tokens[0] not in _FUNCS:
                raise CommandError(f'template parsing error: template: :1: function "{tokens[0]}" not defined')
            field = tokens[1] if tokens[0] in _FUNCS and len(tokens) > 1 else tokens[0]
            self.actions.append((m.start(), m.end(), tokens, m.start(1) + m.group(1).find(field)))

    def _at(self, offset: int, expr: str, why: str) -> CommandError:
        line = self.text.count("\n", 0, offset) + 1
        col = offset - (self.text.rfind("\n", 0, offset) + 1)
        return CommandError(f'template parsing error: template: :{line}:{col}: executing "" at <{expr}>: {why}')

    def _field(self, row: Mapping[str, str], expr: str, offset: int, header: bool) -> Any:
        if expr == ".":
            if header:
                raise _Stop
            return row
        path = expr.split(".")[1:]
        if path[0] not in row:
            if header:
                return "<no value>"
            raise self._at(offset, expr, f"can't evaluate field {path[0]} in type {self.context}")
        if len(path) > 1:
            if header:
                raise _Stop
            raise self._at(offset, expr, f"can't evaluate field {path[1]} in type string")
        return row[path[0]]

    def _value(self, row: Mapping[str, str], labels: Callable[[str], str], tokens: list[str], offset: int,
               header: bool) -> str:
        head, args = tokens[0], tokens[1:]
        if head == ".Label":
            if len(args) != 1 or not args[0].startswith('"'):
                raise self._at(offset, head, f"wrong number of args for Label: want 1 got {len(args)}")
            return labels(json.loads(args[0]))
        if head.startswith("."):
            return str(self._field(row, head, offset, header))
        if len(args) != _FUNCS[head]:
            raise self._at(offset, head, f"wrong number of args for {head}: want {_FUNCS[head]} got {len(args)}")
        value = self._field(row, args[0], offset, header)
        if head == "json":
            if header:
                if not isinstance(value, str):
                    raise _Stop
                return value
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            if isinstance(value, dict):  # the context's MarshalJSON is json.Marshal's: HTML escaped
                text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            return text
        if header and head in ("upper", "lower", "title", "truncate"):
            return value
        if head in ("upper", "lower", "title"):
            return {"upper": value.upper(), "lower": value.lower(),
                    "title": re.sub(r"(?<!\w)\w", lambda m: m.group().upper(), value)}[head]
        numbers = [int(a) for a in args[1:]]
        if head == "truncate":
            return value if len(value) < numbers[0] else value[:numbers[0]]
        return value and " " * numbers[0] + value + " " * numbers[1]

    def render(self, row: Mapping[str, str], labels: Callable[[str], str], header: bool = False) -> str:
        out, last = [], 0
        for start, end, tokens, offset in self.actions:
            out.append(self.text[last:start])
            try:
                out.append(self._value(row, labels, tokens, offset, header))
            except _Stop:
                return "".join(out)
            last = end
        out.append(self.text[last:])
        return "".join(out)


def _header_label(name: str) -> str:
    """SubHeaderContext.Label."""
    return name.split(".")[-1].replace("-", " ").replace("_", " ")


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter as docker-cli's tables use it (minwidth 10,
    padding 3, spaces): tab-terminated cells aligned in column blocks of
    consecutive lines, the last cell of a line left as it is."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = [""] * len(lines)

    def write(line0: int, line1: int, widths: list[int]) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            out[i] = "".join(c + " " * (widths[j] - len(c)) if j < len(widths) else c
                             for j, c in enumerate(cells))

    def block(line0: int, line1: int, widths: list[int]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this, widths)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            block(line0, this, widths + [width])
            line0 = this
        write(line0, line1, widths)

    block(0, len(lines), [])
    return "\n".join(out)


def natural_sorted(items: Iterable[Any], name: Callable[[Any], str]) -> list[Any]:
    """sorted by sortorder.NaturalLess of their names, as docker-cli's ls commands sort."""
    from cli.port import natural_less

    def order(a: Any, b: Any) -> int:
        return -1 if natural_less(name(a), name(b)) else (1 if natural_less(name(b), name(a)) else 0)

    return sorted(items, key=functools.cmp_to_key(order))


def format_rows(source: str, context: str, headers: Mapping[str, str],
                rows: Iterable[tuple[Mapping[str, str], Callable[[str], str]]]) -> str:
    """formatter.Context.Write: each (row, its Label lookup) through the
    format ``source`` (already resolved from "table"/"raw" by the noun's
    NewXxxFormat), a table (header first) through the tabwriter."""
    table = source.startswith("table")
    final = (source[len("table"):] if table else source).strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    template = RowTemplate(final, context)
    body = [template.render(row, labels) + "\n" for row, labels in rows]
    if not table:
        return "".join(body)
    return tabwrite(template.render(headers, _header_label, header=True) + "\n" + "".join(body))


# ---- the command line ----------------------------------------------------------------

class NounParser(argparse.ArgumentParser):
    """A noun subcommand's parser: positionals and flags in any order, as
    pflag reads them; a flag error exits 125."""

    _inner = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._inner:
            return super().parse_known_args(args, namespace)
        self._inner = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inner = False

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: {message}", file=sys.stderr)
        sys.exit(FLAG_ERROR)


def _show_help(parser: argparse.ArgumentParser) -> Callable[[Any, argparse.Namespace], int]:
    def show(ctx, args) -> int:
        parser.print_help(sys.stderr)  # command.ShowHelp: on stderr, exit 0
        return 0

    return show


def add_noun(sub, noun: str, help: str, usage: Mapping[str, tuple[str, str]]
             ) -> Callable[..., argparse.ArgumentParser]:
    """``barque NOUN`` (its help when alone) and a function adding its
    commands: ``command(name, func, positionals, aliases)`` -> the parser.
    Positionals are counted by the command (check_args), so a wrong count
    gets Docker's message and exit 1."""
    group = sub.add_parser(noun, help=help)
    commands = group.add_subparsers(dest=f"{noun}_command", metavar="COMMAND", parser_class=NounParser)
    group.set_defaults(func=_show_help(group))

    def command(name: str, func, positionals: str, aliases: tuple[str, ...] = ()) -> argparse.ArgumentParser:
        p = commands.add_parser(name, aliases=list(aliases), help=usage[name][1],
                                usage=f"barque {noun} {usage[name][0]}", description=usage[name][1])
        p.set_defaults(func=func)
        p.add_argument("args", nargs="*", metavar="ARG", help=positionals or argparse.SUPPRESS)
        return p

    return command
