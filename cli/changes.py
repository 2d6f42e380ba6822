"""``commit --change``: Dockerfile instructions applied to a container's
config before it becomes the image's (moby ``BuildFromConfig``).

Pure: a config dict (Docker's ``Config`` object, as ``inspect`` shows it) and
the instruction lines in, the new config out. Only the instructions Docker
allows with ``--change`` are taken (CMD, ENTRYPOINT, ENV, EXPOSE,
HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR); any other
fails with Docker's "<instruction> is not a valid change command". Words are
split as the Dockerfile parser does (quotes, backslash escapes) and
``$VAR``/``${VAR}`` expand from the config's Env, as they do in a build.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re

from client.errors import InvalidArgument

__all__ = ["ALLOWED", "apply_changes", "parse_go_duration"]

ALLOWED = ("cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild",
           "stopsignal", "user", "volume", "workdir")

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
            "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds: "30s", "1m30s", "500ms"."""
    if text in ("0", ""):
        return 0
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise InvalidArgument(f'time: invalid duration "{text}"')
    return int(total)


def _words(text: str, env: dict[str, str]) -> list[str]:
    """Split on blanks outside quotes; drop the quotes; expand variables
    outside single quotes (the Dockerfile shell-word rules)."""
    words: list[str] = []
    cur: list[str] = []
    started = False
    i, quote = 0, ""
    while i < len(text):
        ch = text[i]
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                cur.append(ch)
        elif ch == "\\" and i + 1 < len(text) and quote != "'":
            i += 1
            cur.append(text[i])
        elif quote == '"' and ch == '"':
            quote = ""
        elif not quote and ch in "'\"":
            quote, started = ch, True
        elif ch == "$" and quote != "'":
            m = _VAR.match(text, i)
            if m:
                cur.append(env.get(m.group(1) or m.group(2), ""))
                i = m.end()
                started = True
                continue
            cur.append(ch)
        elif not quote and ch.isspace():
            if cur or started:
                words.append("".join(cur))
            cur, started = [], False
        else:
            cur.append(ch)
        started = started or bool(cur)
        i += 1
    if quote:
        raise InvalidArgument(f"unmatched quote in {text!r}")
    if cur or started:
        words.append("".join(cur))
    return words


def _json_list(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return value
    return None


def _command(rest: str) -> list[str]:
    as_json = _json_list(rest)
    return as_json if as_json is not None else ["/bin/sh", "-c", rest]


def _env_map(config: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _pairs(instr: str, rest: str, env: dict[str, str]) -> list[tuple[str, str]]:
    """ENV/LABEL's ``k=v k2="v 2"``, or the legacy ``k v`` form."""
    first = rest.split(None, 1)
    if first and "=" not in first[0]:
        if len(first) < 2:
            raise InvalidArgument(f"{instr.upper()} must have two arguments")
        return [(first[0], " ".join(_words(first[1], env)))]
    pairs = []
    for word in _words(rest, env):
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"Syntax error - can't find = in {word!r}. Must be of the form: name=value")
        pairs.append((key, value))
    return pairs


def _healthcheck(rest: str) -> dict:
    words = rest.split()
    if words and words[0].upper() == "NONE":
        if len(words) > 1:
            raise InvalidArgument("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    check: dict = {}
    flags = {"--interval": "Interval", "--timeout": "Timeout", "--start-period": "StartPeriod",
             "--start-interval": "StartInterval", "--retries": "Retries"}
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        name, sep, value = flag.partition("=")
        if name not in flags or not sep:
            raise InvalidArgument(f"Unknown flag: {flag.lstrip('-')}")
        if name == "--retries":
            try:
                check["Retries"] = int(value)
            except ValueError:
                raise InvalidArgument(f"invalid --retries value {value!r}") from None
        else:
            check[flags[name]] = parse_go_duration(value)
    kind, _, cmd = rest.partition(" ")
    if kind.upper() != "CMD" or not cmd.strip():
        raise InvalidArgument(f'Unknown type "{kind.upper()}" in HEALTHCHECK (try CMD)')
    as_json = _json_list(cmd.strip())
    test = ["CMD", *as_json] if as_json is not None else ["CMD-SHELL", cmd.strip()]
    return {"Test": test, **check}


def _apply_one(config: dict, line: str) -> None:
    instr, _, rest = line.strip().partition(" ")
    instr, rest = instr.lower(), rest.strip()
    if instr not in ALLOWED:
        raise InvalidArgument(f"{instr} is not a valid change command")
    env = _env_map(config)
    if instr in ("cmd", "entrypoint"):
        config["Cmd" if instr == "cmd" else "Entrypoint"] = _command(rest)
    elif instr == "env":
        for key, value in _pairs(instr, rest, env):
            env[key] = value
        config["Env"] = [f"{k}={v}" for k, v in env.items()]
    elif instr == "label":
        labels = dict(config.get("Labels") or {})
        labels.update(_pairs(instr, rest, env))
        config["Labels"] = labels
    elif instr == "expose":
        ports = dict(config.get("ExposedPorts") or {})
        for word in _words(rest, env):
            port, _, proto = word.partition("/")
            if not port.isdigit():
                raise InvalidArgument(f"invalid containerPort: {port}")
            ports[f"{port}/{(proto or 'tcp').lower()}"] = {}
        config["ExposedPorts"] = ports
    elif instr == "volume":
        volumes = dict(config.get("Volumes") or {})
        for path in _json_list(rest) or _words(rest, env):
            if not path.strip():
                raise InvalidArgument("VOLUME specified can not be an empty string")
            volumes[path] = {}
        config["Volumes"] = volumes
    elif instr == "workdir":
        words = _words(rest, env)
        target = words[0] if words else ""
        if not target:
            raise InvalidArgument("WORKDIR requires exactly one argument")
        config["WorkingDir"] = posixpath.normpath(posixpath.join(config.get("WorkingDir") or "/", target))
    elif instr == "onbuild":
        inner, _, inner_rest = rest.partition(" ")
        if inner.lower() in ("onbuild", "from", "maintainer"):
            raise InvalidArgument(f"{inner.upper()} isn't allowed as an ONBUILD trigger")
        config["OnBuild"] = list(config.get("OnBuild") or []) + [f"{inner.upper()} {inner_rest}".strip()]
    elif instr == "healthcheck":
        config["Healthcheck"] = _healthcheck(rest)
    else:  # user, stopsignal: one word
        words = _words(rest, env)
        if len(words) != 1:
            raise InvalidArgument(f"{instr.upper()} requires exactly one argument")
        config["User" if instr == "user" else "StopSignal"] = words[0]


def apply_changes(config: dict, changes: list[str]) -> dict:
    """A copy of ``config`` with each ``--change`` line applied in order."""
    out = copy.deepcopy(config)
    lines = [line for change in changes for line in change.splitlines() if line.strip()]
    for line in lines:  # all validated before any applies, as moby does
        instr = line.strip().split(None, 1)[0].lower()
        if instr not in ALLOWED:
            raise InvalidArgument(f"{instr} is not a valid change command")
    for line in lines:
        _apply_one(out, line)
    return out
