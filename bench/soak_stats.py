"""The soak's arithmetic and its report, pure: no process, no file.

* :class:`Op` is one answered (or unanswered) CLI call of a client;
  :func:`op_summary` counts them per kind and overall, with ops per second;
* :func:`quarter_means` splits per-second samples of a run into its four
  quarters by time; :func:`rss_verdict` holds a service's RSS of the last
  quarter against the second's (at most ``1 + growth`` times it);
  :func:`fd_verdict` holds the descriptors a service has at the end against the
  most it had in the second quarter, plus a small slack;
* :class:`Held` counts the containers that exist (created, not yet removed)
  and keeps the peak;
* :func:`format_report` is the table ``make soak`` prints.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

__all__ = ["Op", "Held", "op_summary", "quarter_means", "rss_verdict", "fd_verdict", "chain_ids",
           "format_report", "ratio"]

#: a service may grow this much from the second quarter to the last (10%)
RSS_GROWTH = 0.10
#: descriptors a service may hold at the end above the second quarter's peak
FD_SLACK = 8


@dataclass(frozen=True)
class Op:
    """One CLI call: ``kind`` (create, start, exec, logs, stop, rm, pull, rmi, build, prune),
    when it started (monotonic seconds) and how long it took; ``rc`` is None when it was
    never answered (the timeout ran out); ``error`` says what was wrong with an answer
    (a non-zero status, or output that is not what the command must print)."""

    client: int
    kind: str
    start: float
    seconds: float
    rc: int | None
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.rc is not None

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.error


class Held:
    """Containers that exist now (created and not yet removed), and the most at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.now += n
            self.peak = max(self.peak, self.now)

    def remove(self, n: int = 1) -> None:
        with self._lock:
            self.now -= n


def op_summary(ops: list[Op], seconds: float) -> dict:
    """Counts of ``ops`` (total, answered, failed, unanswered), ops per second over
    ``seconds`` of wall time, and per kind the count, failures and median seconds;
    ``failures`` lists the first twenty failed calls."""
    kinds: dict[str, list[Op]] = {}
    for op in ops:
        kinds.setdefault(op.kind, []).append(op)

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        mid = len(ordered) // 2
        return round(ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2, 4)

    bad = [op for op in ops if not op.ok]
    return {
        "total": len(ops),
        "answered": sum(op.answered for op in ops),
        "unanswered": sum(not op.answered for op in ops),
        "failed": len(bad),
        "seconds": round(seconds, 2),
        "ops_per_s": round(len(ops) / seconds, 2) if seconds > 0 else 0.0,
        "by_kind": {kind: {"count": len(group), "failed": sum(not op.ok for op in group),
                           "median_s": median([op.seconds for op in group])}
                    for kind, group in sorted(kinds.items())},
        "failures": [asdict(op) for op in bad[:20]],
    }


def quarter_means(samples: list[tuple[float, float]], start: float, end: float) -> list[float | None]:
    """The mean value of ``samples`` ((time, value) pairs) in each quarter of
    [``start``, ``end``]; None for a quarter without a sample. A sample on a
    boundary belongs to the later quarter; the end belongs to the last."""
    if end <= start:
        raise ValueError(f"a run must end after it starts: {start} .. {end}")
    span = (end - start) / 4
    groups: list[list[float]] = [[], [], [], []]
    for t, value in samples:
        if start <= t <= end:
            groups[min(int((t - start) / span), 3)].append(value)
    return [round(sum(g) / len(g), 1) if g else None for g in groups]


def rss_verdict(quarters: list[float | None], growth: float = RSS_GROWTH) -> dict:
    """Whether the last quarter's mean RSS is within ``growth`` of the second's."""
    second, last = quarters[1], quarters[3]
    if second is None or last is None:
        return {"quarters_kib": quarters, "growth": None, "ok": False, "why": "a quarter has no sample"}
    change = round(last / second - 1, 4) if second else None
    ok = second > 0 and last <= (1 + growth) * second
    return {"quarters_kib": quarters, "growth": change, "ok": ok,
            "why": "" if ok else f"last quarter {last:.0f} KiB > {1 + growth:.2f} x second {second:.0f} KiB"}


def fd_verdict(samples: list[tuple[float, float]], start: float, end: float, final: int,
               slack: int = FD_SLACK) -> dict:
    """Descriptors at the end of the run (``final``, once the clients are done)
    against the most the service held in the run's second quarter, plus ``slack``."""
    span = (end - start) / 4
    second = [int(v) for t, v in samples if start + span <= t < start + 2 * span]
    if not second:
        return {"second_quarter_max": None, "final": final, "ok": False, "why": "no sample in the second quarter"}
    peak = max(second)
    ok = final <= peak + slack
    return {"second_quarter_max": peak, "final": final, "ok": ok,
            "why": "" if ok else f"{final} fds at the end > {peak} (second quarter's most) + {slack}"}


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI ChainIDs of a layer stack: chain[0] = diff[0], chain[n] = sha256(chain[n-1] + " " + diff[n])."""
    import hashlib

    chain: list[str] = []
    for diff_id in diff_ids:
        chain.append(diff_id if not chain else
                     "sha256:" + hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest())
    return chain


def ratio(ours: float | None, theirs: float | None) -> float | None:
    return round(ours / theirs, 2) if ours and theirs else None


def _mib(kib: float | None) -> str:
    return f"{kib / 1024:.1f}" if kib is not None else "-"


def format_report(result: dict) -> str:
    """The table of one soak: per engine ops/s, answered/failed, the peak of
    containers held (as the clients count them, and as the engine's own state
    listed them in the per-second samples) and the ratios against barque; then barque's services (RSS
    per quarter, fds) and its leak checks."""
    lines = [f"soak: {result['seconds']} s per engine, {result['clients']} clients", ""]
    engines = result["engines"]
    lines.append(f"{'engine':<8} {'ops':>6} {'ops/s':>7} {'answered':>9} {'failed':>7} {'peak held':>10}"
                 f" {'peak listed':>12} {'barque/it ops/s':>16} {'barque/it peak':>15}")
    ours = engines.get("barque", {})
    for name, run in engines.items():
        if "error" in run:
            lines.append(f"{name:<8} failed: {run['error'][:200]}")
            continue
        ops = run["ops"]
        rel = [ratio(ours.get("ops", {}).get("ops_per_s"), ops["ops_per_s"]), ratio(ours.get("peak_held"),
                                                                                    run["peak_held"])]
        shown = ["-" if name == "barque" or r is None else f"{r:.2f}x" for r in rel]
        lines.append(f"{name:<8} {ops['total']:>6} {ops['ops_per_s']:>7.2f} {ops['answered']:>9} {ops['failed']:>7}"
                     f" {run['peak_held']:>10} {str(run.get('peak_listed', '-')):>12} {shown[0]:>16}"
                     f" {shown[1]:>15}")
    loads = [f"{name} {run['loadavg_1m'][0]} -> {run['loadavg_1m'][1]}" for name, run in engines.items()
             if "loadavg_1m" in run]
    if loads:
        lines.append("load average (1 min) at each engine's start and end: " + ", ".join(loads))
    for name, why in result.get("skipped", {}).items():
        lines.append(f"{name:<8} skipped: {why}")
    barque = ours
    if "services" in barque:
        lines += ["", "barque's services: RSS (MiB) per quarter, descriptors",
                  f"{'service':<14} {'q1':>7} {'q2':>7} {'q3':>7} {'q4':>7} {'q4/q2':>7} {'fds q2 max':>11}"
                  f" {'fds end':>8}  verdict"]
        for service, facts in barque["services"].items():
            q = facts["rss"]["quarters_kib"]
            growth = facts["rss"]["growth"]
            verdict = "ok" if facts["rss"]["ok"] and facts["fds"]["ok"] else \
                "; ".join(w for w in (facts["rss"]["why"], facts["fds"]["why"]) if w)
            lines.append(f"{service:<14} {_mib(q[0]):>7} {_mib(q[1]):>7} {_mib(q[2]):>7} {_mib(q[3]):>7}"
                         f" {(f'{1 + growth:.3f}' if growth is not None else '-'):>7}"
                         f" {str(facts['fds']['second_quarter_max']):>11} {facts['fds']['final']:>8}  {verdict}")
    if "leaks" in barque:
        lines += ["", "leaks after barque's run: " + (", ".join(f"{k}: {sorted(v)[:5]}" for k, v in
                                                             barque["leaks"].items()) or "none")]
    if barque.get("ops", {}).get("failures"):
        lines += ["", "failed calls (first ones):"]
        lines += [f"  client {f['client']} {f['kind']} rc={f['rc']}: {f['error'][:200]}"
                  for f in barque["ops"]["failures"][:10]]
    for note in result.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)
