"""``make bench-pull``: a cold pull + unpack of a 4-layer ~175 MB Debian image
from a local registry, barque side by side with skopeo, docker and podman.

Run from the repository root as ``python -m bench.pull [--runs N]`` (root:
docker, podman and barque's unpack need it). One run:

1. builds (once, cached in /var/cache/barque-bench) and pushes the image to a
   fresh Debian ``docker-registry`` on 127.0.0.1;
2. per iteration, for every tool: an untimed reset (fresh engine state for
   barque, ``rmi`` + ``image prune`` for docker and podman, an empty dir for
   skopeo), then the timed pull; barque also re-pulls the kept image;
3. one extra barque cold pull with py-spy attached to both services and the
   services' log timeline, then one pull into a cold image-store from a warm
   registry-proxy (no registry download), through the client library;
4. prints medians, ratios and hotspots; writes bench/results/pull-<time>.json.

Everything it starts (registry, dockerd, services, py-spy) is stopped by PID
and every temp dir unmounted and removed, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from bench.barque import Barque
from bench.images import ensure_image, push_bench_image
from bench.profile import Profile, SpyRecorder, py_spy, summarise, warm_proxy_pull
from bench.tools import Docker, Podman, Skopeo, ToolError, mounts_under, umount_under
from tests.support.registry import start_registry

__all__ = ["main", "run_benchmark"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TOOLS = ("barque", "skopeo", "docker", "podman")
REPO, TAG = "bench/debian", "bookworm-4layer"
#: the issue's target for re-pulling an image barque already keeps
REPULL_TARGET_S = 0.3


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _make_runner(name: str, root: Path) -> Barque | Skopeo | Docker | Podman:
    """The runner for ``name``; all but barque keep their state under ``root/<name>``."""
    if name == "barque":
        return Barque()
    if name == "skopeo":
        return Skopeo(root / name)
    return Docker(root / name) if name == "docker" else Podman(root / name)


def _profile_barque(ref: str, workdir: Path) -> dict:
    """One extra cold pull with py-spy on both services; its timeline and profiles."""
    barque = Barque()
    try:
        barque.reset()
        spy_bin = py_spy()
        spies: dict[str, SpyRecorder] = {}
        if spy_bin:
            spies = {svc: SpyRecorder(spy_bin, pid, workdir / f"py-spy-{svc}.txt") for svc, pid in barque.pids().items()}
        start = time.monotonic()
        try:
            barque.pull(ref)
        finally:
            raws = {svc: spy.stop() for svc, spy in spies.items()}
        elapsed = time.monotonic() - start
        profiles = [summarise(svc, raw) for svc, raw in raws.items()]
        return {
            "profiled_pull_s": round(elapsed, 3),
            "py_spy": bool(spy_bin),
            "timeline": [e.__dict__ for e in barque.timeline()],
            "profiles": [p.__dict__ for p in profiles],
        }
    finally:
        barque.close()


def run_benchmark(runs: int, tools: list[str], profile: bool) -> dict:
    image = ensure_image()
    result: dict = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()},
        "image": {"recipe": image.info["recipe"], "compressed_bytes": image.compressed_size, "entries": image.files,
                  "layers": image.info["layers"]},
        "runs": runs, "tools": {}, "skipped": {},
    }
    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="barque-bench-"))
        stack.callback(_remove_root, root)
        registry = start_registry(root / "registry")
        stack.callback(registry.stop)
        ref = push_bench_image(image, registry, REPO, TAG)
        result["ref"] = ref
        runners = []
        for name in tools:
            runner = _make_runner(name, root)
            missing = runner.available()
            if missing:
                result["skipped"][name] = missing
                print(f"skipping {name}: {missing}", flush=True)
                continue
            stack.callback(runner.close)
            try:
                runner.setup()
            except ToolError as exc:
                result["skipped"][name] = str(exc)
                print(f"skipping {name}: {exc}", flush=True)
                continue
            runners.append(runner)
            result["tools"][name] = {"version": runner.version(), "cold_s": []}
        barque_repull: list[float] = []
        for i in range(runs):
            # tools interleaved per iteration, so drift (page cache, other load) hits all alike
            for runner in runners:
                runner.reset()
                start = time.monotonic()
                runner.pull(ref)
                elapsed = time.monotonic() - start
                result["tools"][runner.name]["cold_s"].append(round(elapsed, 3))
                line = f"run {i + 1}/{runs} {runner.name:7s} cold {elapsed:6.2f} s"
                if isinstance(runner, Barque):
                    layers = runner.snapshot_count()
                    if layers != len(image.info["layers"]):
                        raise ToolError(f"barque pull left {layers} snapshots, want {len(image.info['layers'])}")
                    start = time.monotonic()
                    runner.pull(ref)
                    barque_repull.append(round(time.monotonic() - start, 3))
                    line += f"   re-pull {barque_repull[-1]:5.2f} s"
                print(line, flush=True)
        for runner in runners:
            runner.close()  # idle daemons off before profiling; close() is idempotent
        for name, data in result["tools"].items():
            data["median_s"] = _median(data["cold_s"])
        if "barque" in result["tools"]:
            result["tools"]["barque"]["repull_s"] = barque_repull
            result["tools"]["barque"]["repull_median_s"] = _median(barque_repull)
            result["ratios"] = _ratios(result["tools"])
            if profile:
                print("profiling one more barque cold pull (py-spy on both services)", flush=True)
                result["profile"] = _profile_barque(ref, root)
                result["profile"]["warm_proxy_pull"] = warm_proxy_pull(image, ref)
    return result


def _remove_root(root: Path) -> None:
    left = umount_under(root)
    if left:
        print(f"unmounted leftovers under {root}: {left}", file=sys.stderr)
    shutil.rmtree(root, ignore_errors=True)
    if mounts_under(root):
        print(f"warning: mounts remain under {root}: {mounts_under(root)}", file=sys.stderr)


def _ratios(tools: dict) -> dict:
    barque = tools["barque"]["median_s"]
    return {f"barque/{name}": round(barque / data["median_s"], 2)
            for name, data in tools.items() if name != "barque" and data.get("median_s")}


def _print_report(result: dict) -> None:
    img = result["image"]
    print(f"\nimage {result.get('ref', '')}: {len(img['layers'])} layers, "
          f"{img['compressed_bytes'] / 1e6:.1f} MB compressed, {img['entries']} tar entries")
    print(f"{'tool':8s} {'version':28s} {'median':>8s}  runs (s)")
    for name, data in result["tools"].items():
        runs = " ".join(f"{x:.2f}" for x in data["cold_s"])
        print(f"{name:8s} {data['version'][:28]:28s} {data['median_s']:7.2f}s  {runs}")
    barque = result["tools"].get("barque")
    if barque:
        ok = "meets" if barque["repull_median_s"] < REPULL_TARGET_S else "misses"
        print(f"barque re-pull of the kept image: median {barque['repull_median_s']:.3f} s "
              f"({ok} the {REPULL_TARGET_S} s target)")
    for key, value in result.get("ratios", {}).items():
        print(f"{key:15s} {value:.2f}x")
    for name, why in result["skipped"].items():
        print(f"skipped {name}: {why}")
    prof = result.get("profile")
    if not prof:
        return
    print(f"\nwhere barque's time goes (profiled cold pull: {prof['profiled_pull_s']:.2f} s)")
    for ev in prof["timeline"]:
        if ev["event"] in ("registry.blob_cached", "snapshot_unpacked", "image.pulled"):
            print(f"  t={ev['t']:6.2f}s {ev['service']:8s} {ev['event']:22s} {ev['detail']}")
    warm = prof["warm_proxy_pull"]
    print(f"  cold image-store, warm registry-proxy: pull {warm['pull_s']:.2f} s "
          f"({warm['registry_downloads']} blobs downloaded from the registry)")
    for layer in warm["layers"]:
        print(f"    {layer['name']:8s} verified at {layer['verified_s'] or 0:6.2f} s, "
              f"unpacked at {layer['unpacked_s'] or 0:6.2f} s")
    for p in prof["profiles"]:
        _print_profile(Profile(**p))
    if not prof["py_spy"]:
        print("  (py-spy not installed: .venv/bin/pip install py-spy for the hotspot profile)")


def _print_profile(p: Profile) -> None:
    print(f"  {p.service}: {p.samples} active samples")
    for phase, pct in p.phases.items():
        print(f"    {pct:5.1f}%  {phase}")
    print("    top own time:")
    for label, pct in p.self_time[:8]:
        print(f"    {pct:5.1f}%  {label}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pull", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed cold pulls per tool (default 3)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled extra barque pull")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown or args.runs < 1:
        parser.error(f"unknown tools {unknown}" if unknown else "--runs must be at least 1")
    if os.geteuid() != 0:
        print("bench-pull needs root (dockerd, podman, barque's unpack keep file owners)", file=sys.stderr)
        return 2
    try:
        result = run_benchmark(args.runs, tools, not args.no_profile)
    except ToolError as exc:
        print(f"bench-pull failed: {exc}", file=sys.stderr)
        return 1
    _print_report(result)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"pull-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
