"""``make bench-push``: push of the ~150 MB four-layer Debian image (bench/images.py)
to a local docker-registry, barque beside ``docker push`` (a private dockerd,
Debian's 20.10) and ``skopeo copy`` (from an OCI layout on disk).

Run from the repository root as ``python -m bench.push [--runs N]`` (root). One run:

1. the image is pushed (from its cache) to a *source* registry, and each tool
   gets it there untimed: barque and docker pull it, skopeo copies it to an
   OCI layout;
2. per iteration, for every tool in an order that rotates per iteration: a
   fresh, empty *target* registry on another port (a new host to each tool,
   so nothing can be mounted from the source and nothing is there), an
   untimed tag, then the timed **cold** push (a new repository, empty
   registry) and the timed **warm** push (the same again: every layer is
   there already); the target registry is then stopped and removed;
3. prints medians and paired ratios (barque's time over the other tool's in
   the same iteration, their median); writes bench/results/push-<time>.json.

What each tool does on a cold push, as measured: barque sends the layers as
they were pulled (compressed once, kept by digest; the registry-proxy uploads
its cached copy); docker 20.10 re-reads each layer from its layer store and
gzips it again as it uploads; skopeo copies the layout's compressed blobs.

Everything it starts (registries, dockerd, services) is stopped by PID and
every temp dir removed, also on failure or Ctrl-C. The target: barque no
slower than docker on either push.
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
from typing import Protocol

from bench.barque import Barque
from bench.images import ensure_image, push_bench_image
from bench.tools import Docker, ToolError, run, umount_under
from tests.support.registry import Registry, start_registry

__all__ = ["main", "run_benchmark", "paired_ratios", "push_check"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TOOLS = ("barque", "docker", "skopeo")
SOURCE_REPO, TAG = "bench/source", "bookworm-4layer"
TARGET_REPO = "bench/pushed"


class Pusher(Protocol):
    name: str

    def prepare(self, source_ref: str) -> None: ...

    def tag(self, source_ref: str, target_ref: str) -> None: ...

    def push(self, source_ref: str, target_ref: str) -> str: ...

    def version(self) -> str: ...

    def close(self) -> None: ...


class BarquePusher:
    """barque's services, started once with empty state; the image pulled untimed."""

    name = "barque"

    def __init__(self) -> None:
        self.barque = Barque()

    def _cli(self, *args: str) -> str:
        engine, server = self.barque.engine, self.barque.server
        if engine is None or server is None:
            raise ToolError("barque: prepare() first")
        return run([self.barque.cli, *args], what=f"barque {args[0]}", env={**engine.env, **server.env})

    def prepare(self, source_ref: str) -> None:
        self.barque.reset()
        self._cli("pull", "-q", source_ref)

    def push(self, source_ref: str, target_ref: str) -> str:
        return self._cli("push", target_ref)

    def tag(self, source_ref: str, target_ref: str) -> None:
        self._cli("tag", source_ref, target_ref)

    def version(self) -> str:
        return self.barque.version()

    def close(self) -> None:
        self.barque.close()


class DockerPusher:
    """Debian's dockerd 20.10, private; the image pulled untimed."""

    name = "docker"

    def __init__(self, root: Path) -> None:
        self.docker = Docker(root)

    def prepare(self, source_ref: str) -> None:
        if missing := Docker.available():
            raise ToolError(missing)
        self.docker.setup()
        self.docker.cli("pull", "-q", source_ref)

    def tag(self, source_ref: str, target_ref: str) -> None:
        self.docker.cli("tag", source_ref, target_ref)

    def push(self, source_ref: str, target_ref: str) -> str:
        return self.docker.cli("push", target_ref)

    def version(self) -> str:
        return self.docker.version()

    def close(self) -> None:
        self.docker.close()


class SkopeoPusher:
    """``skopeo copy oci:LAYOUT docker://…``: the compressed blobs as they are on disk."""

    name = "skopeo"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.layout = root / "layout"

    def prepare(self, source_ref: str) -> None:
        if shutil.which("skopeo") is None:
            raise ToolError("skopeo is not installed (apt-get install -y skopeo)")
        self.root.mkdir(parents=True, exist_ok=True)
        run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{source_ref}",
             f"oci:{self.layout}:{TAG}"], what="skopeo copy (prepare)")

    def tag(self, source_ref: str, target_ref: str) -> None:
        """Nothing to tag: the destination is named on the command line."""

    def push(self, source_ref: str, target_ref: str) -> str:
        return run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{self.layout}:{TAG}",
             f"docker://{target_ref}"], what="skopeo copy")

    def version(self) -> str:
        return run(["skopeo", "--version"], what="skopeo --version").strip()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def paired_ratios(ours: list[float], theirs: list[float]) -> list[float]:
    """Our time over theirs, iteration by iteration (both lists in iteration order)."""
    return [round(a / b, 3) for a, b in zip(ours, theirs) if b > 0]


def push_check(name: str, kind: str, output: str, layers: int) -> str:
    """"" when a push did what its kind says, else why not: a cold push by barque
    or docker prints ``Pushed`` for every layer (nothing mounted, nothing there),
    a warm one ``Layer already exists`` for every layer. skopeo --quiet prints nothing."""
    if name == "skopeo":
        return ""
    want = "Pushed" if kind == "cold" else "Layer already exists"
    finals = [line.partition(": ")[2] for line in output.splitlines() if line.partition(": ")[2] == want]
    return "" if len(finals) == layers else f"{name} {kind} push: {len(finals)} of {layers} layers {want!r}"


def _make(name: str, root: Path) -> BarquePusher | DockerPusher | SkopeoPusher:
    if name == "barque":
        return BarquePusher()
    return DockerPusher(root / name) if name == "docker" else SkopeoPusher(root / name)


def _fresh_registry(root: Path, name: str) -> tuple[Registry, Path]:
    workdir = Path(tempfile.mkdtemp(prefix=f"target-{name}-", dir=root))
    return start_registry(workdir), workdir


def run_benchmark(runs: int, tools: list[str]) -> dict:
    image = ensure_image()
    result: dict = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()},
        "image": {"recipe": image.info["recipe"], "compressed_bytes": image.compressed_size,
                  "layers": [{k: layer[k] for k in ("name", "size")} for layer in image.info["layers"]]},
        "runs": runs, "tools": {}, "skipped": {}, "fairness": [],
    }
    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="barque-bench-push-"))
        stack.callback(_remove_root, root)
        source = start_registry(root / "source")
        stack.callback(source.stop)
        source_ref = push_bench_image(image, source, SOURCE_REPO, TAG)
        pushers = []
        for name in tools:
            pusher = _make(name, root)
            stack.callback(pusher.close)
            try:
                pusher.prepare(source_ref)
            except ToolError as exc:
                result["skipped"][name] = str(exc)
                print(f"skipping {name}: {exc}", flush=True)
                continue
            pushers.append(pusher)
            result["tools"][name] = {"version": pusher.version(), "cold_s": [], "warm_s": []}
        for i in range(runs):
            order = pushers[i % len(pushers):] + pushers[:i % len(pushers)]  # engines alternate
            for pusher in order:
                target, workdir = _fresh_registry(root, pusher.name)
                try:
                    target_ref = f"{target.host}/{TARGET_REPO}:{TAG}"
                    pusher.tag(source_ref, target_ref)
                    times = []
                    for kind in ("cold", "warm"):
                        start = time.monotonic()
                        output = pusher.push(source_ref, target_ref)
                        times.append(round(time.monotonic() - start, 3))
                        if problem := push_check(pusher.name, kind, output, len(image.info["layers"])):
                            result["fairness"].append(f"run {i + 1}: {problem}")
                finally:
                    target.stop()
                    shutil.rmtree(workdir, ignore_errors=True)
                data = result["tools"][pusher.name]
                data["cold_s"].append(times[0])
                data["warm_s"].append(times[1])
                print(f"run {i + 1}/{runs} {pusher.name:7s} cold {times[0]:6.2f} s   warm {times[1]:6.2f} s",
                      flush=True)
    for data in result["tools"].values():
        data["cold_median_s"] = _median(data["cold_s"])
        data["warm_median_s"] = _median(data["warm_s"])
    ours = result["tools"].get("barque")
    result["ratios"] = {}
    if ours:
        for name, data in result["tools"].items():
            if name == "barque":
                continue
            for kind in ("cold", "warm"):
                pairs = paired_ratios(ours[f"{kind}_s"], data[f"{kind}_s"])
                result["ratios"][f"barque/{name} {kind}"] = {"paired": pairs, "median": _median(pairs)}
    return result


def _remove_root(root: Path) -> None:
    umount_under(root)
    shutil.rmtree(root, ignore_errors=True)


def _print_report(result: dict) -> None:
    img = result["image"]
    print(f"\nimage: {len(img['layers'])} layers, {img['compressed_bytes'] / 1e6:.1f} MB compressed")
    print(f"{'tool':8s} {'version':30s} {'cold':>8s} {'warm':>8s}")
    for name, data in result["tools"].items():
        print(f"{name:8s} {data['version'][:30]:30s} {data['cold_median_s']:7.2f}s {data['warm_median_s']:7.2f}s")
    for key, value in result["ratios"].items():
        paired = " ".join(f"{x:.2f}" for x in value["paired"])
        print(f"{key:20s} median {value['median']:.2f}x   paired {paired}")
    for key in ("cold", "warm"):
        ratio = result["ratios"].get(f"barque/docker {key}")
        if ratio and ratio["median"] is not None:
            verdict = "meets" if ratio["median"] <= 1.0 else "misses"
            print(f"{key} push: barque {verdict} the target (no slower than docker)")
    for name, why in result["skipped"].items():
        print(f"skipped {name}: {why}")
    for note in result["fairness"]:
        print(f"fairness: {note}")
    if not result["fairness"]:
        print("every cold push uploaded every layer and every warm push none (barque's and docker's output)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.push", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="cold + warm pushes per tool (default 5)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown or args.runs < 1:
        parser.error(f"unknown tools {unknown}" if unknown else "--runs must be at least 1")
    if os.geteuid() != 0:
        print("bench-push needs root (dockerd, barque's unpack keep file owners)", file=sys.stderr)
        return 2
    try:
        result = run_benchmark(args.runs, tools)
    except ToolError as exc:
        print(f"bench-push failed: {exc}", file=sys.stderr)
        return 1
    _print_report(result)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"push-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
