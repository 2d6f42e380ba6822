"""Registering a command with argparse under every name it has: Docker
offers most commands both at the top (``barque pull``) and under their noun
(``barque image pull``), with the same flags."""

from __future__ import annotations

import argparse
from typing import Any, Callable, Iterable

__all__ = ["add_command"]


def add_command(places: Iterable[tuple[Any, str]], func: Callable[..., Any], help: str,
                **parser_args: Any) -> list[argparse.ArgumentParser]:
    """One parser per (subparsers, name) in ``places``, each running
    ``func(ctx, args)``; the caller adds the same arguments to each."""
    parsers = []
    for subparsers, name in places:
        parser = subparsers.add_parser(name, help=help, **parser_args)
        parser.set_defaults(func=func)
        parsers.append(parser)
    return parsers
