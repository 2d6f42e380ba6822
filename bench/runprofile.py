"""Where ``barque run``'s time goes, for bench/run.py: the statistics and
parsers (pure, unit-tested), the breakdown measurements and the profiles.

* :func:`log_phases`: each timed run cut at the runtime log's
  ``container.created``, ``container.exited`` and ``container.deleted``
  events (launch -> created -> exited -> deleted -> CLI exit);
* :func:`cli_floors`: the CLI alone (``--help``, ``images``, ``ps``), the
  interpreter (``python -c pass``, ``python -I -S -c pass``) and
  ``barque-oci --help``, which runs several times per container start;
* :func:`phase_commands`: ``create``, ``start``, ``wait``, ``rm`` timed apart;
* :func:`profile_runtime`: ``py-spy record --subprocesses`` on the runtime
  service during extra runs, split per process kind (service, shim, each
  barque-oci subcommand); :func:`profile_cli`: py-spy around the CLI itself;
  :func:`importtime_top`: the CLI's heaviest imports (``-X importtime``).
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
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench.profile import py_spy, summarise

if TYPE_CHECKING:
    from bench.barque import BarqueRuntime

__all__ = ["median", "spread", "ratios", "parse_smaps_rollup", "phases_from_records", "log_phases",
           "parse_importtime", "importtime_top", "process_kind", "split_by_process", "cli_floors",
           "phase_commands", "profile_runtime", "profile_cli", "print_breakdown", "print_profile"]

PHASES = ("launch_to_created", "created_to_exited", "exited_to_deleted", "deleted_to_cli_exit")
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


def _ts(record: dict) -> float:
    return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()


def phases_from_records(records: list[dict], windows: list[tuple[float, float]]) -> dict:
    """Per-phase medians over the runs: each window is one run's (launch, exit)
    wall time; its created/exited/deleted events are those stamped inside it.
    Runs missing an event are counted in ``incomplete``."""
    events = sorted(((_ts(r), r["event"]) for r in records
                     if r.get("event") in ("container.created", "container.exited", "container.deleted")
                     and "timestamp" in r))
    per_phase: dict[str, list[float]] = {p: [] for p in PHASES}
    incomplete = 0
    for launch, end in windows:
        inside = {name: t for t, name in events if launch <= t <= end}
        marks = [inside.get(e) for e in ("container.created", "container.exited", "container.deleted")]
        if None in marks:
            incomplete += 1
            continue
        points = [launch, *marks, end]
        for name, a, b in zip(PHASES, points, points[1:]):
            per_phase[name].append(b - a)  # type: ignore[operator]
    return {"median_s": {p: median(v) for p, v in per_phase.items()}, "runs": len(windows) - incomplete,
            "incomplete": incomplete}


def log_phases(log_path: Path, windows: list[tuple[float, float]]) -> dict:
    records = []
    for line in log_path.read_text().splitlines() if log_path.exists() else []:
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
    """Median seconds of commands that start no container, alternating per round."""
    oci = Path(sys.executable).with_name("barque-oci")
    cmds = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -I -S -c pass": [sys.executable, "-I", "-S", "-c", "pass"],
        "barque --help": barque.command("--help"),
        "barque images": barque.command("images"),
        "barque ps": barque.command("ps"),
        "barque-oci --help": [str(oci), "--help"] if oci.exists() else [sys.executable, "-m",
                                                                        "services.runtime.oci", "--help"],
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            times[name].append(_time(cmd, barque.env))
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
    """py-spy launching ``barque run --rm IMAGE true`` itself, ``runs`` times, samples summed."""
    if py_spy() is None:
        return {"skipped": "py-spy is not installed"}
    raws = []
    for i in range(runs):
        out = workdir / f"py-spy-cli-{i}.txt"
        spy = _spy(["--rate", str(rate), "--", *barque.command("run", "--rm", ref, "true")], out, barque.env)
        spy.wait(120)
        raws.append(out.read_text() if out.exists() else "")
    return _summary("cli", "\n".join(raws).splitlines(), rate, runs, runs)


def importtime_top(barque: "BarqueRuntime", ref: str) -> dict:
    script = shutil.which("barque", path=str(Path(sys.executable).parent)) or barque.cli
    proc = subprocess.run([sys.executable, "-X", "importtime", script, "run", "--rm", ref, "true"],
                          capture_output=True, text=True, env={**os.environ, **barque.env}, timeout=120)
    return parse_importtime(proc.stderr)


def print_breakdown(b: dict) -> None:
    phases = b["log_phases"]
    print(f"\nbarque run --rm, phases from the runtime log (median of {phases['runs']} runs"
          f"{', ' + str(phases['incomplete']) + ' incomplete' if phases['incomplete'] else ''})")
    for name, value in phases["median_s"].items():
        print(f"  {name:22s} {value if value is None else f'{value:.3f}s'}")
    print("start-up floors and the CLI alone (medians)")
    for name, value in b["floors"].items():
        print(f"  {name:22s} {value:.3f}s")
    print("one CLI call per step (medians)")
    for name, value in b["commands"].items():
        print(f"  {name:22s} {value:.3f}s")


def print_profile(p: dict) -> None:
    print("\nhotspots (py-spy; % of that process kind's active samples)")
    for kind, prof in {**p["runtime"], "cli (barque run)": p["cli"]}.items():
        if not isinstance(prof, dict) or "samples" not in prof:
            print(f"  {kind}: {prof}")
            continue
        print(f"  {kind}: {prof['samples']} samples, {prof['processes']} processes, "
              f"~{prof['active_s_per_run']:.3f} s active per run")
        for label, pct in prof["self_time"][:6]:
            print(f"      {pct:5.1f}% own   {label}")
        for label, pct in prof["inclusive"][:6]:
            print(f"      {pct:5.1f}% incl  {label}")
    imports = p["cli_importtime"]
    print(f"CLI imports of one barque run (-X importtime): {imports['total_ms']:.0f} ms in all")
    for (name, ms), (own_name, own_ms) in zip(imports["cumulative"][:10], imports["own"][:10]):
        print(f"  {ms:7.1f} ms  {name:34s} {own_ms:7.1f} ms own  {own_name}")
