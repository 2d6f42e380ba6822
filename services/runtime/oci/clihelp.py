"""``barque-oci``'s help and unknown commands as runc 1.1's (urfave/cli)
command line has them, read before argparse sees the arguments:

- ``-h``/``--help`` among the global options, ``help``/``h`` alone, or no
  command at all: the application's help (stdout, exit 0);
- ``help CMD``, or ``-h``/``--help`` among a command's own flags (those
  before its first positional argument: ``exec ctr ls -h`` is ls's): that
  command's help;
- an unknown command: ``No help topic for 'foo'``, exit 3 (runc's code);
- one of runc's commands barque-oci does not implement (``checkpoint``,
  ``restore``, whatever the parser lacks): its help still prints and says
  so; running it is refused (exit 1).

The layout is urfave/cli's: ``NAME:`` then an indented ``runc <command> -
<summary>`` line (the names scripts look for are runc's), ``USAGE:`` with
barque-oci's own name, then the options the parser really accepts.
"""

from __future__ import annotations

import argparse
import sys

from .versioninfo import RUNC_VERSION, VERSION

__all__ = ["RUNC_COMMANDS", "handle", "app_help", "command_help"]

#: runc 1.1's commands: summary and usage arguments (runc's words)
RUNC_COMMANDS: dict[str, tuple[str, str]] = {
    "checkpoint": ("checkpoint a running container", "[command options] <container-id>"),
    "create": ("create a container", "[command options] <container-id>"),
    "delete": ("delete any resources held by the container often used with detached container",
               "[command options] <container-id>"),
    "events": ("display container events such as OOM notifications, cpu, memory, and IO "
               "usage statistics", "[command options] <container-id>"),
    "exec": ("execute new process inside the container",
             "[command options] <container-id> <command> [command options]  "
             "|| -p process.json <container-id>"),
    "kill": ("kill sends the specified signal (default: SIGTERM) to the container's init "
             "process", "[command options] <container-id> [signal]"),
    "list": ("lists containers started by runc with the given root", "[command options]"),
    "pause": ("pause suspends all processes inside the container", "<container-id>"),
    "ps": ("ps displays the processes running inside a container",
           "[command options] <container-id> [ps options]"),
    "restore": ("restore a container from a previous checkpoint",
                "[command options] <container-id>"),
    "resume": ("resumes all processes that have been previously paused", "<container-id>"),
    "run": ("create and run a container", "[command options] <container-id>"),
    "spec": ("create a new specification file", "[command options] [arguments...]"),
    "start": ("executes the user defined process in a created container", "<container-id>"),
    "state": ("output the state of a container", "<container-id>"),
    "update": ("update container resource constraints", "[command options] <container-id>"),
    "features": ("show the enabled features", "[arguments...]"),
}
_HELP_FLAGS = ("-h", "--help")
_EXIT_UNKNOWN = 3


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _takes_value(parser: argparse.ArgumentParser) -> set[str]:
    return {opt for a in parser._actions if a.option_strings and a.nargs != 0
            for opt in a.option_strings}


def _first_positional(parser: argparse.ArgumentParser, args: list[str]) -> tuple[int, bool]:
    """(index of the first positional argument in ``args`` (len if none),
    whether a help flag came before it)."""
    values = _takes_value(parser)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return i, False
        if arg in _HELP_FLAGS:
            return i, True
        if not arg.startswith("-") or arg == "-":
            return i, False
        i += 2 if arg in values and "=" not in arg else 1
    return i, False


def _option_rows(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    rows = []
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        value = "" if action.nargs == 0 else " value"
        names = sorted(action.option_strings, key=lambda o: (not o.startswith("--"), o))
        text = action.help or ""
        if action.nargs != 0 and action.default not in (None, [], False, 0) \
                and action.default is not argparse.SUPPRESS:
            text = f"{text} (default: \"{action.default}\")".strip()
        rows.append((", ".join(n + value for n in names), text))
    rows.append(("--help, -h", "show help"))
    return rows


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(left) for left, _ in rows) + 2
    return "\n".join(f"   {left:<{width}}{right}".rstrip() for left, right in rows)


def app_help(parser: argparse.ArgumentParser) -> str:
    ours = _subparsers(parser)
    commands = [(name, RUNC_COMMANDS[name][0] if name in RUNC_COMMANDS else (sub.description or ""))
                for name, sub in ours.items()]
    missing = [name for name in RUNC_COMMANDS if name not in ours]
    return "\n".join([
        "NAME:",
        "   runc - Open Container Initiative runtime, as barque-oci (barque's implementation "
        f"of runc {RUNC_VERSION}'s command line)",
        "",
        "USAGE:",
        f"   {parser.prog} [global options] command [command options] [arguments...]",
        "",
        "VERSION:",
        f"   {VERSION} (runc version {RUNC_VERSION} command line)",
        "",
        "COMMANDS:",
        _table([*commands, ("help, h", "Shows a list of commands or help for one command")]),
        *([f"   (runc's {', '.join(missing)}: not implemented by barque-oci)"] if missing else []),
        "",
        "GLOBAL OPTIONS:",
        _table(_option_rows(parser)),
        "",
    ])


def command_help(parser: argparse.ArgumentParser, name: str) -> str:
    summary, usage = RUNC_COMMANDS.get(name, ("", "[command options] [arguments...]"))
    sub = _subparsers(parser).get(name)
    if sub is not None and not summary:
        summary = sub.description or ""
    lines = ["NAME:", f"   runc {name} - {summary}", "", "USAGE:",
             f"   {parser.prog} {name} {usage}".rstrip(), ""]
    if sub is None:
        lines += [f"barque-oci does not implement runc's {name!r}: running it fails.", ""]
    else:
        rows = _option_rows(sub)
        lines += ["OPTIONS:", _table(rows), ""]
    return "\n".join(lines)


def handle(parser: argparse.ArgumentParser, argv: list[str]) -> int | None:
    """The exit code if ``argv`` asked for help or named no command barque-oci
    runs (the text is printed here); None when argparse should go on."""
    ours = _subparsers(parser)
    start, help_flag = _first_positional(parser, argv)
    if help_flag:
        sys.stdout.write(app_help(parser))
        return 0
    if start >= len(argv) or argv[start] == "--":
        if any(a in ("-v", "--version") for a in argv[:start]):
            return None  # argparse prints the version
        sys.stdout.write(app_help(parser))
        return 0
    command, rest = argv[start], argv[start + 1:]
    if command in ("help", "h"):
        if not rest:
            sys.stdout.write(app_help(parser))
            return 0
        command, rest = rest[0], ["--help"]
    if command not in ours and command not in RUNC_COMMANDS:
        print(f"barque-oci: No help topic for {command!r}", file=sys.stderr)
        return _EXIT_UNKNOWN
    _, wants_help = _first_positional(ours.get(command, parser), rest)
    if wants_help:
        sys.stdout.write(command_help(parser, command))
        return 0
    if command not in ours:
        print(f"barque-oci: {command}: runc's {command!r} is not implemented by barque-oci",
              file=sys.stderr)
        return 1
    return None
