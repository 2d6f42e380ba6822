"""``make bench-run``: how fast barque's commands are and how much memory each
running container adds, beside docker 20.10, podman 4.3 and bare runc, in one
run: the figures of issue 10.

Run from the repository root as root: ``python -m bench.run [--runs N]``.

1. a fresh Debian ``docker-registry`` on 127.0.0.1 gets the busybox image of
   ``deploy/seed-image.sh``; barque (all three services, empty state, runtime
   logging at debug level, the bench's own warm command server), a private
   dockerd and podman (private roots) each pull it once, untimed; the same
   image unpacked by umoci is runc's ready bundle;
2. the fixed cost of a CLI command: ``ps`` (no containers), ``version`` and
   ``images -q`` of every engine, barque's served by its command server and,
   as rows of their own, in-process (``BARQUE_CLI_SERVER=0``);
3. two untimed warm-up rounds, then ``--runs`` timed rounds, engines
   alternating run by run: ``barque run --rm IMAGE true``, ``docker run --rm
   --network none IMAGE true``, ``podman run --rm --network none IMAGE true``,
   ``runc run``. After each barque run the bench checks that nothing of the
   container is left (record, rootfs mount, shim): ``--rm`` may not be
   deferred past the command's exit;
4. the breakdown: the runtime's per-phase debug events of every timed run
   between the CLI's launch and exit (bench/runprofile.py), start-up floors,
   ``create``/``start``/``wait``/``rm`` timed separately;
5. memory: PSS (``/proc/<pid>/smaps_rollup``) of every engine process with
   ``--containers`` containers running ``sleep 600`` minus the same with none,
   per container; RSS beside it;
6. ``exec C true``, ``--containers`` concurrent starts and ``ps`` with
   ``--ps-containers`` running, engines alternating (bench/many.py);
7. ``-X importtime`` of the CLI in-process and of the launcher; py-spy on the
   runtime service (and its shims and barque-oci children) and on the
   in-process CLI: the hotspots;
8. prints the tables, the targets met or missed (bench/report.py) and writes
   bench/results/run-<YYYYmmdd-HHMMSS>.json.

Everything started is stopped by PID (the command server too), containers
removed with each engine's ``rm -f``, mounts under the temp dir unmounted and
the ``barque/bench-*`` cgroups removed, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bench.barque import BarqueRuntime
from bench.everyday import everyday, everyday_targets
from bench.many import Probe, alternate, concurrent_start, exec_latency, fixed_cost, ps_loaded
from bench.report import print_report, targets
from bench.runprofile import (cli_floors, importtime_top, log_phases, median, paired_ratios, parse_smaps_rollup,
                              phase_commands, profile_cli, profile_runtime, ratios, spread)
from bench.tools import (Docker, Podman, RuncFloor, ToolError, become_subreaper, hard_nofile, mounts_under,
                         pids_matching, reap_orphans, remove_cgroups, umount_under)
from tests.support.registry import start_registry

__all__ = ["main", "run_benchmark", "memory_of", "per_container"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SEED_SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "seed-image.sh"
REPO, TAG = "bench/busybox", "latest"
ENGINES = ("barque", "docker", "podman", "runc")
#: the fixed-cost commands, each engine's own spelling after its program name
FIXED_COMMANDS = {"ps": ("ps",), "version": ("version",), "images -q": ("images", "-q")}
WARMUP_ROUNDS = 2
#: the cgroup parent of each engine's containers, so nothing lands outside barque/
CGROUP_PARENTS = {"docker": "bench-docker", "podman": "bench-podman", "runc": "bench-runc"}


@dataclass
class Contender:
    """One engine as the timing loop sees it: the timed command and how to start and remove a long-lived one."""

    name: str
    version: str
    run: list[str]                       # the timed command (runs `true`, removes the container)
    env: dict[str, str] = field(default_factory=dict)
    detached: list[str] = field(default_factory=list)   # prints the id of a container running `sleep 600`
    remove: list[str] = field(default_factory=list)     # + ids: force-remove containers
    fixed_pids: object = None            # () -> daemons/services counted for memory
    per_pids: object = None              # () -> per-container processes (shims, conmon)
    exec: list[str] = field(default_factory=list)       # + id + command: run a process in a container
    cli: dict[str, list[str]] = field(default_factory=dict)   # FIXED_COMMANDS' command lines
    variants: dict[str, dict[str, str]] = field(default_factory=dict)  # label -> env: extra fixed-cost rows
    base: list[str] = field(default_factory=list)       # the CLI before any command (bench/everyday.py)
    run_flags: list[str] = field(default_factory=list)  # what `run` takes here before the image


def memory_of(pids: list[int]) -> dict[str, int]:
    """Summed PSS and RSS (KiB) of ``pids``; a process that vanished counts as zero."""
    total = {"pss_kib": 0, "rss_kib": 0, "processes": 0}
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        mem = parse_smaps_rollup(text)
        total["pss_kib"] += mem["pss_kib"]
        total["rss_kib"] += mem["rss_kib"]
        total["processes"] += 1
    return total


def per_container(idle: dict[str, int], loaded: dict[str, int], count: int) -> dict[str, float]:
    """What each of ``count`` running containers adds: (loaded - idle) / count, in KiB."""
    if count < 1:
        raise ValueError(f"per-container memory needs at least one container, got {count}")
    return {key: round((loaded[key] - idle[key]) / count, 1) for key in ("pss_kib", "rss_kib")}


def _timed(cmd: list[str], env: dict[str, str], what: str) -> tuple[float, float, str]:
    """(seconds, monotonic launch time, stdout) of one command; ToolError if it fails.
    ``time.monotonic()`` is CLOCK_MONOTONIC, the clock of the runtime's phase events."""
    start = time.monotonic()
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise ToolError(f"{what} failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-1500:]}")
    return elapsed, start, proc.stdout


def _wait_for(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ToolError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def measure_memory(c: Contender, count: int, settle: float = 2.0,
                   windows: list[tuple[float, float]] | None = None) -> dict:
    """PSS/RSS of the engine with ``count`` containers running ``sleep 600``
    minus the same with none, per container; the containers are removed after.
    Each start's monotonic (launch, exit) goes into ``windows`` when given.

    ``per_pids`` may already match processes while idle (barque's warm zygote
    has the shims' command line): they count in both totals, and only the
    processes added by the containers count as per-container processes.
    """
    fixed, per = c.fixed_pids, c.per_pids
    idle_per = per()  # type: ignore[operator]
    idle = memory_of([*fixed(), *idle_per])  # type: ignore[operator]
    ids = []
    try:
        for _ in range(count):
            elapsed, launch, out = _timed(c.detached, c.env, f"{c.name} run -d")
            ids.append(out.strip().splitlines()[-1])
            if windows is not None:
                windows.append((launch, launch + elapsed))
        _wait_for(lambda: len(per()) >= len(idle_per) + count, f"{count} {c.name} containers")  # type: ignore[operator]
        time.sleep(settle)  # let start-up allocations settle (freed pages, lazily touched ones)
        samples = []
        for _ in range(3):
            samples.append(memory_of([*fixed(), *per()]))  # type: ignore[operator]
            time.sleep(0.5)
        loaded = sorted(samples, key=lambda s: s["pss_kib"])[1]
        own = memory_of([pid for pid in per() if pid not in idle_per])  # type: ignore[operator]
    finally:
        if ids:
            subprocess.run([*c.remove, *ids], capture_output=True, env={**os.environ, **c.env}, timeout=300)
    _wait_for(lambda: len(per()) <= len(idle_per), f"{c.name} per-container processes to exit")  # type: ignore[operator]
    return {
        "containers": count, "idle": idle, "loaded": loaded,
        "per_container": per_container(idle, loaded, count),
        "per_container_process": {"count": own["processes"],
                                  "avg_pss_kib": round(own["pss_kib"] / max(own["processes"], 1), 1),
                                  "avg_rss_kib": round(own["rss_kib"] / max(own["processes"], 1), 1)},
    }


def _seed(registry_host: str, workdir: Path) -> tuple[str, Path]:
    """Push busybox to the registry and build the same image as an OCI layout (runc's bundle source)."""
    for args in ([registry_host, f"{REPO}:{TAG}"], ["--layout", str(workdir / "layout"), TAG]):
        proc = subprocess.run([str(SEED_SCRIPT), *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise ToolError(f"seed-image.sh {' '.join(args)} failed: {proc.stderr[-1500:]}")
    return f"{registry_host}/{REPO}:{TAG}", workdir / "layout"


def _contenders(engines: list[str], root: Path, ref: str, layout: Path, stack: ExitStack,
                skipped: dict[str, str]) -> tuple[list[Contender], BarqueRuntime | None]:
    out: list[Contender] = []
    barque = None
    for name in engines:
        try:
            if name == "barque":
                barque = BarqueRuntime()
                if barque.available():
                    raise ToolError(barque.available() or "")
                stack.callback(barque.close)
                barque.setup()
                barque.cli_run("pull", ref)
                bq = barque
                out.append(Contender(name, bq.version(), bq.command("run", "--rm", "--network", "none", ref, "true"),
                                     bq.env, bq.command("run", "-d", "--network", "none", ref, "sleep", "600"),
                                     bq.command("rm", "-f"),
                                     lambda bq=bq: [*bq.service_pids().values(), *bq.server_pids()],
                                     bq.shim_pids, bq.command("exec"),
                                     {k: bq.command(*v) for k, v in FIXED_COMMANDS.items()},
                                     {"barque in-process": {"BARQUE_CLI_SERVER": "0"}}, bq.command(),
                                     ["--network", "none"]))
            elif name == "docker":
                d = Docker(root / "docker")
                if d.available():
                    raise ToolError(d.available() or "")
                stack.callback(_close_docker, d)
                d.setup()
                d._docker("pull", "-q", ref, what="docker pull")
                flags = ["--network", "none", "--cgroup-parent", f"/barque/{CGROUP_PARENTS['docker']}"]
                out.append(Contender(name, d.version(), d.command("run", "--rm", *flags, ref, "true"), {},
                                     d.command("run", "-d", *flags, ref, "sleep", "600"), d.command("rm", "-f"),
                                     d.daemon_pids,
                                     lambda d=d: pids_matching("containerd-shim", str(d.exec_root)),
                                     d.command("exec"), {k: d.command(*v) for k, v in FIXED_COMMANDS.items()},
                                     base=d.command(), run_flags=flags))
            elif name == "podman":
                p = Podman(root / "podman")
                if p.available():
                    raise ToolError(p.available() or "")
                stack.callback(_close_podman, p)
                p.setup()
                p._podman("pull", "--quiet", "--tls-verify=false", ref, what="podman pull")
                # podman asks runc for nofile 1048576 and nproc 32768; without CAP_SYS_RESOURCE
                # (dropped on this host) runc may not raise them, so both are set to our hard
                # nofile limit, the value barque's runtime clamps nofile to as well
                limit = hard_nofile()
                flags = ["--network", "none", "--cgroup-parent", f"/barque/{CGROUP_PARENTS['podman']}",
                         "--ulimit", f"nofile={limit}:{limit}", "--ulimit", f"nproc={limit}:{limit}"]
                out.append(Contender(name, p.version(), p.command("run", "--rm", *flags, ref, "true"), p.env,
                                     p.command("run", "-d", *flags, ref, "sleep", "600"),
                                     p.command("rm", "-f", "-t", "0"), lambda: [],
                                     lambda p=p: pids_matching("conmon", str(p.root)), p.command("exec"),
                                     {k: p.command(*v) for k, v in FIXED_COMMANDS.items()},
                                     base=p.command(), run_flags=flags))
            elif name == "runc":
                r = RuncFloor(root / "runc", CGROUP_PARENTS["runc"])
                if r.available():
                    raise ToolError(r.available() or "")
                stack.callback(r.close)
                r.setup(layout, TAG, ["true"])
                out.append(Contender(name, r.version(), r.command("bench-runc"), {}))
        except ToolError as exc:
            skipped[name] = str(exc)
            print(f"skipping {name}: {exc}", flush=True)
    return out, barque


def _close_docker(d: Docker) -> None:
    if d.proc is not None and d.proc.poll() is None:
        ids = subprocess.run(d.command("ps", "-aq"), capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(d.command("rm", "-f", *ids), capture_output=True)
    d.close()


def _close_podman(p: Podman) -> None:
    subprocess.run(p.command("rm", "-af", "-t", "0"), capture_output=True, env={**os.environ, **p.env})
    p.close()


def _fixed_probes(contenders: list[Contender]) -> dict[str, list[Probe]]:
    """Per fixed-cost command, a row per engine and per variant (barque in-process)."""
    out: dict[str, list[Probe]] = {}
    for command in FIXED_COMMANDS:
        for c in contenders:
            if command in c.cli:
                out.setdefault(command, []).append(Probe(c.name, c.cli[command], c.env))
                for label, env in c.variants.items():
                    out[command].append(Probe(label, c.cli[command], {**c.env, **env}))
    return out


def _check_server(barque: BarqueRuntime | None, stage: str, fairness: dict) -> None:
    """After each stage: was every barque call of it served by the same warm command
    server? A server exits when a source file it loaded changes (the tree is being
    edited): the stage is noted, and a successor started for the next stage."""
    if barque is None or barque.server is None:
        return
    note = fairness.setdefault("command_server", {"pid": barque.server.pid, "restarted_during": []})
    if not barque.server.check():
        note["restarted_during"].append(stage)
        barque.server.start(barque.cli, barque.env)


def _run_probe(c: Contender, barque: BarqueRuntime | None, windows: list[tuple[float, float]],
               fairness: dict):
    """The timed ``run`` of one engine as a probe of bench.many.alternate: after each
    barque run the --rm check, and the call's monotonic window for the phases
    (warm-ups included: the phases are per call)."""
    calls = itertools.count()

    def once() -> float:
        call = next(calls)
        cmd = c.run if c.name != "runc" else [*c.run[:-1], f"bench-runc-{call}"]
        elapsed, launch, _ = _timed(cmd, c.env, f"{c.name} run")
        if c.name == "barque" and barque is not None:
            windows.append((launch, launch + elapsed))
            left = barque.leftovers()
            if left:
                fairness["barque_leftovers"].append({"call": call, "left": left})
        return elapsed

    return once


def _round_line(i: int, runs: int, seconds: dict[str, float], keep: set[int]) -> None:
    label = f"round {i:2d}/{runs}" if i > 0 else f"warm-up {i + WARMUP_ROUNDS}"
    print("  ".join([label, *(f"{name} {s:.3f}s" for name, s in seconds.items())] if seconds
                    else [label, "dropped: a call failed"]), flush=True)
    reap_orphans(keep)


def _stage(key: str, title: str, loads: list) -> None:
    """Say which stage starts; note the 1-minute load average as it starts (other
    work on the machine makes figures noisy, and the report shows when)."""
    print(title, flush=True)
    loads.append([key, round(os.getloadavg()[0], 2)])


def _attempt(measure) -> dict:
    """``measure()``, or ``{"error": ...}`` when a command of it failed: one stage's
    failure (a container that would not start) leaves the other figures standing;
    the report shows the error where the figure would be."""
    try:
        return measure()
    except (ToolError, RuntimeError) as exc:
        print(f"  failed: {exc}", flush=True)
        return {"error": str(exc)}


def run_benchmark(runs: int, engines: list[str], containers: int, profile: bool, ps_containers: int = 100,
                  concurrent_rounds: int = 5, only_everyday: bool = False) -> dict:
    result: dict = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                 "loadavg_start": os.getloadavg()},
        "runs": runs, "containers": containers, "ps_containers": ps_containers, "engines": {}, "skipped": {},
        "fairness": {"barque_leftovers": []}, "tree": _tree(),
    }
    fairness = result["fairness"]
    # users' Python caches bytecode; with PYTHONDONTWRITEBYTECODE (set in some shells
    # and sandboxes) every module edited since the last compile is compiled again in
    # each in-process CLI, barque-oci and shim, which is not what users get
    result["host"]["pythondontwritebytecode"] = os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    loads: list[list] = []
    result["host"]["load_by_stage"] = loads
    become_subreaper()
    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="barque-benchrun-"))
        stack.callback(_remove_root, root)
        for parent in CGROUP_PARENTS.values():
            stack.callback(remove_cgroups, parent)
        registry = start_registry(root / "registry")
        stack.callback(registry.stop)
        ref, layout = _seed(registry.host, root)
        result["ref"] = ref
        contenders, barque = _contenders(engines, root, ref, layout, stack, result["skipped"])
        engines_only = [c for c in contenders if c.detached]
        keep = {registry.proc.pid, *(barque.service_pids().values() if barque else ())}
        _check_server(barque, "setup", fairness)
        if only_everyday:
            _everyday_stage(result, engines_only, ref, root, runs, barque, keep, loads)
            result["host"]["loadavg_end"] = os.getloadavg()
            result["targets"] = everyday_targets(result["everyday"])
            return result

        _stage("fixed cost", "fixed cost of a CLI command: ps (no containers), version, images -q", loads)
        result["fixed_cost"] = _attempt(lambda: fixed_cost(_fixed_probes(contenders), runs))
        _check_server(barque, "fixed cost", fairness)

        _stage("run --rm", f"run --rm IMAGE true: {WARMUP_ROUNDS} warm-up rounds, then {runs}, engines alternating",
               loads)
        windows: list[tuple[float, float]] = []
        failed: list[dict] = []
        times = alternate({c.name: _run_probe(c, barque, windows, fairness) for c in contenders}, runs,
                          WARMUP_ROUNDS, failed, progress=lambda i, seconds: _round_line(i, runs, seconds, keep))
        fairness["failed_runs"] = failed
        for c in contenders:
            result["engines"][c.name] = {"version": c.version, "command": " ".join(c.run), "runs_s": times[c.name],
                                         "median_s": median(times[c.name]), **spread(times[c.name])}
        result["ratios"] = ratios({n: e["median_s"] for n, e in result["engines"].items()})
        result["paired_ratios"] = paired_ratios(times)
        _check_server(barque, "run --rm", fairness)

        detached_windows: list[tuple[float, float]] = []
        if barque is not None:
            _stage("breakdown", "breakdown: start-up floors, create/start/wait/rm", loads)
            result["breakdown"] = {
                "log_phases": log_phases(barque.runtime_log(), windows),
                "floors": _attempt(lambda: cli_floors(barque, runs=10)),
                "commands": _attempt(lambda: phase_commands(barque, ref, runs=10)),
            }
            _check_server(barque, "breakdown", fairness)
        result["memory"] = {}
        for c in engines_only:
            _stage(f"memory {c.name}", f"memory: {c.name} with {containers} containers running sleep 600", loads)
            result["memory"][c.name] = _attempt(lambda c=c: measure_memory(
                c, containers, windows=detached_windows if c.name == "barque" else None))
            reap_orphans(keep)
        if barque is not None:
            result["breakdown"]["detached_phases"] = log_phases(barque.runtime_log(), detached_windows)
        _check_server(barque, "memory", fairness)

        _stage("exec", "exec C true into a running container, engines alternating", loads)
        result["exec"] = _attempt(lambda: exec_latency([c for c in engines_only if c.exec], runs=runs))
        _check_server(barque, "exec", fairness)
        _stage("concurrent start", f"concurrent start: {containers} clients at once, engines alternating", loads)
        result["concurrent_start"] = _attempt(lambda: concurrent_start(engines_only, containers,
                                                                       rounds=concurrent_rounds))
        reap_orphans(keep)
        _check_server(barque, "concurrent start", fairness)
        _stage("ps loaded", f"ps with {ps_containers} running containers per engine, engines alternating", loads)
        result["ps_loaded"] = _attempt(lambda: ps_loaded(engines_only, {c.name: c.cli["ps"] for c in engines_only},
                                                         ps_containers, runs=runs))
        reap_orphans(keep)
        _check_server(barque, "ps loaded", fairness)
        _everyday_stage(result, engines_only, ref, root, runs, barque, keep, loads)

        if barque is not None:
            _stage("importtime", "-X importtime of the CLI", loads)
            result["cli_importtime"] = importtime_top(barque, ref)
            if profile:
                _stage("profile", "profiling: py-spy on the runtime service and on the in-process CLI", loads)
                result["profile"] = {
                    "runtime": profile_runtime(barque, ref, root, runs=10),
                    "cli": profile_cli(barque, ref, root, runs=10),
                }
            _check_server(barque, "profile", fairness)
        result["host"]["loadavg_end"] = os.getloadavg()
        result["targets"] = targets(result) + everyday_targets(result["everyday"])
        reap_orphans(keep)
    reap_orphans(set())
    return result


def _everyday_stage(result: dict, engines_only: list[Contender], ref: str, root: Path, runs: int,
                    barque: BarqueRuntime | None, keep: set[int], loads: list) -> None:
    """Issue 14's figures: stats, ps with 50, cp both ways, commit (bench/everyday.py)."""
    result["everyday"] = everyday(engines_only, ref, root, runs, lambda key, title: _stage(key, title, loads),
                                  _attempt)
    reap_orphans(keep)
    _check_server(barque, "everyday", result["fairness"])


def _tree() -> dict:
    """The commit measured and the uncommitted changes under services/ and cli/ (the
    benchmark runs the working tree, which others may be editing)."""
    repo = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=repo).stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "uncommitted": git("status", "--short", "--", "services", "cli").splitlines()}


def _remove_root(root: Path) -> None:
    left = umount_under(root)
    if left:
        print(f"unmounted leftovers under {root}: {left}", file=sys.stderr)
    shutil.rmtree(root, ignore_errors=True)
    if mounts_under(root):
        print(f"warning: mounts remain under {root}: {mounts_under(root)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per engine (default 20)")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}")
    parser.add_argument("--containers", type=int, default=20,
                        help="running containers for the memory figure, and concurrent starts (default 20)")
    parser.add_argument("--ps-containers", type=int, default=100,
                        help="running containers per engine while ps is timed (default 100)")
    parser.add_argument("--concurrent-rounds", type=int, default=5, help="rounds of concurrent starts (default 5)")
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy (-X importtime is always measured)")
    parser.add_argument("--only-everyday", action="store_true",
                        help="only the everyday commands of issue 14 (stats, ps with 50, cp, commit)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown or min(args.runs, args.containers, args.ps_containers, args.concurrent_rounds) < 1:
        parser.error(f"unknown engines {unknown}" if unknown else
                     "--runs, --containers, --ps-containers and --concurrent-rounds must be at least 1")
    if os.geteuid() != 0:
        print("bench-run needs root (dockerd, podman, runc and barque's runtime create namespaces)", file=sys.stderr)
        return 2
    try:
        result = run_benchmark(args.runs, engines, args.containers, not args.no_profile, args.ps_containers,
                               args.concurrent_rounds, args.only_everyday)
    except (ToolError, RuntimeError) as exc:
        print(f"bench-run failed: {exc}", file=sys.stderr)
        return 1
    print_report(result)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"run-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
