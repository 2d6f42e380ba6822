"""``make bench-run``: how fast barque starts a container and how much memory
each running container adds, beside docker 20.10, podman 4.3 and bare runc.

Run from the repository root as root: ``python -m bench.run [--runs N]``.

1. a fresh Debian ``docker-registry`` on 127.0.0.1 gets the busybox image of
   ``deploy/seed-image.sh``; barque (all three services, empty state), a
   private dockerd and podman (private roots) each pull it once, untimed; the
   same image unpacked by umoci is runc's ready bundle;
2. two untimed warm-up rounds, then ``--runs`` timed rounds, engines
   alternating run by run: ``barque run --rm IMAGE true``, ``docker run --rm
   --network none IMAGE true``, ``podman run --rm --network none IMAGE true``,
   ``runc run``. After each barque run the bench checks that nothing of the
   container is left (record, rootfs mount, shim): ``--rm`` may not be
   deferred past the command's exit;
3. the breakdown: the CLI alone, interpreter and barque-oci start-up floors,
   ``create``/``start``/``wait``/``rm`` timed separately, and the phases of
   every timed run from the runtime's log (bench/runprofile.py);
4. memory: PSS (``/proc/<pid>/smaps_rollup``) of every engine process with
   ``--containers`` containers running ``sleep 600`` minus the same with none,
   per container; RSS beside it;
5. py-spy on the runtime service (and its shims and barque-oci children) and
   on the CLI, and ``-X importtime`` of the CLI: the hotspots;
6. prints the tables and writes bench/results/run-<YYYYmmdd-HHMMSS>.json.

Everything started is stopped by PID, containers removed with each engine's
``rm -f``, mounts under the temp dir unmounted and the ``barque/bench-*``
cgroups removed, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
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
from bench.many import concurrent_start, exec_latency
from bench.runprofile import (cli_floors, importtime_top, log_phases, median, parse_smaps_rollup, phase_commands,
                              profile_cli, profile_runtime, ratios, spread)
from bench.tools import (Docker, Podman, RuncFloor, ToolError, become_subreaper, hard_nofile, mounts_under,
                         pids_matching, reap_orphans, remove_cgroups, umount_under)
from tests.support.registry import start_registry

__all__ = ["main", "run_benchmark", "memory_of", "per_container"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SEED_SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "seed-image.sh"
REPO, TAG = "bench/busybox", "latest"
ENGINES = ("barque", "docker", "podman", "runc")
#: the issue's targets: at or below podman's median, at most 3 MiB per running container
TARGET_PER_CONTAINER_KIB = 3 * 1024
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
    """(seconds, wall-clock launch time, stdout) of one command; ToolError if it fails."""
    wall = time.time()
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise ToolError(f"{what} failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-1500:]}")
    return elapsed, wall, proc.stdout


def _wait_for(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ToolError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def measure_memory(c: Contender, count: int, settle: float = 2.0) -> dict:
    """PSS/RSS of the engine with ``count`` containers running ``sleep 600``
    minus the same with none, per container; the containers are removed after.

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
            ids.append(_timed(c.detached, c.env, f"{c.name} run -d")[2].strip().splitlines()[-1])
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
                out.append(Contender(name, bq.version(), bq.command("run", "--rm", ref, "true"), bq.env,
                                     bq.command("run", "-d", ref, "sleep", "600"), bq.command("rm", "-f"),
                                     lambda bq=bq: list(bq.service_pids().values()), bq.shim_pids,
                                     bq.command("exec")))
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
                                     d.command("exec")))
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
                                     lambda p=p: pids_matching("conmon", str(p.root)), p.command("exec")))
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


def run_benchmark(runs: int, engines: list[str], containers: int, profile: bool) -> dict:
    result: dict = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                 "loadavg_start": os.getloadavg()},
        "runs": runs, "engines": {}, "skipped": {}, "fairness": {"barque_leftovers": []}, "tree": _tree(),
    }
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
        keep = {registry.proc.pid, *(barque.service_pids().values() if barque else ())}
        times: dict[str, list[float]] = {c.name: [] for c in contenders}
        windows: list[tuple[float, float]] = []
        for i in range(WARMUP_ROUNDS + runs):
            line = [f"round {i + 1 - WARMUP_ROUNDS:2d}/{runs}" if i >= WARMUP_ROUNDS else f"warm-up {i + 1}"]
            for c in contenders:
                cmd = c.run if c.name != "runc" else [*c.run[:-1], f"bench-runc-{i}"]
                elapsed, wall, _ = _timed(cmd, c.env, f"{c.name} run")
                if c.name == "barque" and barque is not None:
                    left = barque.leftovers()
                    if left:
                        result["fairness"]["barque_leftovers"].append({"round": i, "left": left})
                if i >= WARMUP_ROUNDS:
                    times[c.name].append(round(elapsed, 4))
                    if c.name == "barque":
                        windows.append((wall, wall + elapsed))
                line.append(f"{c.name} {elapsed:.3f}s")
            print("  ".join(line), flush=True)
            reap_orphans(keep)
        for c in contenders:
            result["engines"][c.name] = {"version": c.version, "command": " ".join(c.run), "runs_s": times[c.name],
                                         "median_s": median(times[c.name]), **spread(times[c.name])}
        result["ratios"] = ratios({n: e["median_s"] for n, e in result["engines"].items()})
        if barque is not None:
            print("breakdown: the CLI alone, start-up floors, create/start/wait/rm", flush=True)
            result["breakdown"] = {
                "log_phases": log_phases(barque.runtime_log(), windows),
                "floors": cli_floors(barque, runs=10),
                "commands": phase_commands(barque, ref, runs=10),
            }
        result["memory"] = {}
        for c in contenders:
            if c.detached:
                print(f"memory: {c.name} with {containers} containers running sleep 600", flush=True)
                result["memory"][c.name] = measure_memory(c, containers)
                reap_orphans(keep)
        result["exec"], result["concurrent_start"] = {}, {}
        for c in contenders:
            if c.exec:
                print(f"exec latency: {c.name}", flush=True)
                try:
                    result["exec"][c.name] = exec_latency(c, runs=runs)
                except RuntimeError as exc:
                    result["exec"][c.name] = {"error": str(exc)}
            if c.detached:
                print(f"concurrent start: {c.name}, {containers} clients at once", flush=True)
                result["concurrent_start"][c.name] = concurrent_start(c, containers)
                reap_orphans(keep)
        result["exec_ratios"] = ratios({n: e["median_s"] for n, e in result["exec"].items() if "median_s" in e})
        result["concurrent_ratios"] = ratios({n: e["median_s"] for n, e in result["concurrent_start"].items()})
        if barque is not None and profile:
            print("profiling: py-spy on the runtime service and the CLI, -X importtime", flush=True)
            result["profile"] = {
                "runtime": profile_runtime(barque, ref, root, runs=10),
                "cli": profile_cli(barque, ref, root, runs=10),
                "cli_importtime": importtime_top(barque, ref),
            }
        result["host"]["loadavg_end"] = os.getloadavg()
        reap_orphans(keep)
    reap_orphans(set())
    return result


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


def _print_report(result: dict) -> None:
    from bench.runprofile import print_breakdown, print_profile

    tree = result["tree"]
    print(f"\nbarque tree {tree['commit']}" + (f" + {len(tree['uncommitted'])} uncommitted files under services/, cli/"
                                              if tree["uncommitted"] else ""))
    print(f"image {result['ref']}; {result['runs']} timed runs per engine, alternating; "
          f"{result['host']['cpus']} cpus, load {result['host']['loadavg_start'][0]:.2f} -> "
          f"{result['host']['loadavg_end'][0]:.2f}")
    print(f"{'engine':8s} {'version':26s} {'median':>8s} {'p10':>7s} {'p90':>7s} {'min':>7s} {'max':>7s}")
    for name, e in result["engines"].items():
        print(f"{name:8s} {e['version'][:26]:26s} {e['median_s']:7.3f}s {e['p10_s']:6.3f}s {e['p90_s']:6.3f}s "
              f"{e['min_s']:6.3f}s {e['max_s']:6.3f}s")
    for key, value in result["ratios"].items():
        print(f"{key:14s} {value:.2f}x")
    podman = result["engines"].get("podman", {}).get("median_s")
    barque = result["engines"].get("barque", {}).get("median_s")
    if podman and barque:
        print(f"target (at or below podman's median): {'met' if barque <= podman else 'missed'}")
    leftovers = result["fairness"]["barque_leftovers"]
    print(f"--rm fairness check: {'container fully removed before every exit' if not leftovers else leftovers}")
    if result["memory"]:
        print(f"\nmemory per running container ({next(iter(result['memory'].values()))['containers']} x sleep 600)")
        print(f"{'engine':8s} {'PSS/ctr':>9s} {'RSS/ctr':>9s} {'idle PSS':>9s} {'loaded PSS':>11s} {'procs/ctr':>9s} "
              f"{'avg PSS of one':>15s}")
        for name, m in result["memory"].items():
            own = m["per_container_process"]
            print(f"{name:8s} {m['per_container']['pss_kib'] / 1024:7.2f}Mi {m['per_container']['rss_kib'] / 1024:7.2f}Mi "
                  f"{m['idle']['pss_kib'] / 1024:7.1f}Mi {m['loaded']['pss_kib'] / 1024:9.1f}Mi "
                  f"{own['count'] / m['containers']:9.1f} {own['avg_pss_kib'] / 1024:13.2f}Mi")
        bq = result["memory"].get("barque")
        if bq:
            ok = "met" if bq["per_container"]["pss_kib"] <= TARGET_PER_CONTAINER_KIB else "missed"
            print(f"target (at most 3 MiB PSS per container): {ok}")
    if "breakdown" in result:
        print_breakdown(result["breakdown"])
    if "profile" in result:
        print_profile(result["profile"])
    for name, why in result["skipped"].items():
        print(f"skipped {name}: {why}")


def _print_many(result: dict) -> None:
    if result.get("exec"):
        print("\nexec latency into a running container (median)")
        for name, e in result["exec"].items():
            print(f"  {name:<8} {e.get('median_s', e.get('error'))}")
        for pair, value in result.get("exec_ratios", {}).items():
            print(f"  {pair}  {value:.2f}x")
    if result.get("concurrent_start"):
        print("start of 20 containers by 20 concurrent clients (median wall time)")
        for name, e in result["concurrent_start"].items():
            print(f"  {name:<8} {e['median_s']}s  rounds {e['rounds_s']}")
        for pair, value in result.get("concurrent_ratios", {}).items():
            print(f"  {pair}  {value:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per engine (default 20)")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}")
    parser.add_argument("--containers", type=int, default=20, help="running containers for the memory figure")
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy and -X importtime")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown or args.runs < 1 or args.containers < 1:
        parser.error(f"unknown engines {unknown}" if unknown else "--runs and --containers must be at least 1")
    if os.geteuid() != 0:
        print("bench-run needs root (dockerd, podman, runc and barque's runtime create namespaces)", file=sys.stderr)
        return 2
    try:
        result = run_benchmark(args.runs, engines, args.containers, not args.no_profile)
    except ToolError as exc:
        print(f"bench-run failed: {exc}", file=sys.stderr)
        return 1
    _print_report(result)
    _print_many(result)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"run-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
