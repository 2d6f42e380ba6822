"""``commit --change``: Dockerfile instructions applied to a container's
config before it becomes the image's, as moby's ``BuildFromConfig`` does:
the lines are parsed by the Dockerfile parser and each is dispatched by the
build's own planner (:mod:`client.dockerfile.dispatch`) on the config, with
no commit of its own.

Pure: a config dict (Docker's ``Config`` object, as ``inspect`` shows it) and
the instruction lines in, the new config out. Only the instructions Docker
allows with ``--change`` are taken (CMD, ENTRYPOINT, ENV, EXPOSE,
HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR), all checked
before any applies; any other fails with Docker's "<instruction> is not a
valid change command".
"""

from __future__ import annotations

import copy

from client.dockerfile.buildargs import BuildArgs
from client.dockerfile.dispatch import StageState, go_duration_ns, step_for
from client.dockerfile.parser import parse
from client.errors import InvalidArgument

__all__ = ["ALLOWED", "apply_changes", "parse_go_duration"]

ALLOWED = ("cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild",
           "stopsignal", "user", "volume", "workdir")


def parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds: "30s", "1m30s", "500ms"."""
    return go_duration_ns(text)


def apply_changes(config: dict, changes: list[str]) -> dict:
    """A copy of ``config`` with each ``--change`` line applied in order."""
    lines = [line for change in changes for line in change.splitlines() if line.strip()]
    for line in lines:  # all checked before any applies (and before the parser's own refusal)
        word = line.strip().split(None, 1)[0].lower()
        if word not in ALLOWED:
            raise InvalidArgument(f"{word} is not a valid change command")
    if not lines:
        return copy.deepcopy(config)
    instructions = parse("\n".join(lines) + "\n").instructions
    state = StageState(copy.deepcopy(config), BuildArgs({}))
    for inst in instructions:
        step_for(state, inst)
    return state.config
