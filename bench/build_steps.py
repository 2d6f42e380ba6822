"""Where one build's time goes, step by step: the output lines of a build
stamped as they arrive (:func:`stamped_build`), cut into steps
(:func:`step_seconds`), for one extra, untimed, cold build and one with a
changed file per engine (:func:`breakdown`), beside bench/build.py's timed
rounds."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from bench.tools import ToolError

__all__ = ["step_seconds", "stamped_build", "breakdown"]

_LEGACY_STEP = re.compile(r"^(?:\[\d+/\d+\] )?(?:STEP|Step) \d+/\d+ ?: ?(.*)$")
_BUILDKIT_STEP = re.compile(r"^#(\d+) \[(?:[^\]]* )?\d+/\d+\] (.*)$")
_BUILDKIT_END = re.compile(r"^#(\d+) (?:DONE (\d+(?:\.\d+)?)s|CACHED)$")


def step_seconds(lines: list[tuple[float, str]], end: float) -> list[tuple[str, float]]:
    """Where one build's time went, from its output lines stamped with the seconds
    since launch; ``end`` is when it exited.

    Legacy-format output (barque, docker's legacy builder, podman): each step
    from its ``Step N/M :`` line to the next one; ``launch`` before the first;
    the last step runs until exit. BuildKit's plain progress: each step's own
    ``DONE`` seconds (0 when ``CACHED``), and ``other`` for the wall time the
    steps do not cover (context transfer, export, exit)."""
    out: list[tuple[str, float]] = []
    steps = [(t, m.group(1)) for t, line in lines if (m := _LEGACY_STEP.match(line))]
    if steps:
        out.append(("launch", round(steps[0][0], 3)))
        for (t, name), (t_next, _) in zip(steps, [*steps[1:], (end, "")]):
            out.append((name, round(t_next - t, 3)))
        return out
    names: dict[str, str] = {}
    for _, line in lines:
        if (m := _BUILDKIT_STEP.match(line)):
            names.setdefault(m.group(1), m.group(2))
        elif (m := _BUILDKIT_END.match(line)) and m.group(1) in names:
            out.append((names[m.group(1)], float(m.group(2) or 0)))
    out.append(("other", round(end - sum(s for _, s in out), 3)))
    return out


def stamped_build(cmd: list[str], env: dict[str, str]) -> tuple[list[tuple[float, str]], float]:
    """Run one build, stamping every output line (stdout and stderr merged) with
    the seconds since launch: (lines, seconds until exit)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, **env})
    assert proc.stdout is not None
    lines = [(time.monotonic() - start, line.rstrip("\n")) for line in proc.stdout]
    if proc.wait(900) != 0:
        raise ToolError(f"build failed ({proc.returncode}): {' '.join(cmd)}: {lines[-1][1] if lines else ''}")
    return lines, time.monotonic() - start


def breakdown(builders: list, dockerfile: str, contexts: dict[str, Path], versions: dict,
              changed_file: Callable[[str, int], tuple[str, str]]) -> dict:
    """One extra, untimed, cold build then one with a changed file per engine: per-step seconds."""
    out: dict = {}
    for b in builders:
        per: dict = {}
        for case in ("cold", "changed"):
            if case == "cold":
                b.empty()
            else:
                name, text = changed_file(dockerfile, next(versions[b.name]))
                (contexts[b.name] / name).write_text(text)
            try:
                lines, end = stamped_build(b.build_command(contexts[b.name], f"bench/{dockerfile}:latest"), b.env)
            except ToolError as exc:
                per[case] = {"error": str(exc)}
                continue
            per[case] = {"total_s": round(end, 3), "steps": step_seconds(lines, end)}
        out[b.name] = per
    return out
