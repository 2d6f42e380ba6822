"""--restart, the health flags and their Go durations as the client reads
them (client/lifecycle.py), compared with docker-cli v20.10.27
``opts/parse.go`` ParseRestartPolicy and ``cli/command/container/opts.go``
parse (health, the --rm conflict), moby v20.10 ``daemon/container.go``
validateRestartPolicy, Go's ``time.ParseDuration`` and ``strconv.ParseInt``
as pflag reports them (messages checked against the docker CLI installed
here, which refuses these before contacting a daemon)."""

from __future__ import annotations

import pytest

from client.errors import InvalidArgument
from client.lifecycle import check_restart_with_rm, go_duration, go_int, health_config, parse_restart_policy


@pytest.mark.parametrize("text, name, count", [
    ("no", "no", 0), ("always", "always", 0), ("unless-stopped", "unless-stopped", 0),
    ("on-failure", "on-failure", 0), ("on-failure:3", "on-failure", 3), ("on-failure:+2", "on-failure", 2),
    ("", "", 0), ("always:0", "always", 0),
])
def test_restart_policies(text, name, count):
    assert parse_restart_policy(text) == {"name": name, "maximum_retry_count": count}


@pytest.mark.parametrize("text, message", [
    ("on-failure:1:2", "invalid restart policy format"),
    ("on-failure:x", "maximum retry count must be an integer"),
    ("on-failure:", "maximum retry count must be an integer"),
    ("on-failure: 1", "maximum retry count must be an integer"),
    ("always:2", "maximum retry count cannot be used with restart policy 'always'"),
    ("no:1", "maximum retry count cannot be used with restart policy 'no'"),
    ("on-failure:-1", "maximum retry count cannot be negative"),
    ("sometimes", "invalid restart policy 'sometimes'"),
    ("Always", "invalid restart policy 'Always'"),
])
def test_restart_refusals(text, message):
    with pytest.raises(InvalidArgument) as info:
        parse_restart_policy(text)
    assert str(info.value) == message


def test_restart_conflicts_with_rm_unless_none():
    for text in ("always", "on-failure:2", "unless-stopped"):
        with pytest.raises(InvalidArgument, match="^Conflicting options: --restart and --rm$"):
            check_restart_with_rm(parse_restart_policy(text), True)
    check_restart_with_rm(parse_restart_policy("no"), True)
    check_restart_with_rm(None, True)
    check_restart_with_rm(parse_restart_policy("always"), False)


@pytest.mark.parametrize("text, ns", [("0", 0), ("1s", 10**9), ("1.5s", 1_500_000_000), ("1h30m", 5400 * 10**9),
                                      ("300ms", 300 * 10**6), ("-2s", -2 * 10**9), ("2us", 2000), (".5s", 5 * 10**8)])
def test_go_durations(text, ns):
    assert go_duration("--health-interval", text) == ns


@pytest.mark.parametrize("text, why", [
    ("5", 'time: missing unit in duration "5"'),
    ("1s5", 'time: missing unit in duration "1s5"'),
    ("5x", 'time: unknown unit "x" in duration "5x"'),
    ("5 s", 'time: unknown unit " s" in duration "5 s"'),
    ("", 'time: invalid duration ""'),
    ("s", 'time: invalid duration "s"'),
    (".s", 'time: invalid duration ".s"'),
    ("-", 'time: invalid duration "-"'),
    ("99999999999h", 'time: invalid duration "99999999999h"'),
])
def test_go_duration_refusals_as_pflag_reports_them(text, why):
    with pytest.raises(InvalidArgument) as info:
        go_duration("--health-timeout", text)
    assert str(info.value) == f'invalid argument "{text}" for "--health-timeout" flag: {why}'


def test_go_ints():
    assert [go_int("--health-retries", t) for t in ("3", "-1", "0x10", "010", "0o7", "1_0", "+4")] == [
        3, -1, 16, 8, 7, 10, 4]
    for bad in ("x", "", " 3", "3.0", "٣"):
        with pytest.raises(InvalidArgument) as info:
            go_int("--health-retries", bad)
        assert str(info.value).endswith(f'strconv.ParseInt: parsing "{bad}": invalid syntax')


def _health(cmd=None, interval=None, timeout=None, start=None, retries=None, none=False):
    return health_config(cmd, interval, timeout, start, retries, none)


def test_health_cmd_is_cmd_shell_with_the_other_settings_in_nanoseconds():
    assert _health("curl -f localhost", "5s", "2s", "30s", "3") == {
        "test": ["CMD-SHELL", "curl -f localhost"], "interval": 5 * 10**9, "timeout": 2 * 10**9,
        "start_period": 30 * 10**9, "retries": 3}


def test_settings_without_a_command_keep_the_images_test():
    assert _health(interval="1s") == {"test": [], "interval": 10**9, "timeout": 0, "start_period": 0, "retries": 0}


def test_no_flags_no_config_and_zero_values_are_no_settings():
    assert _health() is None
    assert _health(interval="0s", retries="0", cmd="") is None


def test_no_healthcheck_is_none_and_conflicts_with_any_setting():
    assert _health(none=True) == {"test": ["NONE"]}
    for kwargs in ({"cmd": "true"}, {"interval": "1s"}, {"retries": "1"}, {"start": "1s"}, {"timeout": "1s"}):
        with pytest.raises(InvalidArgument, match="^--no-healthcheck conflicts with --health-\\* options$"):
            _health(none=True, **kwargs)


@pytest.mark.parametrize("kwargs, flag", [({"interval": "-1s"}, "interval"), ({"timeout": "-1s"}, "timeout"),
                                          ({"retries": "-1"}, "retries"), ({"start": "-1ms"}, "start-period")])
def test_negative_settings_are_refused_by_name(kwargs, flag):
    with pytest.raises(InvalidArgument) as info:
        _health(cmd="true", **kwargs)
    assert str(info.value) == f"--health-{flag} cannot be negative"
