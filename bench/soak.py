"""``make soak``: many container lifecycles from several concurrent clients for a
bounded time, with pulls, builds and prunes mixed in, against barque and then,
in the same run, docker 20.10 and podman: issue 17's soak.

Run from the repository root as root: ``python -m bench.soak [--seconds 300] [--clients 4]``.

1. a fresh Debian ``docker-registry`` on 127.0.0.1 gets busybox (umoci-built,
   ``deploy/seed-image.sh``) as ``soak/busybox:latest`` and, per client, busybox
   plus one small layer of its own as ``soak/pull:c<N>`` (each pull downloads
   and unpacks a layer; ``rmi`` drops it again);
2. barque (bench/soak_engines.py) pulls busybox, makes one untimed round of
   every call (bench/soak_loop.py's ``warm_up``), then the host is looked at
   (tests/support/leaks.py) and the clients run for ``--seconds`` while each
   service's VmRSS and descriptors are sampled every second;
3. barque must then hold (bench/soak_checks.py): every call answered, and
   answered rightly; no container listed; no mount, cgroup, veth, netns,
   firewall rule, process or exec dir of the engine's left; committed
   snapshots exactly the chains of the images kept, no active or half-made
   one; each service's mean RSS in the last quarter at most 1.10 times the
   second quarter's; its descriptors at the end at most the second quarter's
   most plus a small slack;
4. the same loop against a private dockerd and a private podman (``--network
   none`` for both: their bridges would be host devices and rules outside
   barque's naming); ops/s and the peak of containers held beside barque's;
5. prints the table (bench/soak_stats.py), writes
   bench/results/soak-<YYYYmmdd-HHMMSS>.json, exits 1 when a check of step 3
   failed.

``tests/integration/test_soak.py`` runs step 2 and 3, shorter and with fewer
clients, as a test. Everything started is stopped by PID and removed, also on
failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from bench.soak_checks import barque_checks, baseline
from bench.soak_engines import BarqueSoak, DockerSoak, PodmanSoak
from bench.soak_loop import LoopOptions, Sampler, run_loop, warm_up
from bench.soak_stats import format_report, op_summary, quarter_means, ratio
from bench.tools import ToolError, become_subreaper, reap_orphans, umount_under
from tests.support.images import busybox_layout, layout_config, layout_layers, push_image, skopeo_push
from tests.support.layers import marker_layer
from tests.support.registry import start_registry

__all__ = ["main", "soak_barque", "soak_peer", "failures", "seed"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ENGINES = ("barque", "docker", "podman")


def seed(registry, workdir: Path, clients: int) -> tuple[str, list[str]]:
    """busybox as ``soak/busybox:latest`` and one ``soak/pull:c<N>`` per client; their references."""
    layout = busybox_layout(workdir)
    image = skopeo_push(f"oci:{layout}:latest", registry, "soak/busybox:latest", format="oci")
    config = {k: v for k, v in layout_config(layout).items() if k not in ("rootfs", "history")}
    base = layout_layers(layout)
    pulls = [push_image(registry, "soak/pull", f"c{i}", [*base, marker_layer(f"soak client {i}")], config=config)
             for i in range(clients)]
    return image.ref, [p.ref for p in pulls]


def soak_barque(image: str, pull_refs: list[str], workdir: Path, opts: LoopOptions, bridge_every: int = 2) -> dict:
    """barque's run with its checks (step 2 and 3 of the module's docstring)."""
    engine = BarqueSoak(bridge_every)
    try:
        engine.setup()
        engine.cli_run("pull", image)
        warm = warm_up(engine, image, pull_refs, workdir, opts)
        reap_orphans(set())
        before = baseline()
        sampler = Sampler(engine.service_pids(), containers=engine.container_count)
        loop = run_loop(engine, image, pull_refs, workdir, opts, sampler)
        reap_orphans(set())
        checks = barque_checks(engine, before, loop["created"], sampler, loop["start"], loop["end"])
        prunes = [kind for kind, _ in engine.prunes()] + (["container prune"] if engine.container_prune else [])
        return {"version": engine.version(), "prunes": prunes, "warm_up": op_summary(warm, 1.0),
                "ops": op_summary(loop["ops"], loop["end"] - loop["start"]), "peak_held": loop["peak_held"],
                "peak_listed": sampler.peak_containers, "held_at_end": loop["held_at_end"],
                "containers_created": len(loop["created"]), **checks}
    finally:
        engine.close()
        reap_orphans(set())


def soak_peer(engine, image: str, pull_refs: list[str], workdir: Path, opts: LoopOptions) -> dict:
    """docker's or podman's run: the same loop, its ops and peak."""
    try:
        engine.setup()
        engine.cli_run("pull", *engine.pull_flags, image)
        warm = warm_up(engine, image, pull_refs, workdir, opts)
        sampler = Sampler(engine.service_pids(), containers=engine.container_count)
        loop = run_loop(engine, image, pull_refs, workdir, opts, sampler)
        rss = {name: quarter_means(samples, loop["start"], loop["end"]) for name, samples in sampler.rss.items()}
        return {"version": engine.version(), "warm_up": op_summary(warm, 1.0),
                "ops": op_summary(loop["ops"], loop["end"] - loop["start"]), "peak_held": loop["peak_held"],
                "peak_listed": sampler.peak_containers, "held_at_end": loop["held_at_end"],
                "containers_created": len(loop["created"]), "rss_quarters_kib": rss}
    finally:
        engine.close()
        reap_orphans(set())


def failures(run: dict) -> list[str]:
    """What barque's run broke, one line each; empty when every check held."""
    out = []
    ops = run["ops"]
    if ops["unanswered"]:
        out.append(f"{ops['unanswered']} of {ops['total']} calls were never answered")
    if ops["failed"]:
        out.append(f"{ops['failed']} of {ops['total']} calls failed: "
                   + "; ".join(f"{f['kind']}: {f['error'][:160]}" for f in ops["failures"][:5]))
    if run.get("warm_up", {}).get("failed"):
        out.append("the warm-up failed: " + "; ".join(f["error"][:160] for f in run["warm_up"]["failures"][:3]))
    if run["held_at_end"]:
        out.append(f"{run['held_at_end']} containers the clients made were never removed")
    if run["containers_left"]:
        out.append(f"containers still listed: {run['containers_left'][:10]}")
    if run["leaks"]:
        out.append(f"leaked: {run['leaks']}")
    snaps = run["snapshots"]
    for key, what in (("unneeded", "snapshots no image needs"), ("missing", "snapshots images need but lack"),
                      ("active", "active snapshots with no container"), ("tmp", "half-made snapshots")):
        if snaps[key]:
            out.append(f"{len(snaps[key])} {what}: {snaps[key][:5]}")
    for service, facts in run["services"].items():
        for key in ("rss", "fds"):
            if not facts[key]["ok"]:
                out.append(f"{service}: {facts[key]['why']}")
    return out


def run_soak(engines: list[str], opts: LoopOptions, bridge_every: int) -> dict:
    result: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "host": {"cpus": os.cpu_count(), "kernel": platform.release(),
                             "loadavg_start": os.getloadavg()},
                    "seconds": opts.seconds, "clients": opts.clients, "batch": opts.batch,
                    "engines": {}, "skipped": {},
                    "notes": ["docker and podman run every container with --network none; barque puts one in "
                              f"{bridge_every} on its bridge (a veth pair each), half of those with a published "
                              "loopback port" if bridge_every else
                              "every engine runs its containers with --network none"]}
    result["host"]["pythondontwritebytecode"] = os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    become_subreaper()
    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="barque-soak-"))
        stack.callback(_remove_root, root)
        registry = start_registry(root / "registry")
        stack.callback(registry.stop)
        image, pull_refs = seed(registry, root / "images", opts.clients)
        for name in engines:
            print(f"soak: {name}, {opts.clients} clients for {opts.seconds:.0f} s", flush=True)
            workdir = root / f"work-{name}"
            load_start = round(os.getloadavg()[0], 2)
            try:
                if name == "barque":
                    result["engines"][name] = soak_barque(image, pull_refs, workdir, opts, bridge_every)
                    result["barque_failures"] = failures(result["engines"][name])
                    continue
                peer = DockerSoak(root / "docker") if name == "docker" else PodmanSoak(root / "podman")
                why = peer.available()
                if why:
                    result["skipped"][name] = why
                    continue
                result["engines"][name] = soak_peer(peer, image, pull_refs, workdir, opts)
            except (ToolError, RuntimeError, OSError) as exc:
                result["engines"][name] = {"error": str(exc)}
                print(f"  {name} failed: {exc}", flush=True)
            if name in result["engines"]:
                # the engines run one after another: other work on the machine
                # meanwhile weighs on one more than another, and the report says so
                result["engines"][name]["loadavg_1m"] = [load_start, round(os.getloadavg()[0], 2)]
    ours = result["engines"].get("barque", {})
    result["ratios"] = {f"barque/{name}": {"ops_per_s": ratio(ours.get("ops", {}).get("ops_per_s"),
                                                               run.get("ops", {}).get("ops_per_s")),
                                           "peak_held": ratio(ours.get("peak_held"), run.get("peak_held"))}
                        for name, run in result["engines"].items() if name != "barque" and "ops" in run}
    result["host"]["loadavg_end"] = os.getloadavg()
    return result


def _remove_root(root: Path) -> None:
    left = umount_under(root)
    if left:
        print(f"unmounted leftovers under {root}: {left}", file=sys.stderr)
    shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 300)),
                        help="how long each engine's clients run (default 300, or $SOAK_SECONDS)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--batch", type=int, default=4, help="a round's batch holds 1 .. N containers (default 4)")
    parser.add_argument("--bridge-every", type=int, default=2,
                        help="every Nth barque container on its bridge, 0 for none (default 2)")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown or args.seconds <= 0 or min(args.clients, args.batch) < 1 or args.bridge_every < 0:
        parser.error(f"unknown engines {unknown}" if unknown else
                     "--seconds must be positive, --clients and --batch at least 1, --bridge-every at least 0")
    if os.geteuid() != 0:
        print("make soak needs root (containers: namespaces, cgroups, mounts)", file=sys.stderr)
        return 2
    opts = LoopOptions(clients=args.clients, seconds=args.seconds, batch=args.batch)
    try:
        result = run_soak(engines, opts, args.bridge_every)
    except (ToolError, RuntimeError) as exc:
        print(f"soak failed: {exc}", file=sys.stderr)
        return 1
    print(format_report(result))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"soak-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {out}")
    bad = result.get("barque_failures", [])
    for line in bad:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if bad or "error" in result["engines"].get("barque", {}) else 0


if __name__ == "__main__":
    sys.exit(main())
