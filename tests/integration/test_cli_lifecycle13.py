"""Restart policies, ``barque restart``, health checks and ``--init``
through the real CLI and a real engine, as a user sees them: the flags
reach inspect (HostConfig.RestartPolicy, RestartCount, Config.Healthcheck,
HostConfig.Init), ``ps`` shows Docker's STATUS ("Up 2 seconds (healthy)",
"Restarting (1) ...") and filters on health=, ``restart`` prints each
name and reports each failure. The engine's own timing (backoff, probe
schedule) is tested beside its code; here only what the CLI shows.

Every container a test makes is removed after it.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _container(engine, ref: str) -> dict:
    return json.loads(engine.ok("inspect", "--type", "container", ref).stdout)[0]


def _status(engine, name: str) -> str:
    return engine.ok("ps", "-a", "--filter", f"name=^{name}$", "--format", "{{.Status}}").stdout.strip()


def test_restart_prints_each_name_and_starts_again(clean, busybox):
    engine = clean
    engine.ok("run", "-d", "--name", "again", busybox, "sleep", "600")
    before = _container(engine, "again")["State"]
    res = engine.cli("restart", "-t", "1", "again", "ghost")
    assert (res.returncode, res.stdout) == (125, "again\n")
    assert "No such container: ghost" in res.stderr
    after = _container(engine, "again")["State"]
    assert after["Running"] is True and after["Pid"] != before["Pid"]
    assert after["StartedAt"] > before["StartedAt"]
    # a stopped container is started
    engine.ok("stop", "-t", "0", "again")
    assert engine.ok("container", "restart", "again").stdout == "again\n"
    assert _container(engine, "again")["State"]["Running"] is True


def test_on_failure_restarts_up_to_its_count(clean, busybox):
    engine = clean
    engine.ok("run", "-d", "--name", "flaky", "--restart", "on-failure:2", busybox, "sh", "-c", "exit 3")
    wait_for(lambda: _container(engine, "flaky")["RestartCount"] == 2 and not _container(
        engine, "flaky")["State"]["Running"] and not _container(engine, "flaky")["State"]["Restarting"],
        timeout=30, what="two restarts then the end")
    c = _container(engine, "flaky")
    assert c["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert c["State"]["ExitCode"] == 3
    assert re.fullmatch(r"Exited \(3\) .* ago", _status(engine, "flaky"))


def test_always_shows_restarting_and_stop_prevents_a_restart(clean, busybox):
    engine = clean
    engine.ok("run", "-d", "--name", "loop", "--restart", "always", busybox, "sh", "-c", "exit 1")
    seen: list[str] = []

    def restarting() -> bool:
        seen.append(_status(engine, "loop"))
        return seen[-1].startswith("Restarting (1) ")

    wait_for(restarting, timeout=30, what="ps to show Restarting")
    assert re.fullmatch(r"Restarting \(1\) (Less than a second|\d+ seconds?) ago", seen[-1])
    engine.ok("stop", "loop")
    count = _container(engine, "loop")["RestartCount"]
    time.sleep(2)
    c = _container(engine, "loop")
    assert (c["RestartCount"], c["State"]["Running"], c["State"]["Restarting"]) == (count, False, False)
    assert c["HostConfig"]["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0}


def test_health_status_in_ps_and_its_filter(clean, busybox):
    engine = clean
    engine.ok("run", "-d", "--name", "fine", "--health-cmd", "true", "--health-interval", "300ms", busybox,
              "sleep", "600")
    engine.ok("run", "-d", "--name", "sick", "--health-cmd", "echo no; exit 1", "--health-interval", "300ms",
              "--health-retries", "1", busybox, "sleep", "600")
    engine.ok("run", "-d", "--name", "plain", busybox, "sleep", "600")
    wait_for(lambda: _status(engine, "fine").endswith("(healthy)"), timeout=30, what="healthy")
    wait_for(lambda: _status(engine, "sick").endswith("(unhealthy)"), timeout=30, what="unhealthy")
    assert re.fullmatch(r"Up .* \(healthy\)", _status(engine, "fine"))
    assert re.fullmatch(r"Up [^(]*", _status(engine, "plain"))

    def names(*filters: str) -> list[str]:
        args = [a for f in filters for a in ("--filter", f)]
        return sorted(engine.ok("ps", *args, "--format", "{{.Names}}").lines)

    assert names("health=healthy") == ["fine"]
    assert names("health=unhealthy") == ["sick"]
    assert names("health=none") == ["plain"]
    assert names("health=healthy", "health=unhealthy") == ["fine", "sick"]
    res = engine.cli("ps", "--filter", "health=ok")
    assert res.returncode == 125 and "Unrecognised filter value for health: ok" in res.stderr

    c = _container(engine, "sick")
    assert c["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "echo no; exit 1"]
    assert c["Config"]["Healthcheck"]["Interval"] == 300_000_000 and c["Config"]["Healthcheck"]["Retries"] == 1
    health = c["State"]["Health"]
    assert health["Status"] == "unhealthy" and health["FailingStreak"] >= 1
    assert health["Log"][-1]["ExitCode"] == 1 and health["Log"][-1]["Output"] == "no\n"


def test_no_healthcheck(clean, busybox):
    engine = clean
    engine.ok("run", "-d", "--name", "none", "--no-healthcheck", busybox, "sleep", "600")
    c = _container(engine, "none")
    assert c["Config"]["Healthcheck"]["Test"] == ["NONE"]
    assert c["State"].get("Health") is None
    assert re.fullmatch(r"Up [^(]*", _status(engine, "none"))


def test_init_is_process_one(clean, busybox):
    engine = clean
    assert engine.ok("run", "--rm", busybox, "cat", "/proc/1/comm").stdout == "cat\n"
    init = engine.ok("run", "--rm", "--init", busybox, "cat", "/proc/1/comm").stdout
    assert init.strip() not in ("cat", "sh", "")
    assert engine.ok("run", "--rm", "--init=false", busybox, "cat", "/proc/1/comm").stdout == "cat\n"
    engine.ok("create", "--name", "inited", "--init", busybox, "true")
    assert _container(engine, "inited")["HostConfig"]["Init"] is True
