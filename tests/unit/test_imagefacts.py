"""The normalisation of tests/support/imagefacts.py: what compares equal and what not."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from tests.support.imagefacts import config_facts, diff_facts, history_facts, normalise_created_by, tree_from_tar


def test_null_and_empty_config_values_are_one_value() -> None:
    docker = {"Config": {"Env": None, "Cmd": None, "Entrypoint": None, "User": "", "WorkingDir": "", "Labels": None,
                         "Volumes": None, "OnBuild": None}, "Architecture": "amd64", "Os": "linux"}
    barque = [{"Config": {"Env": [], "Cmd": [], "Labels": {}, "ExposedPorts": {}, "Shell": [], "OnBuild": [],
                          "StopSignal": None, "Healthcheck": None}, "Architecture": "amd64", "Os": "linux"}]
    assert config_facts(docker) == config_facts(barque)
    assert config_facts(docker)["Cmd"] is None and config_facts(docker)["Labels"] == {}


def test_config_facts_keep_what_differs() -> None:
    a = config_facts({"Config": {"Cmd": ["sh"], "Env": ["A=1", "B=2"]}})
    b = config_facts({"Config": {"Cmd": ["bash"], "Env": ["B=2", "A=1"]}})
    assert diff_facts(a, b, names=("barque", "docker")) == [
        'Cmd[0]: barque "sh" != docker "bash"',
        'Env[0]: barque "A=1" != docker "B=2"',
        'Env[1]: barque "B=2" != docker "A=1"',
    ]


def test_a_healthcheck_keeps_only_its_set_fields() -> None:
    docker = {"Config": {"Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}}}
    barque = {"Config": {"Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Timeout": 0,
                                         "StartPeriod": 0, "Retries": 0}}}
    assert config_facts(docker) == config_facts(barque)
    assert config_facts({"Config": {"Healthcheck": {}}})["Healthcheck"] is None


@pytest.mark.parametrize("created_by, expected", [
    ("/bin/sh -c #(nop) COPY file:" + "a" * 64 + " in /x/ ", "/bin/sh -c #(nop) COPY file:<hash> in /x/ "),
    ("/bin/sh -c #(nop) COPY dir:" + "0f" * 32 + " in /d/ ", "/bin/sh -c #(nop) COPY dir:<hash> in /d/ "),
    ("/bin/sh -c #(nop) ADD multi:" + "1" * 64 + " in /m/ ", "/bin/sh -c #(nop) ADD multi:<hash> in /m/ "),
    ("/bin/sh -c #(nop) ADD file:debian-bookworm-gcc-v1 in / ", "/bin/sh -c #(nop) ADD file:debian-bookworm-gcc-v1 in / "),
    ("|1 V=1 /bin/sh -c echo file:" + "a" * 63, "|1 V=1 /bin/sh -c echo file:" + "a" * 63),
])
def test_copy_and_add_content_hashes_are_normalised(created_by: str, expected: str) -> None:
    assert normalise_created_by(created_by) == expected


def test_history_facts_oldest_first_with_empty_layer() -> None:
    config = {"history": [{"created_by": "/bin/sh -c #(nop) ADD file:" + "b" * 64 + " in / "},
                          {"created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
                          {"comment": "no created_by"}]}
    assert history_facts(config) == [("/bin/sh -c #(nop) ADD file:<hash> in / ", False),
                                     ('/bin/sh -c #(nop)  CMD ["sh"]', True), ("", False)]
    assert history_facts({}) == []


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    buf.seek(0)
    return buf


def _info(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, **kw) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, kw.pop("mtime", 0)
    for key, value in kw.items():
        setattr(info, key, value)
    return info


def test_tree_leaves_out_what_a_runtime_writes_and_mtimes() -> None:
    common = [(_info("bin", tarfile.DIRTYPE, 0o755), b""), (_info("bin/sh", mode=0o755), b"#!\n"),
              (_info("etc", tarfile.DIRTYPE, 0o755), b""), (_info("etc/passwd"), b"root\n")]
    docker = _tar([(_info(".dockerenv", mode=0o755), b""), *common,
                   (_info("etc/hostname"), b""), (_info("etc/mtab", tarfile.SYMTYPE, linkname="/proc/mounts"), b""),
                   (_info("dev", tarfile.DIRTYPE, 0o755), b""), (_info("dev/console", mode=0o755), b""),
                   (_info("proc", tarfile.DIRTYPE, 0o755), b"")])
    barque = _tar([(_info("./bin/", tarfile.DIRTYPE, 0o755, mtime=99), b""), *common[1:]])
    tree = tree_from_tar(docker)
    assert tree == tree_from_tar(barque)
    assert tree["bin/sh"] == ("f", 0o755, 0, 0, 3, hashlib.sha256(b"#!\n").hexdigest())
    assert set(tree) == {"bin", "bin/sh", "etc", "etc/passwd"}


def test_etc_of_the_runtime_alone_is_left_out() -> None:
    scratch = _tar([(_info("etc", tarfile.DIRTYPE, 0o755), b""), (_info("etc/hosts"), b""),
                    (_info("f.txt"), b"x")])
    assert set(tree_from_tar(scratch)) == {"f.txt"}


def test_a_hardlink_counts_as_the_file_it_links_to() -> None:
    first = _tar([(_info("a"), b"same"), (_info("b", tarfile.LNKTYPE, linkname="a"), b"")])
    second = _tar([(_info("b"), b"same"), (_info("a", tarfile.LNKTYPE, linkname="b"), b"")])
    tree = tree_from_tar(first)
    assert tree == tree_from_tar(second)
    assert tree["b"][:5] == ("f", 0o644, 0, 0, 4)


def test_owners_modes_and_link_targets_are_compared() -> None:
    a = tree_from_tar(_tar([(_info("x", uid=1000, gid=1000), b"1"), (_info("l", tarfile.SYMTYPE, linkname="x"), b"")]))
    b = tree_from_tar(_tar([(_info("x", mode=0o600), b"1"), (_info("l", tarfile.SYMTYPE, linkname="y"), b"")]))
    assert diff_facts(a, b, names=("barque", "docker")) == [
        "l: barque ('l', 420, 0, 0, 0, 'x') != docker ('l', 420, 0, 0, 0, 'y')",
        f"x: barque {a['x']!r} != docker {b['x']!r}",
    ]


def test_diff_facts_names_what_is_only_on_one_side() -> None:
    assert diff_facts({"a": 1}, {"b": 2}, names=("barque", "docker")) == ["a: only in barque: 1", "b: only in docker: 2"]
    assert diff_facts([1], [1, 2]) == ["[1]: only in b: 2"]
    assert diff_facts({"k": [1, 2]}, {"k": [1, 2]}) == []
