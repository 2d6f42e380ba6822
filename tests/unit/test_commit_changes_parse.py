"""Pure parts of commit and history: ``--change`` instructions as moby's
BuildFromConfig applies them, the new config and history entry, the history
rows and docker-cli's formatting of them."""

from __future__ import annotations

import json

import pytest

from cli.changes import apply_changes, parse_go_duration
from cli.commit import HistoryRow, ellipsis, format_history, history_rows
from client.errors import InvalidArgument
from services.images.commit import CommitSpec, _child_config, rfc3339_nano

BASE = {"Env": ["PATH=/bin", "HOME=/root"], "Cmd": ["sh"], "WorkingDir": "/srv", "Labels": {"a": "1"}}


def test_cmd_and_entrypoint_exec_and_shell_forms() -> None:
    out = apply_changes(BASE, ['CMD ["echo", "hi"]', "ENTRYPOINT top -b"])
    assert out["Cmd"] == ["echo", "hi"] and out["Entrypoint"] == ["/bin/sh", "-c", "top -b"]
    assert BASE["Cmd"] == ["sh"]  # the input is not modified


def test_env_forms_quotes_and_expansion() -> None:
    out = apply_changes(BASE, ['ENV A=1 B="two words" PATH=$PATH:/opt/bin', "ENV LEGACY some value"])
    assert out["Env"] == ["PATH=/bin:/opt/bin", "HOME=/root", "A=1", "B=two words", "LEGACY=some value"]
    assert apply_changes(BASE, ["ENV C='$HOME' D=${HOME}/x"])["Env"][-2:] == ["C=$HOME", "D=/root/x"]
    with pytest.raises(InvalidArgument, match="can't find ="):
        apply_changes(BASE, ["ENV A=1 B"])


def test_label_expose_volume_user_stopsignal_workdir_onbuild() -> None:
    out = apply_changes(BASE, [
        'LABEL b=2 "c d"=3', "EXPOSE 80 53/UDP", 'VOLUME ["/data", "/logs"]', "VOLUME /more",
        "USER app", "STOPSIGNAL SIGINT", "WORKDIR sub", "WORKDIR ../other", "ONBUILD run make",  # docker 20.10 keeps the trigger as written
    ])
    assert out["Labels"] == {"a": "1", "b": "2", "c d": "3"}
    assert out["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert out["Volumes"] == {"/data": {}, "/logs": {}, "/more": {}}
    assert (out["User"], out["StopSignal"], out["WorkingDir"]) == ("app", "SIGINT", "/srv/other")
    assert out["OnBuild"] == ["run make"]  # as written: docker 20.10 checked side by side


def test_healthcheck_forms() -> None:
    hc = apply_changes(BASE, ["HEALTHCHECK --interval=5s --retries=2 CMD curl -f http://x/"])["Healthcheck"]
    assert hc == {"Test": ["CMD-SHELL", "curl -f http://x/"], "Interval": 5_000_000_000, "Retries": 2}
    assert apply_changes(BASE, ['HEALTHCHECK CMD ["true"]'])["Healthcheck"] == {"Test": ["CMD", "true"]}
    assert apply_changes(BASE, ["HEALTHCHECK NONE"])["Healthcheck"] == {"Test": ["NONE"]}
    assert parse_go_duration("1m30s") == 90_000_000_000 and parse_go_duration("250ms") == 250_000_000
    with pytest.raises(InvalidArgument, match="invalid duration"):
        parse_go_duration("5 s")


@pytest.mark.parametrize("line", ["RUN make", "FROM x", "ADD a b", "COPY a b", "MAINTAINER me", "BOGUS 1"])
def test_refused_instructions_use_dockers_message(line: str) -> None:
    word = line.split()[0].lower()
    with pytest.raises(InvalidArgument, match=f"^{word} is not a valid change command$"):
        apply_changes(BASE, ["ENV OK=1", line])


def test_child_config_and_history_entry() -> None:
    parent = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
              "history": [{"created": "2000-01-01T00:00:00Z", "created_by": "base"}],
              "container_config": {"Cmd": ["old"]}}
    spec = CommitSpec(key="k", parent="p", config_json=json.dumps({"Cmd": ["new"]}).encode(),
                      author="Ann", comment="msg", created_by="sh -c x", container_id="c1")
    out = _child_config(parent, spec, "sha256:" + "2" * 64, "2026-01-02T03:04:05.5Z")
    assert out["config"] == {"Cmd": ["new"]} and out["container"] == "c1" and out["author"] == "Ann"
    assert out["rootfs"]["diff_ids"] == ["sha256:" + "1" * 64, "sha256:" + "2" * 64]
    assert out["history"][-1] == {"created": "2026-01-02T03:04:05.5Z", "author": "Ann",
                                  "created_by": "sh -c x", "comment": "msg"}
    assert "container_config" not in out and parent["history"] == [{"created": "2000-01-01T00:00:00Z",
                                                                     "created_by": "base"}]
    empty = _child_config(parent, CommitSpec(key="k", parent="p"), None, "t")
    assert empty["history"][-1] == {"created": "t", "empty_layer": True}
    assert empty["rootfs"]["diff_ids"] == parent["rootfs"]["diff_ids"] and empty["config"] == {"Cmd": ["sh"]}


def test_rfc3339_nano_drops_trailing_zeros() -> None:
    assert rfc3339_nano(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert rfc3339_nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


def test_history_rows_sizes_and_ids() -> None:
    config = {"history": [
        {"created": "2000-01-01T00:00:00Z", "created_by": "ADD rootfs"},
        {"created": "2000-01-01T00:00:01Z", "created_by": "ENV x", "empty_layer": True},
        {"created": "2000-01-01T00:00:02Z", "created_by": "sh -c x", "comment": "c"},
    ]}
    rows = history_rows("sha256:" + "f" * 64, config, [1000, 20])
    assert [(r.id[:9], r.size, r.comment) for r in rows] == [
        ("sha256:ff", 20, "c"), ("<missing>", 0, ""), ("<missing>", 1000, "")]


def test_ellipsis_is_docker_clis() -> None:
    assert ellipsis("short", 45) == "short"
    text = "x" * 50
    assert ellipsis(text, 45) == "x" * 44 + "…" and len(ellipsis(text, 45)) == 45
    assert ellipsis("日本語テキスト", 6) == "日本…"


def test_format_history_table_quiet_and_template() -> None:
    rows = [HistoryRow("sha256:" + "a" * 64, 1000.0, "sh -c " + "y" * 60, 4_260_000, "hello"),
            HistoryRow("<missing>", 0.0, "ADD\tfile", 0, "")]
    table = format_history(rows, None, quiet=False, trunc=True, human=True, now=1000.0 + 7200)
    lines = table.splitlines()
    assert lines[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert lines[1].startswith("aaaaaaaaaaaa   2 hours ago   sh -c yyyy")
    assert "…" in lines[1] and "4.26MB" in lines[1] and lines[1].endswith("hello")
    assert "ADD file" in lines[2]
    assert format_history(rows, None, quiet=True, trunc=True, human=True) == "aaaaaaaaaaaa\n<missing>"
    plain = format_history(rows, "{{.ID}}|{{.Size}}|{{.CreatedAt}}", quiet=False, trunc=False, human=False)
    assert plain.splitlines()[0] == f"sha256:{'a' * 64}|4260000|1970-01-01T00:16:40Z"
    head = format_history(rows, "table {{.ID}}\t{{.CreatedSince}}", quiet=False, trunc=True, human=True)
    assert head.splitlines()[0].split() == ["IMAGE", "CREATED"]


@pytest.mark.parametrize("argv", [
    ["commit", "-p=false", "c", "repo:tag"], ["container", "commit", "--pause", "c"], ["commit", "-p", "c"],
    ["diff", "c"], ["container", "diff", "c"], ["history", "-H=false", "img"], ["image", "history", "-q", "img"],
])
def test_commands_register_under_both_names(argv: list[str]) -> None:
    from cli.commit import _bool_and_operands
    from cli.main import build_parser

    args = build_parser().parse_args(argv)
    assert args.func.__module__ == "cli.commit"
    flag = getattr(args, "pause", None) or getattr(args, "human", None)
    if flag is not None:  # -p/-H take only an attached value: a bare word after them is an operand
        flag, operands = _bool_and_operands(flag, args.operands)
        assert flag in ("true", "false") and operands[0] in ("c", "img")


def test_entrypoint_clears_the_cmd_as_docker_20_10_commit_does() -> None:
    """Checked side by side: ``docker commit -c 'ENTRYPOINT ["ep"]'`` of a
    container with a Cmd gives Cmd null (moby's dispatchEntrypoint, cmdSet false)."""
    out = apply_changes({"Cmd": ["mycmd"]}, ['ENTRYPOINT ["ep"]'])
    assert out["Entrypoint"] == ["ep"] and out["Cmd"] is None
    out = apply_changes({"Cmd": ["mycmd"]}, ['CMD ["c"]', 'ENTRYPOINT ["ep"]'])
    assert out["Cmd"] == ["c"]
