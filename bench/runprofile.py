"""Where ``barque run``'s time goes, for bench/run.py: the statistics and
parsers (pure, unit-tested), the breakdown measurements and the profiles.

* :func:`log_phases`: each timed run cut at the runtime's debug events
  ``container.phase`` (``{"id", "phase", "mono"}``, stamped with
  ``time.monotonic()`` at the end of each phase), between the bench's own
  monotonic stamps of the CLI's launch and exit: launch -> create.begin, each
  phase, the last phase -> CLI exit;
* :func:`cli_floors`: the interpreter (``python -c pass``, ``python -I -S -c
  pass``: the launcher's floor), ``barque --help`` served and in-process, and
  ``barque-oci --help``;
* :func:`phase_commands`: ``create``, ``start``, ``wait``, ``rm`` timed apart;
* :func:`profile_runtime`: ``py-spy record --subprocesses`` on the runtime
  service during extra runs, split per process kind (service, shim, each
  barque-oci subcommand); :func:`profile_cli`: py-spy on the in-process CLI;
  :func:`importtime_top`: the CLI's heaviest imports in-process, and the
  launcher's (``-X importtime``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.profile import py_spy, summarise

if TYPE_CHECKING:
    from bench.barque import BarqueRuntime

__all__ = ["median", "spread", "ratios", "paired_ratios", "parse_smaps_rollup", "phase_marks", "run_phases",
           "phases_from_records", "log_phases", "parse_importtime", "importtime_top", "process_kind",
           "split_by_process", "cli_floors", "phase_commands", "profile_runtime", "profile_cli", "print_phases",
           "print_breakdown", "print_importtime", "print_profile"]

#: the runtime's debug event at the end of each phase of a container
PHASE_EVENT = "container.phase"
#: the first phase event of a container: the runtime's Create began
FIRST_PHASE = "create.begin"
_SMAPS_RE = re.compile(r"^(Pss|Rss):\s+(\d+) kB$", re.MULTILINE)
_IMPORT_RE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")
_OCI_COMMANDS = ("create", "start", "delete", "kill", "state", "run", "exec")


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def spread(values: list[float]) -> dict[str, float | None]:
    """p10, p90, min and max of ``values`` (nearest rank), None when empty."""
    if not values:
        return {"p10_s": None, "p90_s": None, "min_s": None, "max_s": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    return {"p10_s": rank(0.1), "p90_s": rank(0.9), "min_s": ordered[0], "max_s": ordered[-1]}


def ratios(medians: dict[str, float | None], base: str = "barque") -> dict[str, float]:
    """``base/<other>`` for every other engine with a median (runc's is the floor)."""
    ours = medians.get(base)
    if not ours:
        return {}
    return {f"{base}/{name}": round(ours / value, 2) for name, value in medians.items()
            if name != base and value}


def parse_smaps_rollup(text: str) -> dict[str, int]:
    """``Pss:`` and ``Rss:`` of one ``/proc/<pid>/smaps_rollup``, in KiB (0 when absent)."""
    found = {key.lower(): int(value) for key, value in _SMAPS_RE.findall(text)}
    return {"pss_kib": found.get("pss", 0), "rss_kib": found.get("rss", 0)}


def paired_ratios(times: dict[str, list[float]], base: str = "barque") -> dict[str, float]:
    """``base/<other>``: the median of the per-round ratios, round ``i`` of each
    engine against round ``i`` of ``base`` (the rounds alternate engines, so
    drift hits both sides of a pair alike)."""
    ours = times.get(base) or []
    out = {}
    for name, values in times.items():
        pairs = [a / b for a, b in zip(ours, values) if b]
        if name != base and pairs:
            out[f"{base}/{name}"] = round(statistics.median(pairs), 2)
    return out


def phase_marks(records: list[dict]) -> dict[str, list[tuple[float, str]]]:
    """The ``container.phase`` events of a log, per container id, in monotonic order."""
    out: dict[str, list[tuple[float, str]]] = {}
    for r in records:
        mono = r.get("mono")
        if r.get("event") == PHASE_EVENT and r.get("id") and isinstance(mono, (int, float)):
            out.setdefault(str(r["id"]), []).append((float(mono), str(r.get("phase"))))
    for marks in out.values():
        marks.sort()
    return out


def run_phases(marks: dict[str, list[tuple[float, str]]], launch: float, end: float) -> list[tuple[str, float]]:
    """One CLI call's phases: the container whose ``create.begin`` lies between
    the call's launch and exit (monotonic seconds), its marks inside that window,
    and the durations between consecutive ones, each named by the phase it ends;
    the first is ``launch -> <first phase>``, the last ``<last phase> -> exit``.
    Empty when no container began inside the window."""
    for container_marks in marks.values():
        begins = [t for t, phase in container_marks if phase == FIRST_PHASE]
        if begins and launch <= begins[0] <= end:
            inside = [(t, phase) for t, phase in container_marks if launch <= t <= end]
            out = [(f"launch -> {inside[0][1]}", inside[0][0] - launch)]
            out += [(phase, t - prev) for (prev, _), (t, phase) in zip(inside, inside[1:])]
            return out + [(f"{inside[-1][1]} -> exit", end - inside[-1][0])]
    return []


def phases_from_records(records: list[dict], windows: list[tuple[float, float]]) -> dict:
    """Per-phase medians over the calls whose (launch, exit) monotonic ``windows``
    are given, phases in the order they happen (by their median end, relative to
    the launch). ``runs`` counts each phase's occurrences: a phase missing from
    some calls (``oci_create_start`` is on detached starts only) says so; calls
    with no container found count as ``incomplete``."""
    marks = phase_marks(records)
    durations: dict[str, list[float]] = {}
    ends: dict[str, list[float]] = {}
    totals = []
    incomplete = 0
    for launch, end in windows:
        phases = run_phases(marks, launch, end)
        if not phases:
            incomplete += 1
            continue
        totals.append(end - launch)
        elapsed = 0.0
        for name, seconds in phases:
            elapsed += seconds
            durations.setdefault(name, []).append(seconds)
            ends.setdefault(name, []).append(elapsed)
    order = sorted(durations, key=lambda name: statistics.median(ends[name]))
    return {"median_s": {name: median(durations[name]) for name in order},
            "runs": {name: len(durations[name]) for name in order},
            "total_median_s": median(totals), "calls": len(windows) - incomplete, "incomplete": incomplete}


def log_phases(log_path: Path, windows: list[tuple[float, float]]) -> dict:
    """:func:`phases_from_records` of the runtime's log file (its phase events only)."""
    records = []
    for line in log_path.read_text().splitlines() if log_path.exists() else []:
        if PHASE_EVENT not in line:
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return phases_from_records(records, windows)


def parse_importtime(stderr: str, top: int = 12) -> dict:
    """From ``-X importtime`` output: the total, the imports made at nesting level 1
    (by the program itself, eagerly or lazily) by cumulative ms, and every module by own ms."""
    level1, own = [], []
    total_us = 0
    for line in stderr.splitlines():
        m = _IMPORT_RE.match(line)
        if not m:
            continue
        self_us, cumulative_us, name = int(m.group(1)), int(m.group(2)), m.group(4)
        total_us += self_us
        own.append((name, round(self_us / 1000, 1)))
        if len(m.group(3)) == 1:
            level1.append((name, round(cumulative_us / 1000, 1)))
    return {"total_ms": round(total_us / 1000, 1),
            "cumulative": sorted(level1, key=lambda item: -item[1])[:top],
            "own": sorted(own, key=lambda item: -item[1])[:top]}


def process_kind(frame: str) -> str:
    """The kind of process a py-spy ``process PID:"cmdline"`` frame names."""
    if "runtime/shim" in frame:  # the shim, or the warm zygote and the shims it forks
        return "shim/zygote"
    if "barque-oci" in frame or "services.runtime.oci" in frame:
        words = frame.replace('"', " ").split()
        return "barque-oci " + next((w for w in words if w in _OCI_COMMANDS), "?")
    if "services.runtime" in frame:
        return "runtime service"
    return "other"


def split_by_process(raw: str) -> dict[str, dict]:
    """py-spy ``--subprocesses`` raw output split per process kind: the kind's
    raw lines (for :func:`bench.profile.summarise`) and its distinct PIDs."""
    out: dict[str, dict] = {}
    for line in raw.splitlines():
        first = line.split(";", 1)[0]
        kind = process_kind(first) if first.startswith("process ") else "runtime service"
        entry = out.setdefault(kind, {"lines": [], "pids": set()})
        entry["lines"].append(line)
        m = re.match(r"process (\d+)", first)
        if m:
            entry["pids"].add(int(m.group(1)))
    return out


def _time(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-500:]!r}")
    return elapsed


def cli_floors(barque: "BarqueRuntime", runs: int) -> dict[str, float | None]:
    """Median seconds of commands that start no container, alternating per round:
    the interpreter bare and as the launcher starts (``-I -S``), ``barque --help``
    served by the command server and in-process, and barque-oci's start-up."""
    oci = Path(sys.executable).with_name("barque-oci")
    cmds = {
        "python -c pass": ([sys.executable, "-c", "pass"], barque.env),
        "python -I -S -c pass": ([sys.executable, "-I", "-S", "-c", "pass"], barque.env),
        "barque --help": (barque.command("--help"), barque.env),
        "barque --help in-process": (barque.command("--help"), barque.in_process_env),
        "barque-oci --help": ([str(oci), "--help"] if oci.exists() else
                              [sys.executable, "-m", "services.runtime.oci", "--help"], barque.env),
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(runs):
        for name, (cmd, env) in cmds.items():
            times[name].append(_time(cmd, env))
    return {name: median(v) for name, v in times.items()}


def phase_commands(barque: "BarqueRuntime", ref: str, runs: int) -> dict[str, float | None]:
    """``create``, ``start``, ``wait``, ``rm`` of one container, each its own CLI call."""
    times: dict[str, list[float]] = {k: [] for k in ("create", "start", "wait", "rm", "sum")}
    for _ in range(runs):
        start = time.perf_counter()
        cid = barque.cli_run("create", ref, "true").strip().splitlines()[-1]
        times["create"].append(time.perf_counter() - start)
        for step, args in (("start", ("start", cid)), ("wait", ("wait", cid)), ("rm", ("rm", cid))):
            times[step].append(_time(barque.command(*args), barque.env))
        times["sum"].append(sum(times[k][-1] for k in ("create", "start", "wait", "rm")))
    return {name: median(v) for name, v in times.items()}


def _spy(args: list[str], output: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
    log = open(output.with_suffix(".log"), "wb")
    try:
        return subprocess.Popen([binary, "record", "--format", "raw", "--nonblocking", "--output", str(output),
                                 *args], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})})
    finally:
        log.close()


def _summary(kind: str, lines: list[str], rate: int, runs: int, pids: int) -> dict:
    prof = summarise(kind, "\n".join(lines))
    return {"samples": prof.samples, "active_s_per_run": round(prof.samples / rate / runs, 3),
            "processes": pids, "self_time": prof.self_time[:10], "inclusive": prof.inclusive[:10]}


def profile_runtime(barque: "BarqueRuntime", ref: str, workdir: Path, runs: int, rate: int = 500) -> dict:
    """py-spy on the runtime service and its children during ``runs`` extra runs;
    also on the warm zygote when the runtime keeps one (it forks the shims, which
    are then not the service's descendants)."""
    if py_spy() is None:
        return {"skipped": "py-spy is not installed"}
    targets = [barque.service_pids()["runtime"], *barque.shim_pids()]
    spies = []
    for pid in targets:
        out = workdir / f"py-spy-runtime-{pid}.txt"
        spies.append((_spy(["--pid", str(pid), "--rate", str(rate), "--subprocesses", "--threads"], out), out))
    try:
        time.sleep(1.0)  # py-spy attaches asynchronously
        for _ in range(runs):
            barque.cli_run("run", "--rm", ref, "true")
    finally:
        for spy, _ in spies:
            spy.send_signal(signal.SIGINT)
        for spy, _ in spies:
            try:
                spy.wait(60)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
    raw = "\n".join(out.read_text() for _, out in spies if out.exists())
    return {kind: _summary(kind, part["lines"], rate, runs, len(part["pids"]))
            for kind, part in sorted(split_by_process(raw).items())}


def profile_cli(barque: "BarqueRuntime", ref: str, workdir: Path, runs: int, rate: int = 1000) -> dict:
    """py-spy launching the in-process CLI (``python -m cli run --rm IMAGE true``,
    what runs without a command server), ``runs`` times, samples summed. A served
    call's worker lives a few tens of milliseconds, too short for py-spy to find
    it among the server's children; its time shows in the phases instead
    (launch -> create.begin, the last phase -> exit)."""
    if py_spy() is None:
        return {"skipped": "py-spy is not installed"}
    raws = []
    for i in range(runs):
        out = workdir / f"py-spy-cli-{i}.txt"
        spy = _spy(["--rate", str(rate), "--", sys.executable, "-m", "cli", "run", "--rm", ref, "true"], out,
                   barque.in_process_env)
        spy.wait(120)
        raws.append(out.read_text() if out.exists() else "")
    return _summary("cli", "\n".join(raws).splitlines(), rate, runs, runs)


def importtime_top(barque: "BarqueRuntime", ref: str) -> dict:
    """``-X importtime`` of the CLI: in-process (the launcher's fallback without a
    server, and what the server imports once) on ``run --rm IMAGE true``, and of
    the launcher itself on a served ``ps``."""
    script = shutil.which("barque", path=str(Path(sys.executable).parent)) or barque.cli
    env = {**os.environ, **barque.in_process_env}
    in_process = subprocess.run([sys.executable, "-X", "importtime", script, "run", "--rm", ref, "true"],
                                capture_output=True, text=True, env=env, timeout=120)
    launcher = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", barque.cli, "ps"],
                              capture_output=True, text=True, env={**os.environ, **barque.env}, timeout=120)
    return {**parse_importtime(in_process.stderr), "launcher": parse_importtime(launcher.stderr)}


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"


def print_phases(title: str, phases: dict) -> None:
    """One call kind's phases from the runtime log, with how many calls each was seen in."""
    missing = f", {phases['incomplete']} without phase events" if phases["incomplete"] else ""
    print(f"{title} (medians of {phases['calls']} calls{missing}; total {_seconds(phases['total_median_s'])})")
    if not phases["median_s"]:
        print("  no container.phase events: is the runtime logging at debug level?")
    for name, value in phases["median_s"].items():
        seen = phases["runs"][name]
        print(f"  {name:32s} {_seconds(value):>8s}" + (f"   (in {seen} of {phases['calls']})"
                                                         if seen != phases["calls"] else ""))


def print_breakdown(b: dict) -> None:
    print()
    print_phases("barque run --rm IMAGE true: phases from the runtime's debug log", b["log_phases"])
    if b.get("detached_phases"):
        print_phases("barque run -d IMAGE sleep 600 (the memory step's starts)", b["detached_phases"])
    for title, values in (("start-up floors (medians)", b["floors"]),
                          ("one CLI call per step (medians)", b["commands"])):
        print(title)
        if "error" in values:
            print(f"  not measured: {values['error']}")
            continue
        for name, value in values.items():
            print(f"  {name:32s} {_seconds(value):>8s}")


def print_importtime(imports: dict) -> None:
    print(f"\nCLI imports, in-process barque run (-X importtime): {imports['total_ms']:.0f} ms in all; "
          f"the launcher's own: {imports['launcher']['total_ms']:.1f} ms")
    for (name, ms), (own_name, own_ms) in zip(imports["cumulative"][:10], imports["own"][:10]):
        print(f"  {ms:7.1f} ms  {name:34s} {own_ms:7.1f} ms own  {own_name}")


def print_profile(p: dict) -> None:
    print("\nhotspots (py-spy; % of that process kind's active samples)")
    for kind, prof in {**p["runtime"], "cli in-process (python -m cli run --rm)": p["cli"]}.items():
        if not isinstance(prof, dict) or "samples" not in prof:
            print(f"  {kind}: {prof}")
            continue
        print(f"  {kind}: {prof['samples']} samples, {prof['processes']} processes, "
              f"~{prof['active_s_per_run']:.3f} s active per run")
        for label, pct in prof["self_time"][:6]:
            print(f"      {pct:5.1f}% own   {label}")
        for label, pct in prof["inclusive"][:6]:
            print(f"      {pct:5.1f}% incl  {label}")
