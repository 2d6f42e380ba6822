"""Docker's lifecycle flags as the client reads them: ``--restart``, the
``--health-*`` flags and ``--no-healthcheck``, and the Go durations they take.

Messages are docker-cli's and moby's, word for word:

- ``--restart``: docker-cli v20.10.27 ``opts/parse.go`` ``ParseRestartPolicy``
  ("invalid restart policy format", "maximum retry count must be an
  integer"), then the checks moby v20.10 makes of it in
  ``daemon/container.go`` ``validateRestartPolicy`` (made here, before
  anything is sent), and the ``--rm`` conflict of
  ``cli/command/container/opts.go`` ("Conflicting options: --restart and --rm").
- health: ``cli/command/container/opts.go`` ``parse``: any ``--health-*``
  makes a HealthConfig (``--health-cmd`` as ``["CMD-SHELL", cmd]``), negative
  values are refused by name, ``--no-healthcheck`` is ``["NONE"]`` and
  conflicts with the others.
- durations: Go's ``time.ParseDuration`` and its errors as pflag's
  DurationVar reports them ("time: missing unit in duration \"5\"").

Values are plain dicts, ints and strings (a health config's keys are the
fields of ``barque.runtime.v1.HealthConfig``); no protobuf here.
"""

from __future__ import annotations

import re
from typing import Any

from client.errors import InvalidArgument
from client.units import parse_duration

__all__ = ["parse_restart_policy", "check_restart_with_rm", "go_duration", "go_int", "health_config"]

_DURATION_UNITS = ("ns", "us", "\u00b5s", "\u03bcs", "ms", "s", "m", "h")


def _go_quote(text: str) -> str:
    from client.ports import go_quote

    return go_quote(text)


def parse_restart_policy(text: str) -> dict[str, Any]:
    """``--restart`` -> ``{"name", "maximum_retry_count"}``; InvalidArgument
    with docker-cli's (parse) or moby's (validation) message."""
    if text == "":
        return {"name": "", "maximum_retry_count": 0}
    parts = text.split(":")
    if len(parts) > 2:
        raise InvalidArgument("invalid restart policy format")
    count = 0
    if len(parts) == 2:
        if not re.fullmatch(r"[+-]?[0-9]+", parts[1], re.ASCII) or not -(1 << 63) <= int(parts[1]) < 1 << 63:
            raise InvalidArgument("maximum retry count must be an integer")
        count = int(parts[1])
    name = parts[0]
    if name in ("always", "unless-stopped", "no"):
        if count != 0:
            raise InvalidArgument(f"maximum retry count cannot be used with restart policy '{name}'")
    elif name == "on-failure":
        if count < 0:
            raise InvalidArgument("maximum retry count cannot be negative")
    elif name != "":
        raise InvalidArgument(f"invalid restart policy '{name}'")
    if not -(1 << 31) <= count < 1 << 31:
        raise InvalidArgument("maximum retry count must be an integer")
    return {"name": name, "maximum_retry_count": count}


def check_restart_with_rm(policy: dict[str, Any] | None, auto_remove: bool) -> None:
    """RestartPolicy.IsNone() or no --rm."""
    if auto_remove and policy and policy["name"] not in ("", "no"):
        raise InvalidArgument("Conflicting options: --restart and --rm")


def _duration_problem(text: str) -> str | None:
    """The error Go's time.ParseDuration gives ``text``, or None when it parses."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if body == "0":
        return None
    invalid = f"time: invalid duration {_go_quote(text)}"
    if body == "":
        return invalid
    pos = 0
    while pos < len(body):
        m = re.compile(r"([0-9]*)(?:\.([0-9]*))?").match(body, pos)
        assert m is not None
        if m.end() == pos or not (m.group(1) or m.group(2)):
            return invalid
        pos = m.end()
        end = pos
        while end < len(body) and body[end] != "." and not ("0" <= body[end] <= "9"):
            end += 1
        unit = body[pos:end]
        if not unit:
            return f"time: missing unit in duration {_go_quote(text)}"
        if unit not in _DURATION_UNITS:
            return f"time: unknown unit {_go_quote(unit)} in duration {_go_quote(text)}"
        pos = end
    try:
        parse_duration(text)
    except InvalidArgument:
        return invalid  # overflow
    return None


def go_duration(flag: str, text: str) -> int:
    """A pflag DurationVar's value in nanoseconds; InvalidArgument with
    pflag's "invalid argument ... for ... flag: time: ..." otherwise."""
    problem = _duration_problem(text)
    if problem:
        raise InvalidArgument(f"invalid argument {_go_quote(text)} for {_go_quote(flag)} flag: {problem}")
    return parse_duration(text)


def go_int(flag: str, text: str) -> int:
    """A pflag IntVar's value (strconv.ParseInt with base 0: "0x1f",
    "0o17", "017", "1_000")."""
    body = text[1:] if text[:1] in ("+", "-") else text
    try:
        if not body.isascii() or not body[:1].isdigit() or body != body.strip():
            raise ValueError(text)
        octal = re.fullmatch(r"0[0-7_]+", body)
        value = int("0o" + body[1:] if octal else body, 0)
    except ValueError:
        raise InvalidArgument(f"invalid argument {_go_quote(text)} for {_go_quote(flag)} flag: "
                              f"strconv.ParseInt: parsing {_go_quote(text)}: invalid syntax") from None
    value = -value if text.startswith("-") else value
    if not -(1 << 63) <= value < 1 << 63:
        raise InvalidArgument(f"invalid argument {_go_quote(text)} for {_go_quote(flag)} flag: "
                              f"strconv.ParseInt: parsing {_go_quote(text)}: value out of range")
    return value


def health_config(cmd: str | None, interval: str | None, timeout: str | None, start_period: str | None,
                  retries: str | None, no_healthcheck: bool) -> dict[str, Any] | None:
    """The ``--health-*`` flags as typed (None when absent) -> the fields
    of a HealthConfig, or None when none was given."""
    values = {
        "interval": go_duration("--health-interval", interval) if interval is not None else 0,
        "timeout": go_duration("--health-timeout", timeout) if timeout is not None else 0,
        "start_period": go_duration("--health-start-period", start_period) if start_period is not None else 0,
        "retries": go_int("--health-retries", retries) if retries is not None else 0,
    }
    have_settings = bool(cmd) or any(values.values())
    if no_healthcheck:
        if have_settings:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"test": ["NONE"]}
    if not have_settings:
        return None
    for name in ("interval", "timeout", "retries", "start_period"):
        if values[name] < 0:
            raise InvalidArgument(f"--health-{name.replace('_', '-')} cannot be negative")
    if values["retries"] >= 1 << 31:
        raise InvalidArgument(f"invalid argument {_go_quote(str(retries))} for \"--health-retries\" flag: "
                              f"strconv.ParseInt: parsing {_go_quote(str(retries))}: value out of range")
    return {"test": ["CMD-SHELL", cmd] if cmd else [], **values}
