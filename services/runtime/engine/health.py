"""Health checks as Docker's: the configuration, merged with the image's, and
the state machine of a container's health, kept pure (no threads, no clock of
its own, no processes) so it is tested on its own. The scheduler that runs the
probes is :mod:`services.runtime.engine.healthmonitor`.

The state is kept in the container record in Docker's shape
(``{"Status", "FailingStreak", "Log"}``, the ``State.Health`` of inspect), so
it survives a restart of the runtime service. Constants and transitions follow
moby's ``daemon/health.go`` and ``container/health.go``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HealthConfig

from client.errors import InvalidArgument
from services.runtime.spec.options import applies

__all__ = [
    "STARTING",
    "HEALTHY",
    "UNHEALTHY",
    "MAX_OUTPUT",
    "MAX_LOG_ENTRIES",
    "HealthPolicy",
    "LimitedOutput",
    "merge_healthcheck",
    "probe_args",
    "policy",
    "reset",
    "record_result",
    "monitor_stopped",
    "next_delay",
    "result",
    "timeout_output",
    "go_duration",
    "go_time",
]

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"

#: Docker keeps at most this many bytes of a probe's output ("..." marks a cut)
MAX_OUTPUT = 4096
#: and the last this many results
MAX_LOG_ENTRIES = 5

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_PERIOD = 0
DEFAULT_RETRIES = 3
#: Docker's containertypes.MinimumDuration
MINIMUM_DURATION = 1_000_000

_KINDS = ("CMD", "CMD-SHELL", "NONE")


# ---- configuration ---------------------------------------------------------------

@applies("Config.healthcheck")
def merge_healthcheck(config: ContainerConfig, image_config: dict) -> None:
    """Check the caller's ``config.healthcheck`` as dockerd does at create,
    then fill what it leaves unset from the image's ``Healthcheck`` (moby's
    ``merge`` in daemon/commit.go): the test when it has none, each zero
    duration and zero retries. Docker's own defaults are not written here:
    inspect shows the merged values, and the defaults apply when probing."""
    if config.HasField("healthcheck"):
        _validate(config.healthcheck)
    image = image_config.get("Healthcheck")
    if not isinstance(image, dict):
        return
    if not config.HasField("healthcheck"):
        config.healthcheck.SetInParent()
    hc = config.healthcheck
    if not hc.test:
        hc.test[:] = [str(t) for t in image.get("Test") or []]
    for name, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                      ("start_interval", "StartInterval"), ("retries", "Retries")):
        if not getattr(hc, name):
            setattr(hc, name, int(image.get(key) or 0))


def _validate(hc: HealthConfig) -> None:
    """dockerd's checks (daemon/container.go validateHealthCheck), plus a test
    that could never run: an unknown kind, or CMD without a command."""
    for name, value in (("Interval", hc.interval), ("Timeout", hc.timeout),
                        ("StartPeriod", hc.start_period), ("StartInterval", hc.start_interval)):
        if value != 0 and value < MINIMUM_DURATION:
            raise InvalidArgument(f"{name} in Healthcheck cannot be less than {go_duration(MINIMUM_DURATION)}")
    if hc.retries < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")
    if hc.test:
        kind = hc.test[0]
        if kind not in _KINDS:
            raise InvalidArgument(f"unknown healthcheck type {kind!r} (expected CMD, CMD-SHELL or NONE)")
        if kind != "NONE" and not [t for t in hc.test[1:] if t]:
            raise InvalidArgument(f"healthcheck {kind} needs a command")


def probe_args(config: ContainerConfig) -> list[str] | None:
    """The command a probe execs, or None when the container has no check
    (none configured, ``["NONE"]``, or a kind Docker ignores): CMD's
    arguments as they are, CMD-SHELL's command under the container's shell
    (Config.Shell, else ``/bin/sh -c``)."""
    if not config.HasField("healthcheck"):
        return None
    test = list(config.healthcheck.test)
    if not test or test[0] not in ("CMD", "CMD-SHELL") or not test[1:]:
        return None
    if test[0] == "CMD-SHELL":
        return [*(list(config.shell) or ["/bin/sh", "-c"]), *test[1:]]
    return test[1:]


@dataclass(frozen=True)
class HealthPolicy:
    """The effective schedule, Docker's defaults in place of zeros (seconds).

    Without a start interval, probes keep the interval during the start
    period too, as Docker 20.10 (which has none); Docker 25's daemon would
    fall back to 5 s there, which no 20.10 client asked for."""

    interval: float
    timeout: float
    start_period: float
    start_interval: float
    retries: int


def policy(hc: HealthConfig) -> HealthPolicy:
    return HealthPolicy(
        interval=(hc.interval or DEFAULT_INTERVAL) / SECOND,
        timeout=(hc.timeout or DEFAULT_TIMEOUT) / SECOND,
        start_period=(hc.start_period or DEFAULT_START_PERIOD) / SECOND,
        start_interval=(hc.start_interval or hc.interval or DEFAULT_INTERVAL) / SECOND,
        retries=hc.retries if hc.retries > 0 else DEFAULT_RETRIES,
    )


# ---- the state machine -------------------------------------------------------------

def reset(health: dict) -> dict:
    """The state of a container that (re)started, or whose monitor resumed
    after the runtime service restarted (moby's initHealthMonitor): starting,
    no failing streak; the log of earlier results is kept."""
    return {"Status": STARTING, "FailingStreak": 0, "Log": list(health.get("Log") or [])}


def record_result(health: dict, entry: dict, pol: HealthPolicy, started_at: float) -> tuple[dict, str | None]:
    """``health`` after the probe result ``entry`` (see :func:`result`) of a
    container started at ``started_at`` (epoch seconds), and the new status
    when it changed (for the ``health_status`` event), else None.

    A success makes it healthy and clears the streak. A failure adds to the
    streak, except while still starting within the start period; the streak
    reaching ``retries`` makes it unhealthy."""
    status = health.get("Status") or UNHEALTHY
    streak = int(health.get("FailingStreak") or 0)
    log = [*(health.get("Log") or []), entry][-MAX_LOG_ENTRIES:]
    new = status
    if entry["ExitCode"] == 0:
        streak, new = 0, HEALTHY
    else:
        in_grace = status == STARTING and entry["_start"] - started_at < pol.start_period
        if not in_grace:
            streak += 1
            if streak >= pol.retries:
                new = UNHEALTHY
    log = [{k: v for k, v in e.items() if not k.startswith("_")} for e in log]
    return {"Status": new, "FailingStreak": streak, "Log": log}, (new if new != status else None)


def monitor_stopped(health: dict) -> dict:
    """The state once the container stopped and its monitor with it: Docker
    reports unhealthy then ("for compatibility reasons", container/health.go)."""
    return {**health, "Status": UNHEALTHY} if health else health


def next_delay(pol: HealthPolicy, since_start: float, status: str) -> float:
    """Seconds until the next probe, from the end of the last one (or from
    the start): the start interval while starting within the start period,
    never past the period's end; the interval after (moby's getInterval)."""
    if since_start >= pol.start_period:
        return pol.interval
    remaining = pol.start_period - since_start
    if remaining < pol.interval:
        return remaining
    return pol.start_interval if status == STARTING else pol.interval


def result(start_ns: int, end_ns: int, exit_code: int, output: str) -> dict:
    """One Log entry, Docker's HealthcheckResult (``_start`` is for
    :func:`record_result` and not kept)."""
    return {"Start": go_time(start_ns), "End": go_time(end_ns), "ExitCode": exit_code, "Output": output,
            "_start": start_ns / SECOND}


def timeout_output(timeout: float, output: str) -> str:
    """Docker's output of a probe killed at its timeout."""
    text = f"Health check exceeded timeout ({go_duration(round(timeout * SECOND))})"
    return f"{text}: {output}" if output else text


class LimitedOutput:
    """A probe's stdout and stderr as they come, at most :data:`MAX_OUTPUT`
    bytes kept; "..." added when more was written (moby's limitedBuffer)."""

    def __init__(self, limit: int = MAX_OUTPUT) -> None:
        self._limit = limit
        self._buf = bytearray()
        self.truncated = False

    def write(self, data: bytes) -> None:
        room = self._limit - len(self._buf)
        if room > 0:
            self._buf += data[:room]
        if len(data) > max(room, 0):
            self.truncated = True

    def text(self) -> str:
        out = bytes(self._buf).decode("utf-8", errors="replace")
        return out + "..." if self.truncated else out


# ---- Go's text forms ---------------------------------------------------------------------

def go_duration(ns: int) -> str:
    """Go's time.Duration.String: 30s, 500ms, 1.5s, 1m30s, 1h0m0s, 1µs."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < SECOND:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _fraction(ns, size) + unit
    hours, rest = divmod(ns, 3600 * SECOND)
    minutes, rest = divmod(rest, 60 * SECOND)
    text = _fraction(rest, SECOND) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _fraction(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    digits = f"{frac:0{len(str(size)) - 1}d}".rstrip("0") if size > 1 else ""
    return f"{whole}.{digits}" if digits else str(whole)


def go_time(ns: int) -> str:
    """A time as Go's JSON writes it (RFC 3339, nanoseconds without trailing
    zeros), in UTC."""
    secs, frac = divmod(ns, SECOND)
    digits = f"{frac:09d}".rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + (f".{digits}" if digits else "") + "Z"
