"""Dockerfile text to instructions, as BuildKit's dockerfile frontend parses.

Follows moby/buildkit ``frontend/dockerfile/parser`` (``Parse``,
``parseWords``, ``parseNameVal``, ``parseMaybeJSON``, ``parseHealthConfig``,
``extractBuilderFlags``, heredocs) and the checks of
``frontend/dockerfile/instructions/parse.go`` that need no build state
(unknown instruction, FROM's arity, ONBUILD triggers, HEALTHCHECK's type).

The result keeps arguments unexpanded: ENV/LABEL values keep their quotes
and escapes, as moby's parser does. Variables are expanded later by the
caller, with ``shellwords.process_word`` on the instructions named in
``EXPANDING_INSTRUCTIONS`` (once the build args and ENV are known).

Every error is a ``DockerfileSyntaxError`` naming the line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from client.dockerfile.shellwords import ExpansionError, Lexer
from client.errors import InvalidArgument

__all__ = [
    "DockerfileSyntaxError",
    "EXPANDING_INSTRUCTIONS",
    "HEREDOC_INSTRUCTIONS",
    "Flag",
    "Heredoc",
    "Instruction",
    "Dockerfile",
    "parse",
    "from_image_and_stage",
    "key_values",
    "arg_definitions",
]

# Docker's list of instructions whose arguments undergo variable expansion
# (the Dockerfile reference, "Environment replacement").
EXPANDING_INSTRUCTIONS = frozenset(
    {"add", "copy", "env", "expose", "from", "label", "stopsignal", "user",
     "volume", "workdir", "onbuild", "arg"}
)
# BuildKit reads heredoc bodies only for these.
HEREDOC_INSTRUCTIONS = frozenset({"add", "copy", "run"})

# _DIRECTIVE and _HEREDOC are used with fullmatch (whole line, as moby anchors them).
_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*")
_KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_HEREDOC = re.compile(r"(\d*)<<(-?)\s*([^<]*)")
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")


class DockerfileSyntaxError(InvalidArgument):
    """The Dockerfile does not parse; the message names the line."""


@dataclass(frozen=True)
class Flag:
    """``--name=value``; ``value`` is None for a bare ``--name`` (``--link``)."""

    name: str
    value: Optional[str]


@dataclass(frozen=True)
class Heredoc:
    """A ``<<NAME`` body. ``expand`` is False when the name was quoted;
    ``content`` ends with a newline per line; for ``<<-`` leading tabs are
    already stripped (BuildKit's ChompHeredocContent, which it applies when
    it builds the instruction)."""

    name: str
    content: str
    expand: bool
    chomp: bool
    fd: Optional[int]


@dataclass
class Instruction:
    """One instruction. ``cmd`` is lower-case (moby's Node.Value); ``args``
    are unexpanded; ``json`` marks the exec form; ``start_line`` and
    ``end_line`` are 1-based and inclusive of continuations and heredoc
    bodies. ENV and LABEL args alternate key, value; HEALTHCHECK args
    start with its type (CMD or NONE); ONBUILD holds ``trigger`` instead."""

    cmd: str
    args: List[str]
    original: str
    start_line: int
    end_line: int
    flags: List[Flag] = field(default_factory=list)
    json: bool = False
    heredocs: List[Heredoc] = field(default_factory=list)
    trigger: Optional["Instruction"] = None

    def flag(self, name: str) -> Optional[Flag]:
        """The last flag called ``name`` (a repeated flag's last value wins
        except for --mount, which callers read from ``flags``)."""
        found = None
        for f in self.flags:
            if f.name == name:
                found = f
        return found


@dataclass
class Dockerfile:
    """The parsed file; ``directives`` maps lower-case directive names."""

    instructions: List[Instruction]
    directives: Dict[str, str]
    escape: str


class _Error(Exception):
    """A parse failure before its line number is known."""


def _parse_words(rest: str, escape: str) -> List[str]:
    """moby's parseWords: split on whitespace outside quotes, keeping the
    quotes and escapes in each word (expansion removes them later)."""
    words: List[str] = []
    word: List[str] = []
    blank_ok = False
    quote = ""
    phase = "spaces"
    pos, n = 0, len(rest)
    while True:
        ch = rest[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if ch.isspace():
                pos += 1
                continue
            phase = "word"
        if pos == n:
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == "word":
            if ch.isspace():
                phase = "spaces"
                if blank_ok or word:
                    words.append("".join(word))
                word, blank_ok = [], False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote, blank_ok, phase = ch, True, "quote"
            elif ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        # inside quotes; the escape token means nothing inside '…'
        if ch == quote:
            phase = "word"
        elif ch == escape and quote != "'":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            word.append(ch)
            pos += 1
            ch = rest[pos]
        word.append(ch)
        pos += 1
    return words


def _split_flags(rest: str, escape: str) -> Tuple[List[Flag], str]:
    """Leading ``--name[=value]`` words; ``--`` alone ends them."""
    flags: List[Flag] = []
    text = rest.lstrip()
    while text.startswith("--"):
        end = _word_end(text, escape)
        first, text = text[:end], text[end:].lstrip()
        if first == "--":
            break
        name, eq, value = first[2:].partition("=")
        if not name:
            raise _Error(f"invalid flag {first!r}")
        flags.append(Flag(name, _unquote(value, escape) if eq else None))
    return flags, text


def _unquote(value: str, escape: str) -> str:
    """A flag's value without its quotes; ``$`` is left for expansion."""
    out: List[str] = []
    quote = ""
    i = 0
    while i < len(value):
        ch = value[i]
        if quote and ch == quote:
            quote = ""
        elif not quote and ch in ("'", '"'):
            quote = ch
        elif ch == escape and quote != "'" and i + 1 < len(value):
            i += 1
            out.append(value[i])
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _word_end(text: str, escape: str) -> int:
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote == '"':
                i += 1
        elif ch in ("'", '"'):
            quote = ch
        elif ch == escape:
            i += 1
        elif ch.isspace():
            return i
        i += 1
    return i


def _json_array(rest: str) -> Optional[List[str]]:
    """The exec form, or None to fall back to the shell form as Docker does;
    an array of anything but strings is an error."""
    rest = rest.strip()
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise _Error("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _key_values(cmd: str, rest: str, escape: str) -> List[str]:
    words = _parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        # legacy ``ENV key value``: the value is the rest of the line verbatim
        parts = _WHITESPACE.split(rest.strip(), maxsplit=1)
        if len(parts) < 2:
            raise _Error(f"{cmd.upper()} must have two arguments")
        return [parts[0], parts[1]]
    out: List[str] = []
    for word in words:
        if "=" not in word:
            raise _Error(
                f"syntax error - can't find = in {word!r}. Must be of the form: name=value"
            )
        key, _, value = word.partition("=")
        if not key:
            raise _Error(f"{cmd.upper()} names can not be blank")
        out += [key, value]
    return out


def _split_ws(rest: str) -> List[str]:
    rest = rest.strip()
    return _WHITESPACE.split(rest) if rest else []


def _maybe_json(inst: Instruction, rest: str, to_list: bool) -> None:
    array = _json_array(rest)
    if array is not None:
        inst.args, inst.json = array, True
    elif to_list:
        inst.args = _split_ws(rest)
    else:
        rest = rest.strip()
        inst.args = [rest] if rest else []


def _healthcheck(inst: Instruction, rest: str) -> None:
    rest = rest.strip()
    if not rest:
        return
    parts = rest.split(None, 1)
    kind = parts[0].upper()
    if kind == "NONE":
        if len(parts) > 1:
            raise _Error("HEALTHCHECK NONE takes no arguments")
        inst.args = ["NONE"]
        return
    if kind != "CMD":
        raise _Error(f"unknown type {parts[0]!r} in HEALTHCHECK (try CMD)")
    _maybe_json(inst, parts[1] if len(parts) > 1 else "", to_list=False)
    if not inst.args:
        raise _Error("missing command after HEALTHCHECK CMD")
    inst.args = ["CMD"] + inst.args


_Parse = Callable[[Instruction, str, str], None]


def _set(fn: Callable[[str, str], List[str]]) -> _Parse:
    def apply(inst: Instruction, rest: str, escape: str) -> None:
        inst.args = fn(rest, escape)
    return apply


_DISPATCH: Dict[str, _Parse] = {
    "add": lambda i, r, e: _maybe_json(i, r, True),
    "copy": lambda i, r, e: _maybe_json(i, r, True),
    "volume": lambda i, r, e: _maybe_json(i, r, True),
    "run": lambda i, r, e: _maybe_json(i, r, False),
    "cmd": lambda i, r, e: _maybe_json(i, r, False),
    "entrypoint": lambda i, r, e: _maybe_json(i, r, False),
    "shell": lambda i, r, e: _maybe_json(i, r, False),
    "arg": _set(_parse_words),
    "env": lambda i, r, e: setattr(i, "args", _key_values("env", r, e)),
    "label": lambda i, r, e: setattr(i, "args", _key_values("label", r, e)),
    "expose": _set(lambda r, e: _split_ws(r)),
    "from": _set(lambda r, e: _split_ws(r)),
    "maintainer": _set(lambda r, e: [r.strip()] if r.strip() else []),
    "stopsignal": _set(lambda r, e: [r.strip()] if r.strip() else []),
    "user": _set(lambda r, e: [r.strip()] if r.strip() else []),
    "workdir": _set(lambda r, e: [r.strip()] if r.strip() else []),
    "healthcheck": lambda i, r, e: _healthcheck(i, r),
}


def _instruction(line: str, escape: str, start: int, end: int) -> Instruction:
    parts = line.strip().split(None, 1)
    cmd = parts[0].lower()
    rest = parts[1] if len(parts) > 1 else ""
    inst = Instruction(cmd=cmd, args=[], original=line, start_line=start, end_line=end)
    if cmd == "onbuild":
        if not rest.strip():
            raise _Error("ONBUILD requires at least one argument")
        trigger = _instruction(rest, escape, start, end)
        if trigger.cmd == "onbuild":
            raise _Error("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger.cmd in ("from", "maintainer"):
            raise _Error(f"{trigger.cmd.upper()} isn't allowed as an ONBUILD trigger")
        inst.trigger = trigger
        return inst
    handler = _DISPATCH.get(cmd)
    if handler is None:
        raise _Error(f"unknown instruction: {parts[0].upper()}")
    inst.flags, rest = _split_flags(rest, escape)
    handler(inst, rest, escape)
    if not inst.args:
        raise _Error(f"{cmd.upper()} requires at least one argument")
    if cmd == "from":
        from_image_and_stage(inst)
    return inst


def _heredoc_markers(line: str, escape: str) -> List[Tuple[str, bool, bool, Optional[int]]]:
    """(name, expand, chomp, fd) for each ``<<NAME`` word of ``line``."""
    words = Lexer(escape, raw_quotes=True, raw_escapes=True).process_words(line, {})
    found = []
    for word in words:
        m = _HEREDOC.fullmatch(word)
        if not m or not m.group(3):
            continue
        raw = m.group(3)
        names = Lexer(escape).process_words(raw, {})
        if len(names) != 1:
            continue
        name = names[0]
        # quoting any part of the name turns expansion off, as in sh
        expand = name.count("'") + name.count('"') == raw.count("'") + raw.count('"')
        fd = int(m.group(1)) if m.group(1) else None
        found.append((name, expand, m.group(2) == "-", fd))
    return found


def _bare(line: str) -> str:
    return line.rstrip("\r\n")


def parse(text: str) -> Dockerfile:
    """Parse a whole Dockerfile. Raises DockerfileSyntaxError naming the
    1-based line of the instruction at fault."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    directives: Dict[str, str] = {}
    idx = 0
    # Directives: only ``# key=value`` lines before anything else.
    while idx < len(lines):
        m = _DIRECTIVE.fullmatch(_bare(lines[idx]).lstrip())
        if not m or m.group(1).lower() not in _KNOWN_DIRECTIVES:
            break
        key = m.group(1).lower()
        if key in directives:
            raise DockerfileSyntaxError(
                f"dockerfile line {idx + 1}: only one {key} parser directive can be used"
            )
        directives[key] = m.group(2)
        idx += 1
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise DockerfileSyntaxError(
            f"invalid escape token {escape!r} does not match ` or \\"
        )
    continuation = re.compile(re.escape(escape) + r"[ \t]*\Z")

    def trim_continuation(s: str) -> Tuple[str, bool]:
        m = continuation.search(s)
        return (s[: m.start()], False) if m else (s, True)

    def is_comment(s: str) -> bool:
        return s.lstrip().startswith("#")

    out: List[Instruction] = []
    while idx < len(lines):
        raw = _bare(lines[idx])
        idx += 1
        start = idx
        if is_comment(raw):
            continue
        line, done = trim_continuation(raw.lstrip())
        if done and not line.strip():
            continue
        while not done and idx < len(lines):
            raw = _bare(lines[idx])
            idx += 1
            if is_comment(raw):
                continue  # comments inside a continued instruction are dropped
            if not raw.strip():
                continue  # empty continuation line (deprecated, still accepted)
            part, done = trim_continuation(raw)
            line += part
        if not line.strip():
            continue
        try:
            inst = _instruction(line, escape, start, idx)
            # ONBUILD's trigger may carry heredocs; the exec form never does.
            target = inst.trigger if inst.trigger is not None else inst
            if target.cmd in HEREDOC_INSTRUCTIONS and not target.json and "<<" in line:
                for name, expand, chomp, fd in _heredoc_markers(line, escape):
                    body: List[str] = []
                    while True:
                        if idx >= len(lines):
                            raise _Error(f"unterminated heredoc {name!r}")
                        raw = _bare(lines[idx])
                        idx += 1
                        if (raw.lstrip("\t") if chomp else raw) == name:
                            break
                        body.append((raw.lstrip("\t") if chomp else raw) + "\n")
                    target.heredocs.append(Heredoc(name, "".join(body), expand, chomp, fd))
                inst.end_line = target.end_line = idx
        except (_Error, ExpansionError) as exc:
            raise DockerfileSyntaxError(f"dockerfile line {start}: {exc}") from exc
        out.append(inst)
    if not out:
        raise DockerfileSyntaxError(f"dockerfile line {len(lines)}: file with no instructions")
    return Dockerfile(out, directives, escape)


def from_image_and_stage(inst: Instruction) -> Tuple[str, Optional[str]]:
    """FROM's image and its ``AS`` stage name (lower-cased, as BuildKit)."""
    args = inst.args
    if len(args) == 1:
        return args[0], None
    if len(args) == 3 and args[1].lower() == "as":
        return args[0], args[2].lower()
    raise DockerfileSyntaxError(
        f"dockerfile line {inst.start_line}: FROM requires either one or three arguments"
    )


def key_values(inst: Instruction) -> List[Tuple[str, str]]:
    """ENV/LABEL pairs, values still unexpanded."""
    return list(zip(inst.args[0::2], inst.args[1::2]))


def arg_definitions(inst: Instruction) -> List[Tuple[str, Optional[str]]]:
    """ARG names with their default (None when there is none)."""
    out: List[Tuple[str, Optional[str]]] = []
    for word in inst.args:
        name, eq, default = word.partition("=")
        out.append((name, default if eq else None))
    return out
