"""Docker flag value parsing: sizes, cpus, env files, binds, signals, security and log opts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.runtime import flags


@pytest.mark.parametrize("text,expected", [
    ("512m", 512 * 1024 * 1024),
    ("1g", 1024 ** 3),
    ("1G", 1024 ** 3),
    ("100k", 102400),
    ("1024b", 1024),
    ("1024", 1024),
    ("0", 0),
    ("1.5k", 1536),
    ("1.5m", int(1.5 * 1024 * 1024)),
    ("10MB", 10 * 1024 * 1024),
    ("10MiB", 10 * 1024 * 1024),
    ("10 m", 10 * 1024 * 1024),
    ("2t", 2 * 1024 ** 4),
])
def test_parse_bytes_matches_docker_ram_in_bytes(text, expected):
    assert flags.parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "m", "-1", "12x", "1.2.3m", "1kk", "1ib", "1bb", "ten", "1e3"])
def test_parse_bytes_refuses_and_names_the_value(text):
    with pytest.raises(InvalidArgument, match="invalid size") as exc:
        flags.parse_bytes(text)
    assert repr(text) in str(exc.value)


def test_parse_memory_swap_accepts_minus_one_for_unlimited():
    assert flags.parse_memory_swap("-1") == -1
    assert flags.parse_memory_swap("1g") == 1024 ** 3
    with pytest.raises(InvalidArgument):
        flags.parse_memory_swap("-2")


@pytest.mark.parametrize("text,expected", [
    ("1.5", 1_500_000_000), ("2", 2_000_000_000), ("0.01", 10_000_000),
    (".5", 500_000_000), ("0.000000001", 1), ("1e-3", 1_000_000), ("3/2", 1_500_000_000),
])
def test_parse_cpus_to_nano_cpus(text, expected):
    assert flags.parse_cpus(text) == expected


@pytest.mark.parametrize("text,message", [
    ("abc", "rational"), ("", "rational"), ("0.0000000001", "too precise"), ("-1", "negative"),
    ("1/0", "rational"), ("1.5/2", "rational"),
])
def test_parse_cpus_refuses(text, message):
    with pytest.raises(InvalidArgument, match=message):
        flags.parse_cpus(text)


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
    assert flags.parse_env_file(str(path), environ={"FROM_ENV": "hello"}) == [
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
    assert flags.parse_env_file(str(path)) == ["BARQUE_TEST_ENVFILE=from-os"]


@pytest.mark.parametrize("content,message", [
    (b"BAD KEY=1\n", "whitespace"),
    (b"=value\n", "no variable name"),
    (b"OK=1\nX=\xff\n", "invalid utf8 bytes at line 2"),
])
def test_parse_env_file_errors(tmp_path: Path, content, message):
    path = tmp_path / "env"
    path.write_bytes(content)
    with pytest.raises(InvalidArgument, match=message):
        flags.parse_env_file(str(path), environ={})


def test_parse_env_file_missing_file(tmp_path: Path):
    with pytest.raises(InvalidArgument, match="open env file"):
        flags.parse_env_file(str(tmp_path / "nope"))


@pytest.mark.parametrize("mode,read_only", [("", False), ("ro", True), ("rw", False), ("ro,z", True),
                                            ("Z", False), ("rw,rprivate", False), ("nocopy", False)])
def test_parse_bind_modes(tmp_path: Path, mode, read_only):
    spec = f"{tmp_path}:/data" + (f":{mode}" if mode else "")
    bind = flags.parse_bind(spec)
    assert bind == flags.Bind(source=str(tmp_path), destination="/data", read_only=read_only, mode=mode)


def test_parse_bind_cleans_paths(tmp_path: Path):
    bind = flags.parse_bind(f"{tmp_path}/./sub/..//:/srv/../data/")
    assert (bind.source, bind.destination) == (str(tmp_path), "/data")


def test_parse_bind_creates_missing_host_dir_and_says_so(tmp_path: Path):
    source = tmp_path / "a" / "b"
    bind = flags.parse_bind(f"{source}:/data:ro")
    assert source.is_dir()
    assert bind.created is True and bind.read_only is True
    assert flags.parse_bind(f"{source}:/data").created is False


def test_parse_bind_without_create_refuses_missing_source(tmp_path: Path):
    with pytest.raises(InvalidArgument, match="does not exist"):
        flags.parse_bind(f"{tmp_path}/missing:/data", create_missing=False)
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("spec,message", [
    ("/data", "anonymous volumes"),
    ("named:/data", "named volumes"),
    ("relative/dir:/data", "named volumes"),
    ("/tmp:data", "not an absolute path"),
    ("/tmp:/", "can't be '/'"),
    ("/tmp:/data:ro,rw", "conflict"),
    ("/tmp:/data:z,Z", "conflict"),
    ("/tmp:/data:bogus", "invalid mode"),
    ("/tmp:/data:rshared", "not supported"),
    ("/tmp:/data:ro:extra", "invalid volume specification"),
])
def test_parse_bind_refuses(spec, message):
    with pytest.raises(InvalidArgument, match=message):
        flags.parse_bind(spec, create_missing=False)


@pytest.mark.parametrize("text,number", [
    ("SIGTERM", 15), ("TERM", 15), ("term", 15), ("15", 15), ("9", 9), ("SIGKILL", 9),
    ("SIGRTMIN", 34), ("SIGRTMIN+3", 37), ("RTMAX", 64), ("SIGRTMAX-1", 63), ("SIGUSR1", 10),
    ("SIGWINCH", 28), ("IOT", 6), ("SIGCHLD", 17),
])
def test_parse_signal(text, number):
    assert flags.parse_signal(text) == number


@pytest.mark.parametrize("text", ["0", "65", "SIGFOO", "", "RTMIN+16", "-9", "SIG"])
def test_parse_signal_refuses(text):
    with pytest.raises(InvalidArgument, match="invalid signal"):
        flags.parse_signal(text)


@pytest.mark.parametrize("opts,nnp,unconfined", [
    ([], False, False),
    (["no-new-privileges"], True, False),
    (["no-new-privileges:true"], True, False),
    (["no-new-privileges=true"], True, False),
    (["no-new-privileges=false"], False, False),
    (["no-new-privileges", "no-new-privileges=0"], False, False),
    (["seccomp=unconfined"], False, True),
    (["seccomp:unconfined"], False, True),
    (["seccomp=unconfined", "seccomp=builtin"], False, False),
])
def test_parse_security_opts(opts, nnp, unconfined):
    parsed = flags.parse_security_opts(opts)
    assert (parsed.no_new_privileges, parsed.seccomp_unconfined, parsed.notes) == (nnp, unconfined, [])


def test_parse_security_opts_accepts_labels_and_apparmor_with_notes():
    parsed = flags.parse_security_opts(["label=disable", "label:type:svirt_t", "apparmor=unconfined"])
    assert len(parsed.notes) == 3
    assert "selinux" in parsed.notes[0] and "apparmor" in parsed.notes[2]
    assert not parsed.no_new_privileges and not parsed.seccomp_unconfined


@pytest.mark.parametrize("opt,message", [
    ("no-new-privileges=maybe", "invalid boolean"),
    ("seccomp=/etc/profile.json", "custom seccomp"),
    ("bogus=1", "invalid --security-opt"),
    ("seccomp", "invalid --security-opt"),
    ("seccomp=", "invalid --security-opt"),
])
def test_parse_security_opts_refuses(opt, message):
    with pytest.raises(InvalidArgument, match=message):
        flags.parse_security_opts([opt])


def test_parse_log_opts():
    assert flags.parse_log_opts(["max-size=10m", "max-file=3", "compress=true", "max-file=5"]) == {
        "max-size": "10m", "max-file": "5", "compress": "true"}


@pytest.mark.parametrize("opt,message", [
    ("max-size", "key value pair"),
    ("colour=blue", "unknown log opt 'colour'"),
    ("max-size=0", "positive"),
    ("max-size=ten", "invalid size"),
    ("max-file=0", "less than 1"),
    ("max-file=x", "not a number"),
    ("compress=sometimes", "invalid boolean"),
])
def test_parse_log_opts_refuses(opt, message):
    with pytest.raises(InvalidArgument, match=message):
        flags.parse_log_opts([opt])


def test_parse_bind_leaves_no_directory_when_refused(tmp_path: Path):
    target = tmp_path / "never"
    with pytest.raises(InvalidArgument):
        flags.parse_bind(f"{target}:/data:bogus")
    assert not target.exists()
    assert os.listdir(tmp_path) == []
