"""Container log files: writer formats, line splitting, rotation, the reader
(tail, since/until, follow across rotation)."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from services.runtime.engine import logs
from services.runtime.engine.logs import (
    InvalidLogOption, LogRecord, LogWriter, format_timestamp, log_files, parse_record,
    parse_timestamp, read_logs,
)

T0 = 1_795_824_000_123_456_789  # 2026-11-28T00:00:00.123456789Z


def _lines(path) -> list[str]:
    return path.read_text().splitlines()


def _read(path, driver="json-file", **kw) -> list[tuple[str, bytes]]:
    return [(r.stream, r.data) for r in read_logs(str(path), driver, follow=False, **kw)]


def test_json_file_records_match_dockers_format(tmp_path):
    path = tmp_path / "c.log"
    w = LogWriter(str(path), "json-file")
    w.write("stdout", b"hello\nwor", T0)
    w.write("stderr", b"oops \xc3\xa9 \"q\" \x01\n", T0 + 1)
    w.write("stdout", b"ld\n", T0 + 2)
    w.close()
    assert _lines(path) == [
        '{"log":"hello\\n","stream":"stdout","time":"2026-11-28T00:00:00.123456789Z"}',
        '{"log":"oops \u00e9 \\"q\\" \\u0001\\n","stream":"stderr",'
        '"time":"2026-11-28T00:00:00.123456790Z"}',
        '{"log":"world\\n","stream":"stdout","time":"2026-11-28T00:00:00.123456791Z"}',
    ]
    assert oct(path.stat().st_mode & 0o777) == "0o640"


def test_k8s_file_records_match_cri_format(tmp_path):
    path = tmp_path / "c.log"
    w = LogWriter(str(path), "k8s-file")
    w.write("stdout", b"hello\n\nbye", T0)
    w.flush("stdout", T0)
    w.close()
    assert _lines(path) == [
        "2026-11-28T00:00:00.123456789+00:00 stdout F hello",
        "2026-11-28T00:00:00.123456789+00:00 stdout F ",
        "2026-11-28T00:00:00.123456789+00:00 stdout P bye",
    ]
    assert _read(path, "k8s-file") == [("stdout", b"hello\n"), ("stdout", b"\n"),
                                       ("stdout", b"bye")]


@pytest.mark.parametrize("driver", ["json-file", "k8s-file"])
def test_long_line_is_split_and_rebuilt(tmp_path, driver):
    path = tmp_path / "c.log"
    line = b"a" * 40000 + b"\n"
    exact = b"b" * logs.MAX_RECORD + b"\n"
    w = LogWriter(str(path), driver)
    for start in range(0, len(line), 3000):
        w.write("stdout", line[start:start + 3000], T0)
    w.write("stdout", exact, T0)
    w.close()
    records = _read(path, driver)
    assert [len(data) for _, data in records] == [16384, 16384, 40000 - 32768 + 1,
                                                   16384 + 1]
    assert [data.endswith(b"\n") for _, data in records] == [False, False, True, True]
    assert b"".join(data for _, data in records) == line + exact
    if driver == "k8s-file":
        assert [ln.split(" ")[2] for ln in _lines(path)] == ["P", "P", "F", "F"]


def test_split_keeps_utf8_characters_whole(tmp_path):
    path = tmp_path / "c.log"
    text = ("x" + "\u00e9" * 10000 + "\n").encode()
    w = LogWriter(str(path), "json-file")
    w.write("stdout", text, T0)
    w.close()
    records = [json.loads(ln)["log"] for ln in _lines(path)]
    assert len(records) == 2 and "\ufffd" not in "".join(records)
    assert "".join(records).encode() == text


def test_open_line_is_flushed_at_close_without_newline(tmp_path):
    path = tmp_path / "c.log"
    w = LogWriter(str(path), "json-file")
    w.write("stdout", b"no newline", T0)
    w.write("stderr", b"done\n", T0)
    assert _read(path) == [("stderr", b"done\n")]
    w.close()
    assert _read(path) == [("stderr", b"done\n"), ("stdout", b"no newline")]
    assert json.loads(_lines(path)[-1])["log"] == "no newline"


def test_writer_appends_to_an_existing_log(tmp_path):
    path = tmp_path / "c.log"
    for word in (b"one\n", b"two\n"):
        w = LogWriter(str(path), "json-file")
        w.write("stdout", word, T0)
        w.close()
    assert _read(path) == [("stdout", b"one\n"), ("stdout", b"two\n")]


def test_rotation_keeps_max_file_files_under_max_size(tmp_path):
    path = tmp_path / "c.log"
    w = LogWriter(str(path), "json-file", max_size=400, max_file=3)
    for i in range(40):
        w.write("stdout", f"line {i:02d}\n".encode(), T0 + i)
    w.close()
    files = log_files(str(path))
    assert [os.path.basename(f) for f in files] == ["c.log.2", "c.log.1", "c.log"]
    assert all(0 < os.path.getsize(f) <= 400 for f in files)
    got = [data for _, data in _read(path)]
    assert got[-1] == b"line 39\n"
    first = int(got[0][5:7])
    assert got == [f"line {i:02d}\n".encode() for i in range(first, 40)]
    assert first > 0, "nothing was rotated away"


def test_max_file_one_keeps_a_single_truncated_file(tmp_path):
    path = tmp_path / "c.log"
    w = LogWriter(str(path), "k8s-file", max_size=200, max_file=1)
    for i in range(20):
        w.write("stdout", f"line {i:02d}\n".encode(), T0)
    w.close()
    assert sorted(os.listdir(tmp_path)) == ["c.log"]
    assert path.stat().st_size <= 200
    assert _read(path, "k8s-file")[-1] == ("stdout", b"line 19\n")


def test_record_bigger_than_max_size_still_written(tmp_path):
    path = tmp_path / "c.log"
    w = LogWriter(str(path), "json-file", max_size=50, max_file=2)
    w.write("stdout", b"x" * 100 + b"\n", T0)
    w.write("stdout", b"y\n", T0)
    w.close()
    assert _read(path) == [("stdout", b"x" * 100 + b"\n"), ("stdout", b"y\n")]


def test_writer_rejects_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="driver"):
        LogWriter(str(tmp_path / "c"), "syslog")
    with pytest.raises(ValueError, match="max file"):
        LogWriter(str(tmp_path / "c"), "json-file", max_file=0)
    w = LogWriter(str(tmp_path / "c"), "json-file")
    with pytest.raises(ValueError, match="stream"):
        w.write("stdin", b"x")
    w.close()


def _rotated_log(tmp_path, driver="json-file"):
    path = tmp_path / "c.log"
    w = LogWriter(str(path), driver, max_size=300, max_file=4)
    for i in range(20):
        w.write("stdout" if i % 2 == 0 else "stderr", f"r{i:02d}\n".encode(), T0 + i * 1000)
    w.close()
    assert len(log_files(str(path))) == 4
    return path


@pytest.mark.parametrize("driver", ["json-file", "k8s-file"])
def test_tail_over_rotated_files(tmp_path, driver):
    path = _rotated_log(tmp_path, driver)
    everything = _read(path, driver)
    assert _read(path, driver, tail=5) == everything[-5:]
    assert _read(path, driver, tail=len(everything) + 10) == everything
    assert _read(path, driver, tail=0) == []
    assert _read(path, driver, tail=3, stderr=False) == [
        r for r in everything if r[0] == "stdout"][-3:]


def test_since_and_until_are_inclusive(tmp_path):
    path = _rotated_log(tmp_path)
    all_records = list(read_logs(str(path), "json-file", follow=False))
    since, until = all_records[2].time_ns, all_records[5].time_ns
    got = list(read_logs(str(path), "json-file", follow=False, since_ns=since, until_ns=until))
    assert got == all_records[2:6]
    tailed = list(read_logs(str(path), "json-file", follow=False, until_ns=until, tail=2))
    assert tailed == all_records[4:6]


def test_streams_filter(tmp_path):
    path = _rotated_log(tmp_path)
    assert {s for s, _ in _read(path, stdout=False)} == {"stderr"}
    assert _read(path, stdout=False, stderr=False) == []


def test_damaged_lines_are_skipped(tmp_path):
    path = tmp_path / "c.log"
    good = '{"log":"ok\\n","stream":"stdout","time":"2026-11-28T00:00:00Z"}'
    path.write_text(f'{good}\n{{"log": "cut\n[1]\n{good}\n{{"log":"x","stream":"stdin","time":"x"}}\n')
    assert _read(path) == [("stdout", b"ok\n"), ("stdout", b"ok\n")]
    assert parse_record(b"2026-11-28T00:00:00Z stdout X hi", "k8s-file") is None


def test_missing_log_reads_empty(tmp_path):
    assert _read(tmp_path / "none.log") == []


def test_follow_sees_appends_and_rotation_until_stopped(tmp_path):
    path = tmp_path / "c.log"
    w = LogWriter(str(path), "json-file", max_size=300, max_file=5)
    w.write("stdout", b"before\n")
    done = threading.Event()
    got: list[bytes] = []

    def follow():
        for rec in read_logs(str(path), "json-file", follow=True, stop=done.is_set):
            got.append(rec.data)

    reader = threading.Thread(target=follow)
    reader.start()
    try:
        time.sleep(0.3)
        for i in range(30):
            w.write("stdout", f"after {i:02d}\n".encode())
            time.sleep(0.02)
        w.write("stdout", b"half")
        w.close()
    finally:
        done.set()
        reader.join(10)
    assert not reader.is_alive()
    assert got == [b"before\n"] + [f"after {i:02d}\n".encode() for i in range(30)] + [b"half"]
    assert len(log_files(str(path))) == 5


def test_follow_notices_a_single_file_being_replaced(tmp_path):
    """max-file=1 unlinks and recreates FILE; the follower drains the old
    inode (it keeps it open, so the number cannot be reused) then moves on."""
    path = tmp_path / "c.log"
    w = LogWriter(str(path), "k8s-file", max_size=120, max_file=1)
    done = threading.Event()
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(
        r.data for r in read_logs(str(path), "k8s-file", follow=True, stop=done.is_set)))
    reader.start()
    try:
        for i in range(6):
            w.write("stdout", f"line {i}\n".encode())
            time.sleep(0.25)
        w.close()
    finally:
        done.set()
        reader.join(10)
    assert got == [f"line {i}\n".encode() for i in range(6)]


def test_follow_with_tail_starts_at_the_end(tmp_path):
    path = _rotated_log(tmp_path)
    stop_after = time.monotonic() + 0.3
    got = list(read_logs(str(path), "json-file", follow=True, tail=1,
                         stop=lambda: time.monotonic() > stop_after))
    assert [r.data for r in got] == [b"r19\n"]


def test_follow_waits_for_the_file_to_appear(tmp_path):
    path = tmp_path / "late.log"
    done = threading.Event()
    got: list[LogRecord] = []
    reader = threading.Thread(target=lambda: got.extend(
        read_logs(str(path), "k8s-file", follow=True, stop=done.is_set)))
    reader.start()
    time.sleep(0.2)
    w = LogWriter(str(path), "k8s-file")
    w.write("stderr", b"hi\n")
    w.close()
    time.sleep(0.3)
    done.set()
    reader.join(10)
    assert [(r.stream, r.data) for r in got] == [("stderr", b"hi\n")]


def test_follow_needs_a_stop_condition(tmp_path):
    with pytest.raises(InvalidLogOption):
        list(read_logs(str(tmp_path / "c.log"), "json-file", follow=True))
    with pytest.raises(InvalidLogOption):
        list(read_logs(str(tmp_path / "c.log"), "gelf", follow=False))


def test_timestamps_round_trip_and_accept_offsets():
    assert format_timestamp(T0) == "2026-11-28T00:00:00.123456789Z"
    assert format_timestamp(T0, "+00:00") == "2026-11-28T00:00:00.123456789+00:00"
    assert parse_timestamp(format_timestamp(T0)) == T0
    assert parse_timestamp("2026-11-28T01:30:00.123456789+01:30") == T0
    assert parse_timestamp("2026-11-28T00:00:00.1Z") == T0 - 23_456_789
    assert parse_timestamp("1970-01-01T00:00:00Z") == 0
    assert parse_timestamp("2000-02-29T00:00:00Z") == 951782400 * 10**9
    for bad in ("2026-11-28", "2026-11-28T00:00:00", "2026-11-28T00:00:00.Z",
                "2026-11-28T00:00:00.1234567890Z", "2026-11-2xT00:00:00Z"):
        with pytest.raises(InvalidLogOption):
            parse_timestamp(bad)
