"""The soak's loop: ``clients`` threads, each driving one engine's CLI until a
deadline, and a sampler of the engine's service processes.

One round of a client (round ``k``, client ``c``):

* a batch of 1 .. ``batch`` containers (round ``k`` makes ``1 + k % batch``),
  each through its whole life, the batch stage by stage: ``create`` (busybox
  running :data:`SCRIPT`: it prints :data:`READY`, then waits and exits 0 on
  SIGTERM), ``start``, ``exec C echo <token>`` (must print the token), ``logs C``
  (must hold :data:`READY`), ``stop -t 1``, ``rm``;
* at a lower rate, staggered by client: a ``pull`` of the client's own image
  (busybox plus one small layer of its own, so each pull downloads and unpacks
  a layer) and its ``rmi``; a ``build`` (a Dockerfile ``FROM`` busybox with a
  ``COPY`` of a file rewritten each time and a ``RUN`` after it, so both run
  again and the previous image is left untagged); a prune round: every prune
  command the engine has, and, where ``container prune --filter`` exists, a
  labelled container created for it to remove.

Every call is recorded (:class:`bench.soak_stats.Op`) with its status; a call
the timeout cuts off is "unanswered". A container whose ``rm`` failed is
removed with ``rm -f`` (recorded too), so a failure never leaves a container
behind to skew what is counted after the run.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.soak_engines import PRUNE_LABEL
from bench.soak_stats import Held, Op

__all__ = ["LoopOptions", "Sampler", "run_loop", "warm_up", "READY", "SCRIPT", "read_rss_kib", "count_fds"]

READY = "soak-ready"
#: PID 1 of every soak container: a line for ``logs``, then a quick, clean exit on SIGTERM
SCRIPT = f"echo {READY}; trap 'exit 0' TERM; sleep 600 & wait"
DOCKERFILE = "FROM {image}\nCOPY stamp.txt /stamp.txt\nRUN cat /stamp.txt > /stamp-copy.txt\n"


@dataclass
class LoopOptions:
    clients: int = 4
    seconds: float = 300.0
    batch: int = 4          # a round's batch holds 1 .. batch containers
    pull_every: int = 3     # rounds between a client's pulls
    build_every: int = 4    # rounds between a client's builds
    prune_every: int = 5    # rounds between a client's prune rounds
    timeout: float = 120.0  # a call not answered by then counts as unanswered


@dataclass
class _Run:
    engine: object
    image: str
    pull_refs: list[str]
    workdir: Path
    opts: LoopOptions
    deadline: float
    held: Held = field(default_factory=Held)
    ops: list[Op] = field(default_factory=list)
    created: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, client: int, kind: str, args: list[str],
             check: Callable[[str], str] | None = None) -> str | None:
        """One CLI call; its stdout when it succeeded, else None (recorded either way)."""
        argv = self.engine.cli_argv(*args)  # type: ignore[attr-defined]
        start = time.monotonic()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  env={**os.environ, **self.engine.env},  # type: ignore[attr-defined]
                                  timeout=self.opts.timeout)
        except subprocess.TimeoutExpired:
            self._record(Op(client, kind, start, time.monotonic() - start, None,
                            f"no answer in {self.opts.timeout:.0f}s: {' '.join(args)}"))
            return None
        error = ""
        if proc.returncode != 0:
            error = f"{' '.join(args)}: {(proc.stderr or proc.stdout).strip()[-1500:]}"
        elif check is not None:
            error = check(proc.stdout)
        self._record(Op(client, kind, start, time.monotonic() - start, proc.returncode, error))
        return None if error else proc.stdout

    def _record(self, op: Op) -> None:
        with self.lock:
            self.ops.append(op)


def _expect_exact(token: str) -> Callable[[str], str]:
    return lambda out: "" if out.strip() == token else f"exec printed {out.strip()[:200]!r}, not {token!r}"


def _expect_line(line: str) -> Callable[[str], str]:
    return lambda out: "" if line in out.splitlines() else f"logs lack {line!r}: {out.strip()[:200]!r}"


def _remove(run: _Run, client: int, cid: str) -> None:
    if run.call(client, "rm", ["rm", cid]) is not None or run.call(client, "rm", ["rm", "-f", cid]) is not None:
        run.held.remove()


def _lifecycles(run: _Run, client: int, k: int) -> None:
    ids: list[str] = []
    for j in range(1 + k % run.opts.batch):
        seq = k * run.opts.batch + j + client
        out = run.call(client, "create", ["create", *run.engine.create_flags(seq),  # type: ignore[attr-defined]
                                          "--name", f"soak-c{client}-{k}-{j}", run.image, "sh", "-c", SCRIPT])
        if out is not None and out.strip():
            cid = out.strip().splitlines()[-1]
            ids.append(cid)
            run.held.add()
            with run.lock:
                run.created.add(cid)
    try:
        started = [cid for cid in ids if run.call(client, "start", ["start", cid]) is not None]
        for cid in started:
            token = f"soak-exec-{client}-{k}"
            run.call(client, "exec", ["exec", cid, "echo", token], _expect_exact(token))
        for cid in started:
            run.call(client, "logs", ["logs", cid], _expect_line(READY))
        for cid in started:
            run.call(client, "stop", ["stop", "-t", "1", cid])
    finally:
        for cid in ids:
            _remove(run, client, cid)


def _pull(run: _Run, client: int) -> None:
    ref = run.pull_refs[client % len(run.pull_refs)]
    if run.call(client, "pull", ["pull", *run.engine.pull_flags, ref]) is not None:  # type: ignore[attr-defined]
        run.call(client, "rmi", ["rmi", ref])


def _build(run: _Run, client: int, k: int) -> None:
    context = run.workdir / f"build-c{client}"
    if not context.is_dir():
        context.mkdir(parents=True)
        (context / "Dockerfile").write_text(DOCKERFILE.format(image=run.image))
    (context / "stamp.txt").write_text(f"client {client} round {k}\n")
    run.call(client, "build", ["build", *run.engine.build_flags,  # type: ignore[attr-defined]
                               "-t", f"soak/built:c{client}", str(context)])


def _prune(run: _Run, client: int, k: int) -> None:
    container_prune = run.engine.container_prune  # type: ignore[attr-defined]
    if container_prune is not None:
        out = run.call(client, "create", ["create", *run.engine.create_flags(1),  # type: ignore[attr-defined]
                                          "--label", f"{PRUNE_LABEL}=c{client}", "--name",
                                          f"soak-prune-c{client}-{k}", run.image, "true"])
        if out is not None and out.strip():
            cid = out.strip().splitlines()[-1]
            run.held.add()
            with run.lock:
                run.created.add(cid)
            mine = ["--filter", f"label={PRUNE_LABEL}=c{client}"]  # never another client's, between create and rm
            if run.call(client, "container prune", [*container_prune, *mine]) is not None:
                run.held.remove()
            else:
                _remove(run, client, cid)
    for kind, args in run.engine.prunes():  # type: ignore[attr-defined]
        run.call(client, kind, args)


def _client(run: _Run, client: int) -> None:
    k = 0
    while time.monotonic() < run.deadline:
        _lifecycles(run, client, k)
        phase = k + client
        if phase % run.opts.pull_every == 1:
            _pull(run, client)
        if phase % run.opts.build_every == 2:
            _build(run, client, k)
        if phase % run.opts.prune_every == 3:
            _prune(run, client, k)
        k += 1


def read_rss_kib(pid: int) -> int | None:
    """VmRSS of ``pid`` in KiB, None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def count_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class Sampler:
    """Every ``interval`` seconds, VmRSS and the descriptor count of each named
    process, as (monotonic time, value) pairs, and the number of containers the
    engine's own state holds (``containers``, when given: the peak the engine saw,
    beside the one the clients count)."""

    def __init__(self, pids: dict[str, int], interval: float = 1.0,
                 containers: Callable[[], int | None] | None = None) -> None:
        self.pids = pids
        self.interval = interval
        self.rss: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        self.fds: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        self.count_containers = containers
        self.containers: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="soak-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        now = time.monotonic()
        for name, pid in self.pids.items():
            rss, fds = read_rss_kib(pid), count_fds(pid)
            if rss is not None:
                self.rss[name].append((now, rss))
            if fds is not None:
                self.fds[name].append((now, fds))
        count = self.count_containers() if self.count_containers is not None else None
        if count is not None:
            self.containers.append((now, count))

    @property
    def peak_containers(self) -> int | None:
        return max((n for _, n in self.containers), default=None)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def run_loop(engine, image: str, pull_refs: list[str], workdir: Path, opts: LoopOptions,
             sampler: Sampler | None = None) -> dict:
    """``opts.clients`` clients against ``engine`` for ``opts.seconds``; each ends
    its round after the deadline. Returns the calls, the wall time from the
    start to the last client's end, the peak of containers held, every
    container id created and the monotonic start and end."""
    start = time.monotonic()
    run = _Run(engine, image, pull_refs, workdir, opts, start + opts.seconds)
    if sampler is not None:
        sampler.start()
    threads = [threading.Thread(target=_client, args=(run, c), name=f"soak-client-{c}") for c in range(opts.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    end = time.monotonic()
    if sampler is not None:
        sampler.stop()
    return {"ops": sorted(run.ops, key=lambda op: op.start), "start": start, "end": end,
            "peak_held": run.held.peak, "held_at_end": run.held.now, "created": sorted(run.created)}


def warm_up(engine, image: str, pull_refs: list[str], workdir: Path, opts: LoopOptions) -> list[Op]:
    """One untimed round of client 0 with every kind of call (a batch of two
    containers, one on the bridge where the engine alternates, a pull, a build,
    a prune round), so that what an engine makes once (its bridge and firewall
    chains, the runtime's warm helper, the base layers, the build's first step)
    exists before the host is looked at."""
    run = _Run(engine, image, pull_refs, workdir, opts, time.monotonic())
    _lifecycles(run, 0, 1)
    _pull(run, 0)
    _build(run, 0, 0)
    _prune(run, 0, 0)
    return run.ops
