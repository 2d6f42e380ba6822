"""bench-run's report: the targets of issue 10 met or missed (:func:`targets`,
pure: it reads only the result dict), and the printed tables of every figure
(:func:`print_report`).

A target compares a paired ratio, the median of the per-round ratios of
barque to podman over rounds that alternate the engines, or an absolute
median, with its limit. A figure that was not measured (an engine skipped)
leaves its target undecided (``met`` is None).
"""

from __future__ import annotations

from bench.runprofile import print_breakdown, print_importtime, print_profile

__all__ = ["targets", "print_report", "PS_LOADED_LIMIT_S", "PER_CONTAINER_LIMIT_KIB"]

#: ``ps`` with 100 running containers stays under this many seconds
PS_LOADED_LIMIT_S = 0.1
#: the memory each running container adds, PSS
PER_CONTAINER_LIMIT_KIB = 1024
FIXED_COMMANDS = ("ps", "version", "images -q")


def _target(name: str, value: float | None, limit: float, unit: str, strict: bool = False,
            moonshot: bool = False) -> dict:
    met = None if value is None else (value < limit if strict else value <= limit)
    return {"target": name, "value": value, "limit": limit, "unit": unit, "strict": strict,
            "moonshot": moonshot, "met": met}


def _get(data: dict, *keys: str):
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def targets(result: dict) -> list[dict]:
    """Issue 10's targets, in its order, then the moonshot (the fixed cost of docker's CLI)."""
    out = []
    for command in FIXED_COMMANDS:
        out.append(_target(f"fixed cost: barque {command} <= podman {command}",
                           _get(result, "fixed_cost", command, "paired_ratios", "barque/podman"), 1.0, "x podman"))
    out.append(_target("run --rm IMAGE true <= 0.8x podman", _get(result, "paired_ratios", "barque/podman"),
                       0.8, "x podman"))
    out.append(_target("exec C true <= 0.8x podman", _get(result, "exec", "paired_ratios", "barque/podman"),
                       0.8, "x podman"))
    count = _get(result, "concurrent_start", "containers") or result.get("containers")
    out.append(_target(f"{count} concurrent starts <= 0.8x podman",
                       _get(result, "concurrent_start", "paired_ratios", "barque/podman"), 0.8, "x podman"))
    count = _get(result, "ps_loaded", "containers") or result.get("ps_containers")
    out.append(_target(f"barque ps with {count} running < {PS_LOADED_LIMIT_S} s",
                       _get(result, "ps_loaded", "engines", "barque", "median_s"), PS_LOADED_LIMIT_S, "s",
                       strict=True))
    pss = _get(result, "memory", "barque", "per_container", "pss_kib")
    out.append(_target("memory per running container <= 1 MiB PSS", None if pss is None else round(pss / 1024, 2),
                       PER_CONTAINER_LIMIT_KIB / 1024, "MiB"))
    for command in FIXED_COMMANDS:
        out.append(_target(f"moonshot: barque {command} <= docker {command}",
                           _get(result, "fixed_cost", command, "paired_ratios", "barque/docker"), 1.0, "x docker",
                           moonshot=True))
    return out


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"


def _ratio_lines(summary: dict, indent: str = "  ") -> None:
    for pair, paired in summary.get("paired_ratios", {}).items():
        of_medians = summary.get("ratios", {}).get(pair)
        print(f"{indent}{pair:28s} paired {paired:5.2f}x   of medians "
              f"{'-' if of_medians is None else f'{of_medians:.2f}x'}")


def _engine_rows(engines: dict, indent: str = "  ") -> None:
    print(f"{indent}{'':20s} {'median':>8s} {'p10':>8s} {'p90':>8s} {'min':>8s} {'max':>8s}  runs")
    for name, e in engines.items():
        print(f"{indent}{name:20s} {_s(e['median_s']):>8s} {_s(e['p10_s']):>8s} {_s(e['p90_s']):>8s} "
              f"{_s(e['min_s']):>8s} {_s(e['max_s']):>8s}  {len(e['runs_s'])}")


def _failed_lines(failed: list[dict], indent: str = "  ") -> None:
    if failed:
        print(f"{indent}{len(failed)} calls failed, their rounds dropped; the first, in round {failed[0]['round']} "
              f"({failed[0]['row']}): {failed[0]['error'].strip().splitlines()[-1][:200]}")


def _print_summary(title: str, summary: dict | None) -> None:
    if not summary:
        return
    print(f"\n{title}")
    if "error" in summary:
        print(f"  not measured: {summary['error']}")
        return
    _engine_rows(summary["engines"])
    _ratio_lines(summary)
    _failed_lines(summary.get("failed_calls", []))


def _print_fixed_cost(fixed: dict) -> None:
    if not fixed:
        return
    if "error" in fixed:
        print(f"\nfixed cost of a CLI command: not measured: {fixed['error']}")
        return
    labels: list[str] = []
    for summary in fixed.values():
        labels += [label for label in summary["engines"] if label not in labels]
    pairs: list[str] = []
    for summary in fixed.values():
        pairs += [pair for pair in summary["paired_ratios"] if pair not in pairs]
    print("\nfixed cost of a CLI command (medians; ratios: paired, i.e. the median of per-round ratios)")
    print(f"  {'command':10s}" + "".join(f" {label:>18s}" for label in labels)
          + "".join(f" {pair:>22s}" for pair in pairs))
    for command, summary in fixed.items():
        cells = [_s(summary["engines"].get(label, {}).get("median_s")) for label in labels]
        ratios = [summary["paired_ratios"].get(pair) for pair in pairs]
        print(f"  {command:10s}" + "".join(f" {c:>18s}" for c in cells)
              + "".join(f" {'-' if r is None else f'{r:.2f}x':>22s}" for r in ratios))
    for summary in fixed.values():
        _failed_lines(summary.get("failed_calls", []))


def _print_run(result: dict) -> None:
    tree = result["tree"]
    print(f"\nbarque tree {tree['commit']}" + (f" + {len(tree['uncommitted'])} uncommitted files under services/, cli/"
                                              if tree["uncommitted"] else ""))
    host = result["host"]
    print(f"image {result['ref']}; {result['runs']} timed runs per engine, alternating; {host['cpus']} cpus, "
          f"load {host['loadavg_start'][0]:.2f} -> {host['loadavg_end'][0]:.2f}")
    if host.get("load_by_stage"):
        print("1-minute load as each stage began: "
              + ", ".join(f"{stage} {load:.2f}" for stage, load in host["load_by_stage"]))
    _print_fixed_cost(result.get("fixed_cost", {}))
    print("\nrun --rm IMAGE true (--network none)")
    print(f"  {'engine':8s} {'version':26s} {'median':>8s} {'p10':>7s} {'p90':>7s} {'min':>7s} {'max':>7s}")
    for name, e in result["engines"].items():
        print(f"  {name:8s} {e['version'][:26]:26s} {e['median_s']:7.3f}s {e['p10_s']:6.3f}s {e['p90_s']:6.3f}s "
              f"{e['min_s']:6.3f}s {e['max_s']:6.3f}s")
    _ratio_lines({"paired_ratios": result.get("paired_ratios", {}), "ratios": result.get("ratios", {})})
    leftovers = result["fairness"]["barque_leftovers"]
    print(f"  --rm fairness check: {'container fully removed before every exit' if not leftovers else leftovers}")
    _failed_lines(result["fairness"].get("failed_runs", []))


def _print_memory(memory: dict) -> None:
    if not memory:
        return
    count = next((m["containers"] for m in memory.values() if "containers" in m), "?")
    print(f"\nmemory per running container ({count} x sleep 600)")
    print(f"  {'engine':8s} {'PSS/ctr':>9s} {'RSS/ctr':>9s} {'idle PSS':>9s} {'loaded PSS':>11s} {'procs/ctr':>9s} "
          f"{'avg PSS of one':>15s}")
    for name, m in memory.items():
        if "error" in m:
            print(f"  {name:8s} not measured: {m['error']}")
            continue
        own = m["per_container_process"]
        print(f"  {name:8s} {m['per_container']['pss_kib'] / 1024:7.2f}Mi {m['per_container']['rss_kib'] / 1024:7.2f}Mi "
              f"{m['idle']['pss_kib'] / 1024:7.1f}Mi {m['loaded']['pss_kib'] / 1024:9.1f}Mi "
              f"{own['count'] / m['containers']:9.1f} {own['avg_pss_kib'] / 1024:13.2f}Mi")


def _target_value(value: float, unit: str) -> str:
    if unit.startswith("x "):
        return f"{value:.2f}x {unit[2:]}"
    return f"{value:.3f} s" if unit == "s" else f"{value:.2f} {unit}"


def _print_targets(found: list[dict]) -> None:
    print("\ntargets (issue 10)")
    for t in found:
        verdict = {True: "met", False: "missed", None: "n/a"}[t["met"]]
        value = "not measured" if t["value"] is None else _target_value(t["value"], t["unit"])
        print(f"  {verdict:7s} {t['target']:48s} {value}")


def _print_fairness(result: dict) -> None:
    server = result["fairness"].get("command_server")
    if server:
        restarted = server["restarted_during"]
        print(f"\nbarque's command server: pid {server['pid']}, " +
              ("the same warm server served every timed call" if not restarted else
               f"restarted during {', '.join(restarted)} (a source file it loaded changed): some calls of those "
               "stages ran in-process"))
    for name, why in result["skipped"].items():
        print(f"skipped {name}: {why}")


def print_report(result: dict) -> None:
    """Every figure of the result, then the targets."""
    _print_run(result)
    _print_summary("exec C true into a running container", result.get("exec"))
    start = result.get("concurrent_start")
    if start:
        _print_summary(f"{start.get('containers', '?')} containers started by as many concurrent clients "
                       "(wall time)", start)
    loaded = result.get("ps_loaded")
    if loaded:
        listed = ", ".join(f"{k} {v}" for k, v in loaded.get("listed", {}).items())
        _print_summary(f"ps with {loaded.get('containers', '?')} running containers per engine"
                       + (f" (rows listed: {listed})" if listed else ""), loaded)
    _print_memory(result.get("memory", {}))
    if "breakdown" in result:
        print_breakdown(result["breakdown"])
    if "cli_importtime" in result:
        print_importtime(result["cli_importtime"])
    if "profile" in result:
        print_profile(result["profile"])
    _print_targets(result.get("targets", []))
    _print_fairness(result)
