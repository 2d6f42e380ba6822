"""The health check's configuration and state machine (services/runtime/engine/health.py),
against moby's daemon/health.go and container/health.go."""

from __future__ import annotations

import pytest
from barque.runtime.v1.runtime_pb2 import ContainerConfig, HealthConfig

from client.errors import InvalidArgument
from services.runtime.engine import health as hc

MS = 1_000_000
S = 1_000_000_000


def _config(**fields) -> ContainerConfig:
    return ContainerConfig(image="x", healthcheck=HealthConfig(**fields))


# ---- merge and validation ----------------------------------------------------------------

def test_image_healthcheck_is_taken_when_the_container_sets_none():
    config = ContainerConfig(image="x")
    image = {"Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 2 * S, "Retries": 4}}
    hc.merge_healthcheck(config, image)
    assert list(config.healthcheck.test) == ["CMD-SHELL", "true"]
    assert config.healthcheck.interval == 2 * S and config.healthcheck.retries == 4
    assert config.healthcheck.timeout == 0  # Docker's default applies when probing, not in the config


def test_container_values_win_and_zeros_come_from_the_image():
    config = _config(interval=5 * S)
    image = {"Healthcheck": {"Test": ["CMD", "ping"], "Interval": 2 * S, "Timeout": 3 * S, "StartPeriod": 7 * S,
                             "StartInterval": 1 * S, "Retries": 9}}
    hc.merge_healthcheck(config, image)
    h = config.healthcheck
    assert (list(h.test), h.interval, h.timeout, h.start_period, h.start_interval, h.retries) == (
        ["CMD", "ping"], 5 * S, 3 * S, 7 * S, 1 * S, 9)


def test_none_disables_the_images_check():
    config = _config(test=["NONE"])
    hc.merge_healthcheck(config, {"Healthcheck": {"Test": ["CMD", "true"]}})
    assert list(config.healthcheck.test) == ["NONE"]
    assert hc.probe_args(config) is None


def test_no_check_anywhere_leaves_the_field_unset():
    config = ContainerConfig(image="x")
    hc.merge_healthcheck(config, {"Cmd": ["sh"]})
    assert not config.HasField("healthcheck")
    assert hc.probe_args(config) is None


@pytest.mark.parametrize("fields, message", [
    ({"interval": MS - 1}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"interval": -S}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"timeout": 10}, "Timeout in Healthcheck cannot be less than 1ms"),
    ({"start_period": 5}, "StartPeriod in Healthcheck cannot be less than 1ms"),
    ({"start_interval": 5}, "StartInterval in Healthcheck cannot be less than 1ms"),
    ({"retries": -1}, "Retries in Healthcheck cannot be negative"),
    ({"test": ["WHAT", "x"]}, "unknown healthcheck type 'WHAT' (expected CMD, CMD-SHELL or NONE)"),
    ({"test": ["CMD"]}, "healthcheck CMD needs a command"),
    ({"test": ["CMD-SHELL", ""]}, "healthcheck CMD-SHELL needs a command"),
])
def test_bad_values_are_refused_as_dockerd_does(fields, message):
    with pytest.raises(InvalidArgument) as err:
        hc.merge_healthcheck(_config(**fields), {})
    assert str(err.value) == message


def test_exactly_one_millisecond_passes():
    hc.merge_healthcheck(_config(test=["CMD", "true"], interval=MS, timeout=MS), {})


def test_probe_args_exec_and_shell_forms():
    assert hc.probe_args(_config(test=["CMD", "cat", "/x y"])) == ["cat", "/x y"]
    assert hc.probe_args(_config(test=["CMD-SHELL", "exit 3"])) == ["/bin/sh", "-c", "exit 3"]
    shell = _config(test=["CMD-SHELL", "exit 3"])
    shell.shell[:] = ["/bin/bash", "-ec"]
    assert hc.probe_args(shell) == ["/bin/bash", "-ec", "exit 3"]
    assert hc.probe_args(_config()) is None


def test_policy_defaults_are_dockers():
    pol = hc.policy(HealthConfig(test=["CMD", "true"]))
    assert pol == hc.HealthPolicy(interval=30.0, timeout=30.0, start_period=0.0, start_interval=30.0, retries=3)
    pol = hc.policy(HealthConfig(test=["CMD", "true"], interval=2 * S))
    assert pol.start_interval == 2.0  # no start interval: the interval paces the start period too
    pol = hc.policy(HealthConfig(interval=200 * MS, timeout=S, start_period=2 * S, start_interval=100 * MS,
                                 retries=1))
    assert pol == hc.HealthPolicy(interval=0.2, timeout=1.0, start_period=2.0, start_interval=0.1, retries=1)


# ---- the state machine ---------------------------------------------------------------------

POLICY = hc.HealthPolicy(interval=1.0, timeout=1.0, start_period=0.0, start_interval=5.0, retries=3)
T0 = 1_000_000.0


def _result(at: float, code: int, output: str = "") -> dict:
    return hc.result(int(at * S), int(at * S) + 1000, code, output)


def test_success_makes_it_healthy_and_an_event_names_it():
    state = hc.reset({})
    assert state == {"Status": "starting", "FailingStreak": 0, "Log": []}
    state, changed = hc.record_result(state, _result(T0 + 1, 0, "ok\n"), POLICY, T0)
    assert changed == "healthy"
    assert state["Status"] == "healthy" and state["FailingStreak"] == 0
    assert state["Log"][0]["ExitCode"] == 0 and state["Log"][0]["Output"] == "ok\n"
    assert set(state["Log"][0]) == {"Start", "End", "ExitCode", "Output"}
    state, changed = hc.record_result(state, _result(T0 + 2, 0), POLICY, T0)
    assert changed is None


def test_unhealthy_after_retries_consecutive_failures():
    state = hc.reset({})
    for i, expect in enumerate([None, None, "unhealthy"], start=1):
        state, changed = hc.record_result(state, _result(T0 + i, 1), POLICY, T0)
        assert changed == expect
        assert state["FailingStreak"] == i
    state, changed = hc.record_result(state, _result(T0 + 4, 1), POLICY, T0)
    assert changed is None and state["FailingStreak"] == 4
    state, changed = hc.record_result(state, _result(T0 + 5, 0), POLICY, T0)
    assert changed == "healthy" and state["FailingStreak"] == 0


def test_healthy_turns_unhealthy_only_after_retries():
    state, _ = hc.record_result(hc.reset({}), _result(T0 + 1, 0), POLICY, T0)
    for i in range(2):
        state, changed = hc.record_result(state, _result(T0 + 2 + i, 1), POLICY, T0)
        assert changed is None and state["Status"] == "healthy"
    state, changed = hc.record_result(state, _result(T0 + 5, 1), POLICY, T0)
    assert changed == "unhealthy"


def test_a_timeout_or_any_other_non_zero_code_is_a_failure():
    pol = hc.HealthPolicy(interval=1.0, timeout=1.0, start_period=0.0, start_interval=5.0, retries=1)
    state, changed = hc.record_result(hc.reset({}), _result(T0 + 1, -1, "Health check exceeded timeout (1s)"),
                                      pol, T0)
    assert changed == "unhealthy" and state["Log"][-1]["ExitCode"] == -1
    state, changed = hc.record_result(hc.reset({}), _result(T0 + 1, 2), pol, T0)
    assert changed == "unhealthy"


def test_failures_in_the_start_period_do_not_count_while_starting():
    pol = hc.HealthPolicy(interval=1.0, timeout=1.0, start_period=10.0, start_interval=5.0, retries=1)
    state = hc.reset({})
    for at in (1, 5, 9.9):
        state, changed = hc.record_result(state, _result(T0 + at, 1), pol, T0)
        assert changed is None and state == {**state, "Status": "starting", "FailingStreak": 0}
    assert len(state["Log"]) == 3  # recorded all the same
    state, changed = hc.record_result(state, _result(T0 + 10, 1), pol, T0)
    assert changed == "unhealthy" and state["FailingStreak"] == 1


def test_after_a_success_the_start_period_no_longer_shields():
    pol = hc.HealthPolicy(interval=1.0, timeout=1.0, start_period=10.0, start_interval=5.0, retries=1)
    state, _ = hc.record_result(hc.reset({}), _result(T0 + 1, 0), pol, T0)
    state, changed = hc.record_result(state, _result(T0 + 2, 1), pol, T0)
    assert changed == "unhealthy"


def test_log_keeps_the_last_five_oldest_first():
    state = hc.reset({})
    for i in range(8):
        state, _ = hc.record_result(state, _result(T0 + i, i % 2, f"run {i}"), POLICY, T0)
    assert [e["Output"] for e in state["Log"]] == [f"run {i}" for i in range(3, 8)]


def test_reset_keeps_the_log_and_stop_reports_unhealthy():
    state, _ = hc.record_result(hc.reset({}), _result(T0 + 1, 1), POLICY, T0)
    stopped = hc.monitor_stopped(state)
    assert stopped["Status"] == "unhealthy" and stopped["FailingStreak"] == 1 and stopped["Log"] == state["Log"]
    again = hc.reset(stopped)
    assert again["Status"] == "starting" and again["FailingStreak"] == 0 and again["Log"] == state["Log"]
    assert hc.monitor_stopped({}) == {}


def test_next_delay_follows_mobys_get_interval():
    pol = hc.HealthPolicy(interval=30.0, timeout=1.0, start_period=60.0, start_interval=5.0, retries=3)
    assert hc.next_delay(pol, 0.0, "starting") == 5.0
    assert hc.next_delay(pol, 0.0, "healthy") == 30.0
    assert hc.next_delay(pol, 45.0, "starting") == 15.0   # not past the period's end
    assert hc.next_delay(pol, 60.0, "starting") == 30.0
    plain = hc.HealthPolicy(interval=0.3, timeout=1.0, start_period=0.0, start_interval=5.0, retries=3)
    assert hc.next_delay(plain, 0.0, "starting") == 0.3


# ---- output and text forms -------------------------------------------------------------------

def test_output_is_bounded_with_an_ellipsis():
    out = hc.LimitedOutput()
    out.write(b"a" * 4000)
    out.write(b"b" * 200)
    out.write(b"c")
    text = out.text()
    assert text == "a" * 4000 + "b" * 96 + "..."
    small = hc.LimitedOutput()
    small.write(b"ok\n")
    assert small.text() == "ok\n" and not small.truncated
    exact = hc.LimitedOutput()
    exact.write(b"x" * 4096)
    assert exact.text() == "x" * 4096


def test_invalid_utf8_is_replaced():
    out = hc.LimitedOutput()
    out.write(b"\xff ok")
    assert out.text() == "\ufffd ok"


@pytest.mark.parametrize("ns, text", [
    (30 * S, "30s"), (500 * MS, "500ms"), (1500 * MS, "1.5s"), (90 * S, "1m30s"), (3600 * S, "1h0m0s"),
    (1000, "1µs"), (1, "1ns"), (0, "0s"), (MS, "1ms"), (250 * MS + 500_000, "250.5ms"), (61 * S + 5 * MS, "1m1.005s"),
])
def test_go_duration(ns, text):
    assert hc.go_duration(ns) == text


def test_timeout_output_is_dockers():
    assert hc.timeout_output(30.0, "") == "Health check exceeded timeout (30s)"
    assert hc.timeout_output(0.5, "partial\n") == "Health check exceeded timeout (500ms): partial\n"


def test_go_time_is_rfc3339_nano_utc():
    assert hc.go_time(1_700_000_000 * S + 120_000_000) == "2023-11-14T22:13:20.12Z"
    assert hc.go_time(1_700_000_000 * S) == "2023-11-14T22:13:20Z"
    assert hc.go_time(1_700_000_000 * S + 1) == "2023-11-14T22:13:20.000000001Z"
