"""``make bench-build``: how fast ``barque build`` is beside docker 20.10's
legacy builder, its embedded BuildKit and podman 4.3, in one run: issue 15's
figures.

Run from the repository root as root: ``python -m bench.build [--runs N]``.

1. a fresh Debian ``docker-registry`` on 127.0.0.1 gets the bases: busybox
   (umoci-built, ``tests/support/images.py``) and Debian bookworm with gcc
   (``tests/support/baseimages.py``, cached in /var/cache/barque-test); every
   engine pulls both, untimed (bench/build_engines.py says how each is set up);
2. two Dockerfiles (:data:`MULTI_STAGE`, :data:`TEN_STEP`), each engine with
   its own copy of each context, built with ``--network none`` as a whole
   ``build`` process, three cases in rounds that alternate the engines:
   * **cold**: before each build, untimed, the engine's results and build
     cache are emptied, its bases kept (:meth:`empty` of each builder);
   * **cached**: the same context built again, nothing changed;
   * **changed**: one COPY'd file rewritten with new content (untimed), then
     built: ``hello.c`` for the multi-stage build (so the compile runs again),
     one of the ten-step build's fifty files (so its COPY and every step after
     it run again);
3. prints the medians, the paired ratios of barque against each engine, the
   targets (cached rebuilds no slower than BuildKit, cold builds no slower
   than docker's, the ten-step cached rebuild under a second) and writes
   bench/results/build-<YYYYmmdd-HHMMSS>.json.

Each build's output is searched for the cache hits it reports; a cold build
that took a step from a cache, or a cached one that ran a step, is listed
under ``fairness``. Everything started is stopped by PID, mounts under the
temp dir unmounted and the ``barque/bench-build-*`` cgroups removed, also on
failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from bench.build_engines import CGROUP_PARENTS, ENGINES, cache_hits, make_builder
from bench.build_steps import breakdown
from bench.many import alternate, summary
from bench.run import _check_server, _remove_root, _tree
from bench.tools import ToolError, become_subreaper, reap_orphans, remove_cgroups
from tests.support import host
from tests.support.baseimages import push_debian_gcc
from tests.support.buildcorpus import MULTI_STAGE  # the peers' multi-stage build
from tests.support.images import busybox_layout, skopeo_push
from tests.support.registry import start_registry

__all__ = ["MULTI_STAGE", "TEN_STEP", "HELLO_C", "DOCKERFILES", "CASES", "context_files", "changed_file",
           "case_summary", "targets", "fairness_notes", "print_report", "run_benchmark", "main", "parse_args",
           "NewCgroups"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"

HELLO_C = """\
#include <stdio.h>
int main(void) {{ printf("hello from C{suffix}\\n"); return 0; }}
"""

#: ten instructions after FROM on busybox: metadata, a directory of fifty files, cheap RUNs
TEN_STEP = """\
FROM {busybox}
ENV APP_HOME=/app MODE=bench
LABEL org.example.bench="build" org.example.case="ten-step"
WORKDIR /app
COPY config.txt /app/
COPY files/ /app/files/
RUN sha256sum /app/files/* > /app/sums.txt
RUN cp /app/config.txt /app/config.bak && echo "$MODE" > /app/mode
EXPOSE 8080
RUN echo built > /app/stamp && wc -l /app/sums.txt
CMD ["cat", "/app/stamp"]
"""

TEN_FILES = 50
#: the ten-step file rewritten by the "changed" case
TEN_CHANGED = "files/file-07.txt"

#: Dockerfile name -> (text, steps after FROM, the file the "changed" case rewrites)
DOCKERFILES = {"multi-stage": (MULTI_STAGE, 5, "hello.c"), "ten-step": (TEN_STEP, 10, TEN_CHANGED)}
CASES = ("cold", "cached", "changed")
#: untimed rounds before the timed ones, per case
WARMUP = {"cold": 1, "cached": 1, "changed": 1}


def _file_text(name: str, version: int) -> str:
    """A context file's deterministic content; ``version`` > 0 is the changed case's rewrite."""
    if name == "hello.c":
        return HELLO_C.format(suffix=f", change {version}" if version else "")
    if name == "config.txt":
        return "mode=bench\nlevel=3\n"
    line = f"{name} line {{i}} version {version}\n"
    return "".join(line.format(i=i) for i in range(24))


def context_files(dockerfile: str, bases: dict[str, str]) -> dict[str, str]:
    """Every file of ``dockerfile``'s context, by relative path, ``Dockerfile`` included."""
    text, _, _ = DOCKERFILES[dockerfile]
    files = {"Dockerfile": text.format(**bases)}
    if dockerfile == "multi-stage":
        files["hello.c"] = _file_text("hello.c", 0)
    else:
        files["config.txt"] = _file_text("config.txt", 0)
        for i in range(TEN_FILES):
            files[f"files/file-{i:02d}.txt"] = _file_text(f"files/file-{i:02d}.txt", 0)
    return files


def changed_file(dockerfile: str, version: int) -> tuple[str, str]:
    """(path, new content) the changed case writes before its ``version``-th build (from 1)."""
    if version < 1:
        raise ValueError(f"a changed file's version starts at 1, got {version}")
    name = DOCKERFILES[dockerfile][2]
    return name, _file_text(name, version)


def write_context(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _timed(cmd: list[str], env: dict[str, str], what: str, timeout: float = 900) -> tuple[float, str]:
    """(seconds, stdout + stderr) of one whole command; ToolError (a RuntimeError) when it fails."""
    start = time.monotonic()
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise ToolError(f"{what} failed ({proc.returncode}): {' '.join(cmd)}\n{(proc.stderr + proc.stdout)[-1500:]}")
    return elapsed, proc.stdout + proc.stderr


def _probe(builder, dockerfile: str, case: str, context: Path, hits: list[int],
           versions: itertools.count) -> Callable[[], float]:
    """One engine's timed build of one case, its untimed preparation first."""
    tag = f"bench/{dockerfile}:latest"

    def once() -> float:
        if case == "cold":
            builder.empty()
        elif case == "changed":
            name, text = changed_file(dockerfile, next(versions))
            (context / name).write_text(text)
        elapsed, output = _timed(builder.build_command(context, tag), builder.env, f"{builder.name} build")
        hits.append(cache_hits(builder.name, output))
        return elapsed

    return once


def case_summary(times: dict[str, list[float]], hits: dict[str, list[int]], failed: list[dict],
                 warmup: int) -> dict:
    """bench.many's summary (medians, spread, ratios, paired ratios) with each
    engine's reported cache hits per build, warm-ups first."""
    out = summary(times, failed=failed)
    out["warmup"] = warmup
    for name, values in hits.items():
        out["engines"][name]["cache_hits"] = values
    return out


def fairness_notes(cases: dict[str, dict]) -> list[str]:
    """Builds that did not do what their case means: a timed cold build that took
    a step from a cache, a cached rebuild that reported no cache hit at all."""
    notes = []
    for key, case in cases.items():
        kind = key.rsplit(" ", 1)[-1]
        for name, engine in case.get("engines", {}).items():
            timed = engine.get("cache_hits", [])[case.get("warmup", 0):]
            if kind == "cold" and any(timed):
                notes.append(f"{key}: {name} reported cache hits in a cold build: {timed}")
            if kind == "cached" and timed and not all(timed):
                notes.append(f"{key}: {name} reported no cache hit in a cached rebuild: {timed}")
    return notes


def _target(name: str, value: float | None, limit: float, unit: str = "") -> dict:
    status = "n/a" if value is None else ("met" if value <= limit else "missed")
    return {"target": name, "value": value, "limit": limit, "unit": unit, "status": status}


def targets(cases: dict[str, dict]) -> list[dict]:
    """Issue 15's targets, judged on the paired ratios: each cached rebuild no
    slower than BuildKit's, each cold build no slower than docker's (legacy
    builder and BuildKit alike), and barque's ten-step cached rebuild under 1 s."""
    out = []

    def paired(key: str, other: str) -> float | None:
        return cases.get(key, {}).get("paired_ratios", {}).get(f"barque/{other}")

    for dockerfile in DOCKERFILES:
        out.append(_target(f"{dockerfile} cached rebuild: barque/docker-buildkit <= 1",
                           paired(f"{dockerfile} cached", "docker-buildkit"), 1.0, "x"))
        for other in ("docker-legacy", "docker-buildkit"):
            out.append(_target(f"{dockerfile} cold build: barque/{other} <= 1", paired(f"{dockerfile} cold", other),
                               1.0, "x"))
    cached = cases.get("ten-step cached", {}).get("engines", {}).get("barque", {}).get("median_s")
    out.append(_target("ten-step cached rebuild: barque under 1 s", cached, 1.0, "s"))
    return out


def _fmt(value: float | None, unit: str = "s") -> str:
    return "-" if value is None else f"{value:.3f}{unit}" if unit == "s" else f"{value:.2f}{unit}"


def print_report(result: dict) -> None:
    engines = [e for e in ENGINES if e in result["engines"]]
    others = [e for e in engines if e != "barque"]
    print(f"\nbench-build: {result['runs']} timed rounds per case; medians of whole build commands")
    for name in engines:
        print(f"  {name:16s} {result['engines'][name]['version']}")
    header = f"{'case':22s}" + "".join(f"{e:>17s}" for e in engines) + "".join(f"{'barque/' + e:>24s}"
                                                                              for e in others)
    print("\n" + header)
    for key, case in result["cases"].items():
        if "error" in case:
            print(f"{key:22s} failed: {case['error'][:200]}")
            continue
        row = f"{key:22s}" + "".join(f"{_fmt(case['engines'].get(e, {}).get('median_s')):>17s}" for e in engines)
        row += "".join(f"{_fmt(case['paired_ratios'].get('barque/' + e), 'x'):>24s}" for e in others)
        print(row)
    print("  (ratios: paired, the median of the per-round ratios)")
    cached = result["cases"].get("ten-step cached", {}).get("engines", {}).get("barque", {}).get("median_s")
    print(f"\nbarque's cached rebuild of the ten-step Dockerfile: {_fmt(cached)}")
    print("\ntargets:")
    for t in result["targets"]:
        print(f"  {t['status']:7s} {t['target']}: {_fmt(t['value'], t['unit'])}")
    if result["fairness"]:
        print("\nfairness:")
        for note in result["fairness"]:
            print(f"  {note}")
    for dockerfile, per in result.get("breakdown", {}).items():
        print(f"\nbreakdown of {dockerfile} (one extra build each, seconds per step):")
        for name, cases in per.items():
            for case, got in cases.items():
                steps = "; ".join(f"{step[:28]} {sec:.2f}" for step, sec in got.get("steps", []) if sec >= 0.02)
                print(f"  {name:16s} {case:8s} {got.get('total_s', 0):.2f}s: {steps or got.get('error', '')[:120]}")
    restarted = result.get("command_server", {}).get("restarted_during")
    if restarted:
        print(f"\nbarque's command server restarted (a source file changed) during: {', '.join(restarted)}")
    if result["tree"]["uncommitted"]:
        print(f"\nuncommitted changes measured: {', '.join(result['tree']['uncommitted'])}")
    if result["skipped"]:
        print("\nskipped: " + "; ".join(f"{k}: {v}" for k, v in result["skipped"].items()))
    print(f"\nload average: start {result['host']['loadavg_start'][0]:.2f}, end {result['host']['loadavg_end'][0]:.2f}")


#: where dockerd (cgroupfs driver) puts BuildKit's RUN containers, which take no --cgroup-parent
BUILDKIT_CGROUPS = ("docker/buildkit", "docker")


class NewCgroups:
    """Cgroups outside barque/ that a run's daemons create: :meth:`note` which of
    ``rels`` exist in no hierarchy yet; :meth:`remove` removes, in every
    hierarchy, the noted ones that are empty now (another daemon's dir with a
    process or a child in it cannot be removed, so it stays)."""

    def __init__(self, *rels: str, base: Path = host.CGROUP_ROOT) -> None:
        self.rels, self.base = rels, base
        self.absent: list[str] = []

    def note(self) -> None:
        self.absent = [rel for rel in self.rels if not host.cgroup_paths(rel, self.base)]

    def remove(self) -> list[str]:
        left = []
        for rel in self.absent:  # children before parents: the order of ``rels``
            for path in host.cgroup_paths(rel, self.base):
                try:
                    path.rmdir()
                except OSError:
                    left.append(str(path))
        self.absent = []
        return left


def _bases(root: Path) -> tuple[dict[str, str], object]:
    """A registry with busybox and Debian's gcc image pushed: (refs by Dockerfile field, registry)."""
    registry = start_registry(root / "registry")
    try:
        layout = busybox_layout(root / "images")
        busybox = skopeo_push(f"oci:{layout}:latest", registry, "bench/busybox:latest", format="v2s2")
        debian = push_debian_gcc(registry)
    except BaseException:
        registry.stop()
        raise
    return {"busybox": busybox.ref, "debian": debian.ref}, registry


def _builders(engines: list[str], root: Path, refs: dict[str, str], stack: ExitStack, skipped: dict[str, str]):
    out = []
    for name in engines:
        try:
            builder = make_builder(name, root)
            stack.callback(builder.close)
            builder.setup()
            for ref in refs.values():
                builder.pull(ref)
            builder.keep_bases()
            out.append(builder)
        except ToolError as exc:
            skipped[name] = str(exc)
            print(f"skipping {name}: {exc}", flush=True)
    return out


def run_benchmark(runs: int, engines: list[str], dockerfiles: list[str]) -> dict:
    result: dict = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                 "loadavg_start": os.getloadavg()},
        "runs": runs, "warmup": WARMUP, "network": "none", "engines": {}, "skipped": {}, "cases": {},
        "tree": _tree(),
    }
    # as bench-run: users' Python caches bytecode, so nothing is recompiled per call
    result["host"]["pythondontwritebytecode"] = os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    become_subreaper()
    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="barque-benchbuild-"))
        stack.callback(_remove_root, root)
        for parent in CGROUP_PARENTS.values():
            stack.callback(remove_cgroups, parent)
        buildkit_cgroups = NewCgroups(*BUILDKIT_CGROUPS)
        buildkit_cgroups.note()
        stack.callback(buildkit_cgroups.remove)
        refs, registry = _bases(root)
        stack.callback(registry.stop)  # type: ignore[attr-defined]
        result["bases"] = refs
        builders = _builders(engines, root, refs, stack, result["skipped"])
        for b in builders:
            result["engines"][b.name] = {"version": b.version(),
                                         "command": " ".join(b.build_command(Path("CONTEXT"), "TAG"))}
        keep = {registry.proc.pid}  # type: ignore[attr-defined]
        barque = next((b for b in builders if b.name == "barque"), None)
        for dockerfile in dockerfiles:
            contexts = {b.name: write_context(root / "contexts" / b.name / dockerfile, context_files(dockerfile, refs))
                        for b in builders}
            versions = {b.name: itertools.count(1) for b in builders}
            for case in CASES:
                key = f"{dockerfile} {case}"
                print(f"{key}: {WARMUP[case]} warm-up round(s), then {runs}, engines alternating", flush=True)
                hits: dict[str, list[int]] = {b.name: [] for b in builders}
                failed: list[dict] = []
                probes = {b.name: _probe(b, dockerfile, case, contexts[b.name], hits[b.name], versions[b.name])
                          for b in builders}
                try:
                    times = alternate(probes, runs, WARMUP[case], failed, progress=_progress(runs, keep))
                    result["cases"][key] = case_summary(times, hits, failed, WARMUP[case])
                except (ToolError, RuntimeError) as exc:
                    print(f"  failed: {exc}", flush=True)
                    result["cases"][key] = {"error": str(exc), "failed_calls": failed}
                # was every barque build of the case served by the same warm command server?
                _check_server(barque, key, result)
            print(f"{dockerfile} breakdown: one more cold and changed build per engine, per step", flush=True)
            result.setdefault("breakdown", {})[dockerfile] = breakdown(builders, dockerfile, contexts, versions,
                                                                       changed_file)
            _check_server(barque, f"{dockerfile} breakdown", result)
        result["host"]["loadavg_end"] = os.getloadavg()
    reap_orphans(set())
    result["fairness"] = fairness_notes(result["cases"])
    result["targets"] = targets(result["cases"])
    return result


def _progress(runs: int, keep: set[int]) -> Callable[[int, dict[str, float]], None]:
    def show(i: int, seconds: dict[str, float]) -> None:
        label = f"  round {i:2d}/{runs}" if i > 0 else "  warm-up"
        print("  ".join([label, *(f"{n} {s:.3f}s" for n, s in seconds.items())] if seconds
                        else [label, "dropped: a build failed"]), flush=True)
        reap_orphans(keep)
    return show


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed rounds per case (default 3)")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}")
    parser.add_argument("--dockerfiles", default=",".join(DOCKERFILES),
                        help=f"comma-separated subset of {','.join(DOCKERFILES)}")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    args.engines = [e for e in args.engines.split(",") if e]
    args.dockerfiles = [d for d in args.dockerfiles.split(",") if d]
    unknown = sorted(set(args.engines) - set(ENGINES)) + sorted(set(args.dockerfiles) - set(DOCKERFILES))
    if unknown:
        parser.error(f"unknown engines or Dockerfiles: {', '.join(unknown)}")
    if not args.engines or not args.dockerfiles:
        parser.error("--engines and --dockerfiles need at least one name each")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench-build needs root (dockerd, podman and barque's runtime create namespaces)", file=sys.stderr)
        return 2
    try:
        result = run_benchmark(args.runs, args.engines, args.dockerfiles)
    except (ToolError, RuntimeError) as exc:
        print(f"bench-build failed: {exc}", file=sys.stderr)
        return 1
    print_report(result)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"build-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
