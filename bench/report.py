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
from bench.everyday import print_everyday

__all__ = ["targets", "print_report", "PS_LOADED_LIMIT_S", "PER_CONTAINER_LIMIT_KIB", "net_targets",
           "print_net_report", "VETH_SHARE", "NET_RUN_VS_PODMAN", "USER_NET_VS_DOCKER", "LOOKUP_VS_DOCKER"]

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
    print("\ntargets (issues 10 and 14)")
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
    print_everyday(result.get("everyday"), _print_summary)
    if "breakdown" in result:
        print_breakdown(result["breakdown"])
    if "cli_importtime" in result:
        print_importtime(result["cli_importtime"])
    if "profile" in result:
        print_profile(result["profile"])
    _print_targets(result.get("targets", []))
    _print_fairness(result)


# ------------------------------------------------------------------ bench-net (issue 11)

#: barque's throughput on a path is at least this share of the bare veth path's
VETH_SHARE = 0.9
#: ``run --rm IMAGE true`` on the default network, paired ratio to podman's
NET_RUN_VS_PODMAN = 0.8
NET_PATHS = {"host": "host -> ctr, 127.0.0.1:PORT", "host_gateway": "host -> ctr, gateway:PORT",
             "c2c": "ctr -> ctr, bridge address", "user_c2c": "ctr -> ctr, user network"}
#: issue 12: throughput between two containers on a user network, barque's median to docker's ("no slower",
#: within the noise of a few iperf3 rounds)
USER_NET_VS_DOCKER = 0.9
#: issue 12: the median name lookup on a user network, barque's to docker's (no slower)
LOOKUP_VS_DOCKER = 1.0


def _at_least(name: str, value: float | None, limit: float | None, unit: str) -> dict:
    met = None if value is None or limit is None else value >= limit
    return {"target": name, "value": value, "limit": limit, "unit": unit, "at_least": True, "strict": False,
            "moonshot": False, "met": met}


def net_targets(result: dict) -> list[dict]:
    """Issue 11's targets: throughput within 10% of the bare veth path (host to
    a container through a published port on 127.0.0.1, container to container),
    the start-up cost the bridge adds no higher than docker's, and ``run --rm``
    on the default network at most 0.8x podman's (paired)."""
    out = []
    for path, what in (("host", "host -> ctr (127.0.0.1 published port)"), ("c2c", "ctr -> ctr")):
        out.append(_at_least(f"throughput {what} >= {VETH_SHARE}x bare veth",
                             _get(result, "throughput", path, "ratios", "barque/veth"), VETH_SHARE, "x veth"))
    engines = _get(result, "startup", "engines") or {}
    mine, docker = _get(engines, "barque", "added_s"), _get(engines, "docker", "added_s")
    out.append({**_target("start-up added by the bridge <= docker's", mine, 0.0, "s"), "limit": docker,
                "met": None if mine is None or docker is None else mine <= docker})
    out.append(_target(f"run --rm IMAGE true (default network) <= {NET_RUN_VS_PODMAN}x podman",
                       _get(result, "startup", "paired_ratios", "bridge", "barque/podman"), NET_RUN_VS_PODMAN,
                       "x podman"))
    out += user_net_targets(result)
    return out


def user_net_targets(result: dict) -> list[dict]:
    """Issue 12's targets: on a user network, the median name lookup no slower
    than docker's (barque/docker <= 1) and the throughput between two
    containers no slower than docker's (barque/docker >= 0.9, for iperf3's noise)."""
    return [
        _target(f"name lookup on a user network (median) <= {LOOKUP_VS_DOCKER:g}x docker",
                _get(result, "lookups", "ratios", "barque/docker"), LOOKUP_VS_DOCKER, "x docker"),
        _at_least(f"throughput ctr -> ctr, user network >= {USER_NET_VS_DOCKER}x docker",
                  _get(result, "throughput", "user_c2c", "ratios", "barque/docker"), USER_NET_VS_DOCKER, "x docker"),
    ]


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _print_throughput(tp: dict | None) -> None:
    if not tp:
        return
    if "error" in tp:
        print(f"\nthroughput: not measured: {tp['error']}")
        return
    names: list[str] = []
    for path in NET_PATHS:
        names += [n for n in _get(tp, path, "engines") or {} if n not in names]
    print(f"\nTCP throughput, iperf3, Gbit/s (medians of {tp.get('runs', '?')} x {tp.get('seconds', '?')} s; "
          f"bare veth baseline {_g(_get(tp, 'veth', 'median_gbit'))} Gbit/s)")
    pairs = [f"{n}/veth" for n in names] + [f"barque/{n}" for n in names if n != "barque"]
    print(f"  {'path':30s}" + "".join(f" {n:>8s}" for n in names) + "".join(f" {p:>14s}" for p in pairs))
    for path, title in NET_PATHS.items():
        if path not in tp:
            continue
        engines, ratios = tp[path]["engines"], tp[path]["ratios"]
        print(f"  {title:30s}" + "".join(f" {_g(_get(engines, n, 'median_gbit')):>8s}" for n in names)
              + "".join(f" {_x(ratios.get(p)):>14s}" for p in pairs))
    for err in tp.get("failed", [])[:3]:
        print(f"  failed: round {err['round']} {err['engine']} {err['path']}: {err['error'].strip()[-200:]}")


def _print_startup(st: dict | None) -> None:
    if not st:
        return
    if "error" in st:
        print(f"\nstart-up: not measured: {st['error']}")
        return
    print(f"\nrun --rm IMAGE true, default network (bridge) and --network none ({st.get('runs', '?')} rounds, "
          "medians)")
    print(f"  {'engine':8s} {'bridge':>8s} {'none':>8s} {'added':>8s}   {'bridge p10-p90':>16s} {'none p10-p90':>16s}")
    for name, modes in st["engines"].items():
        b, n = modes.get("bridge", {}), modes.get("none", {})
        print(f"  {name:8s} {_s(b.get('median_s')):>8s} {_s(n.get('median_s')):>8s} {_s(modes.get('added_s')):>8s}"
              f"   {_s(b.get('p10_s')) + '-' + _s(b.get('p90_s')):>16s} {_s(n.get('p10_s')) + '-' + _s(n.get('p90_s')):>16s}")
    for mode, pairs in st.get("paired_ratios", {}).items():
        if pairs:
            print(f"  paired ratios, {mode:6s}: " + ", ".join(f"{k} {v:.2f}x" for k, v in pairs.items()))
    _failed_lines(st.get("failed_calls", []))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_lookups(lk: dict | None, user: dict | None) -> None:
    if not lk:
        return
    if "error" in lk:
        print(f"\nname lookups: not measured: {lk['error']}")
        return
    print(f"\nname lookup on a user network, ms ({lk.get('lookups', '?')} UDP queries per engine for the target's "
          f"name from the client's namespace, {lk.get('rounds', '?')} rounds alternating)")
    print(f"  {'engine':8s} {'nameserver':>15s} {'median':>8s} {'p10':>8s} {'p90':>8s} {'min':>8s} {'max':>8s} "
          f"{'lookups':>8s}")
    for name, e in lk.get("engines", {}).items():
        ns = (lk.get("nameservers") or {}).get(name) or "?"
        print(f"  {name:8s} {ns:>15s} {_ms(e['median_ms']):>8s} {_ms(e['p10_ms']):>8s} {_ms(e['p90_ms']):>8s} "
              f"{_ms(e['min_ms']):>8s} {_ms(e['max_ms']):>8s} {e['lookups']:8d}")
    for pair, value in lk.get("ratios", {}).items():
        paired = lk.get("paired_ratios", {}).get(pair)
        print(f"  {pair}: median {_x(value)} (paired, of round medians: {_x(paired)})")
    for name, why in lk.get("skipped", {}).items():
        print(f"  {name}: not measured: {why}")
    for err in lk.get("failed", [])[:3]:
        print(f"  failed: round {err['round']} {err['engine']}: {err['error'].strip()[-200:]}")
    for name, note in (user or {}).items():
        if isinstance(note, dict) and note.get("error"):
            print(f"  {name}: no user network: {note['error'].strip().splitlines()[-1][:200]}")


def _print_net_targets(found: list[dict]) -> None:
    print("\ntargets (issues 11 and 12)")
    for t in found:
        verdict = {True: "met", False: "missed", None: "n/a"}[t["met"]]
        if t["value"] is None:
            value = "not measured"
        elif t["unit"] == "s":
            value = f"{t['value']:.3f} s vs " + ("-" if t["limit"] is None else f"{t['limit']:.3f} s")
        else:
            value = _target_value(t["value"], t["unit"])
        print(f"  {verdict:7s} {t['target']:58s} {value}")


def print_net_report(result: dict) -> None:
    """bench-net's figures, then its targets."""
    tree = result.get("tree", {})
    print(f"\nbarque tree {tree.get('commit', '?')}" +
          (f" + {len(tree['uncommitted'])} uncommitted files under services/, cli/" if tree.get("uncommitted") else ""))
    host = result.get("host", {})
    load = host.get("loadavg_start", [0])[0], (host.get("loadavg_end") or [0])[0]
    print(f"image {result.get('ref', '?')}; {host.get('cpus')} cpus, load {load[0]:.2f} -> {load[1]:.2f}; "
          f"{host.get('iperf3', '')}")
    for name, e in result.get("engines", {}).items():
        extra = ", ".join(f"{k} {v}" for k, v in e.items() if k != "version")
        print(f"  {name:8s} {e.get('version', '')}" + (f" ({extra})" if extra else ""))
    _print_throughput(result.get("throughput"))
    proxies = _get(result, "paths", "docker_proxy")
    if proxies:
        print(f"  docker's published ports: {len(proxies)} docker-proxy processes (userland proxy) were running; "
              "127.0.0.1 goes through it, the gateway address through DNAT")
    _print_lookups(result.get("lookups"), result.get("user_network"))
    _print_startup(result.get("startup"))
    _print_net_targets(result.get("targets", []))
    fw = host.get("firewall_after") or {}
    if fw:
        print(f"\nhost firewall after the run: FORWARD policy {fw.get('forward_policy')}, "
              f"bridge-nf-call-iptables {fw.get('bridge_nf_call_iptables')} (a docker host's firewall state "
              "and docker0 stay behind, as on any host running docker; so do podman's cni-podman0 and CNI chains)")
    cleanup = result.get("cleanup", {})
    removed = cleanup.get("barque_network") or {}
    if "barque_network" in cleanup:
        print(f"barque's bench network: removed by the bench {removed.get('bridge') or 'no bridge'} and "
              f"{', '.join(removed.get('chains') or []) or 'no chain'} (the rest went with its engine's close)")
    nets = [f"{engine} {net} ({'removed' if done.get('removed') else 'NOT removed: ' + done.get('error', '')}"
            f"{', bridge ' + done['bridge'] + (' LEFT' if done.get('bridge_left') else ' gone') if done.get('bridge') else ''})"
            for engine, by_name in (cleanup.get("user_networks") or {}).items() for net, done in by_name.items()]
    if nets:
        print(f"user networks: {'; '.join(nets)}")
    if cleanup.get("left_behind"):
        print(f"left behind: {cleanup['left_behind']}")
    for name, why in result.get("skipped", {}).items():
        print(f"skipped {name}: {why}")
