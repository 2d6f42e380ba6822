"""Docker's unit grammars shared by the CLI, the services and barque-oci:
sizes (go-units RAMInBytes and FromHumanSize), CPUs, durations, signals, env files.
What the parsers import is checked from a fresh interpreter in tests/tools/test_lean_imports.py."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from client import units
from client.errors import InvalidArgument


# ---- sizes ---------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("512m", 512 * 1024 * 1024),
    ("1g", 1024 ** 3),
    ("1G", 1024 ** 3),
    ("100k", 102400),
    ("1024b", 1024),
    ("1024B", 1024),
    ("1024", 1024),
    ("0", 0),
    ("1.5k", 1536),
    ("1.5m", int(1.5 * 1024 * 1024)),
    ("1.5g", 3 << 29),
    ("10MB", 10 * 1024 * 1024),
    ("10mb", 10 * 1024 * 1024),
    ("10MiB", 10 * 1024 * 1024),
    ("10 m", 10 * 1024 * 1024),
    ("2 g", 2 << 30),
    ("1 kib", 1024),
    ("2t", 2 * 1024 ** 4),
    ("1p", 1 << 50),
    ("1 ", 1),
    # go-units reads the number with strconv.ParseFloat
    ("1.k", 1024),
    (".5m", 512 * 1024),
    ("1e3", 1000),
    ("1E3k", 1000 * 1024),
    ("+1m", 1 << 20),
    ("-0", 0),
    ("0.1k", 102),  # truncated toward zero
])
def test_ram_in_bytes(text, expected):
    assert units.ram_in_bytes(text) == expected


@pytest.mark.parametrize("text", [
    "", " ", "m", "b", "-1", "-1m", "12x", "1.2.3m", "1..2m", "1kk", "1ib", "1bb", "10i", "10ki",
    "1kibb", "ten", " 10m", "10m ", "1  m", "1\tm", "1e", "1e3.5", "0x10", "1_000", "inf", "nan",
    "1e400", "9e18k", "\uff11m",
])
def test_sizes_refused_name_the_value(text):
    for parse in (units.ram_in_bytes, units.from_human_size):
        with pytest.raises(InvalidArgument, match="invalid size") as exc:
            parse(text)
        assert repr(text) in str(exc.value)


@pytest.mark.parametrize("text,expected", [
    ("10m", 10_000_000), ("10M", 10_000_000), ("10mb", 10_000_000), ("10MiB", 10_000_000),
    ("1k", 1000), ("1.5g", 1_500_000_000), ("512", 512), ("512b", 512), ("0", 0),
    ("2 g", 2_000_000_000), ("1t", 10 ** 12), (".5k", 500),
    ("1.001k", 1000),  # float64 arithmetic, as Go: 1.001 * 1000 is 1000.9999999999999
])
def test_from_human_size_is_decimal(text, expected):
    assert units.from_human_size(text) == expected


def test_memory_swap_minus_one_is_unlimited():
    assert units.parse_memory_swap("-1") == -1
    assert units.parse_memory_swap("1g") == 1024 ** 3
    for text in ("-2", " -1", "-1m"):
        with pytest.raises(InvalidArgument, match="invalid size"):
            units.parse_memory_swap(text)


# ---- CPUs ----------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("1.5", 1_500_000_000), ("2", 2_000_000_000), ("0.01", 10_000_000),
    (".5", 500_000_000), ("0.000000001", 1), ("1e-3", 1_000_000), ("3/2", 1_500_000_000),
])
def test_parse_cpus_to_nano_cpus(text, expected):
    assert units.parse_cpus(text) == expected


@pytest.mark.parametrize("text,message", [
    ("abc", "rational"), ("", "rational"), ("0.0000000001", "too precise"), ("-1", "negative"),
    ("1/0", "rational"), ("1.5/2", "rational"),
])
def test_parse_cpus_refuses(text, message):
    with pytest.raises(InvalidArgument, match=message):
        units.parse_cpus(text)


# ---- durations -----------------------------------------------------------------

S = 1_000_000_000


@pytest.mark.parametrize("text,expected", [
    ("0", 0), ("-0", 0), ("+0", 0), ("0s", 0), ("10s", 10 * S), ("5m", 300 * S), ("1h30m", 5400 * S),
    ("1.5h", 5400 * S), ("300ms", 300_000_000), ("-1.5h", -5400 * S), ("+2m", 120 * S),
    ("1h1m1s1ms1us1ns", 3661 * S + 1_001_001), ("2\u00b5s", 2000), ("2\u03bcs", 2000),
    ("1.s", S), (".5s", S // 2), ("1.0000000001s", S), ("3m3m", 360 * S),
])
def test_parse_duration_is_gos(text, expected):
    assert units.parse_duration(text) == expected


@pytest.mark.parametrize("text", [
    "", "+", "-", "1", "10", "1.5", ".s", "s", "1d", "1 s", "1s ", "1S", "1h-1m", "1..5s",
    "10000000000000000000s", "\u0661s",
])
def test_parse_duration_refuses(text):
    with pytest.raises(InvalidArgument, match="invalid duration"):
        units.parse_duration(text)


# ---- signals -------------------------------------------------------------------

@pytest.mark.parametrize("value,number", [
    ("SIGTERM", 15), ("TERM", 15), ("term", 15), ("15", 15), ("9", 9), ("SIGKILL", 9), ("KILL", 9),
    ("sigusr1", signal.SIGUSR1), ("SIGRTMIN", 34), ("SIGRTMIN+3", 37), ("RTMAX", 64),
    ("SIGRTMAX-1", 63), ("SIGUSR1", 10), ("SIGWINCH", 28), ("IOT", 6), ("SIGCHLD", 17),
    (" HUP ", 1), (9, 9), (64, 64),
])
def test_parse_signal(value, number):
    assert units.parse_signal(value) == number


@pytest.mark.parametrize("value", ["0", "65", "999", "SIGFOO", "NOPE", "", "RTMIN+16", "-9", "SIG", 0, 65, -9])
def test_parse_signal_refuses(value):
    with pytest.raises(InvalidArgument, match="invalid signal"):
        units.parse_signal(value)


# ---- env files -----------------------------------------------------------------

def test_parse_env_file_follows_docker_rules(tmp_path: Path):
    path = tmp_path / "env"
    path.write_bytes(
        b"\xef\xbb\xbf# comment\n"
        b"\n"
        b"   \n"
        b"  # indented comment\n"
        b"PLAIN=value\n"
        b"  LEADING=kept verbatim  \n"
        b"EMPTY=\n"
        b"QUOTED=\"not unquoted\"\n"
        b"WITH=equals=inside\n"
        b"FROM_ENV\n"
        b"UNSET_VAR\n"
        b"CRLF=x\r\n"
    )
    assert units.parse_env_file(str(path), environ={"FROM_ENV": "hello"}) == [
        "PLAIN=value",
        "LEADING=kept verbatim  ",
        "EMPTY=",
        "QUOTED=\"not unquoted\"",
        "WITH=equals=inside",
        "FROM_ENV=hello",
        "CRLF=x",
    ]


def test_parse_env_file_uses_process_environment_by_default(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("BARQUE_TEST_ENVFILE", "from-os")
    path = tmp_path / "env"
    path.write_text("BARQUE_TEST_ENVFILE\n")
    assert units.parse_env_file(str(path)) == ["BARQUE_TEST_ENVFILE=from-os"]


@pytest.mark.parametrize("content,message", [
    (b"BAD KEY=1\n", "whitespace"),
    (b"=value\n", "no variable name"),
    (b"OK=1\nX=\xff\n", "invalid utf8 bytes at line 2"),
])
def test_parse_env_file_errors(tmp_path: Path, content, message):
    path = tmp_path / "env"
    path.write_bytes(content)
    with pytest.raises(InvalidArgument, match=message):
        units.parse_env_file(str(path), environ={})


def test_parse_env_file_missing_file(tmp_path: Path):
    with pytest.raises(InvalidArgument, match="open env file"):
        units.parse_env_file(str(tmp_path / "nope"))
