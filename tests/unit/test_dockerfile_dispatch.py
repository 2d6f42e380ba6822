"""The build planner: stages, meta args, ARG scoping and each instruction's
config change and history ``created_by``, as moby's legacy builder
(``daemon/builder/dockerfile``) makes them."""

from __future__ import annotations

import pytest

from client.dockerfile.dispatch import BuildError, begin_stage, normalize_dest, plan_build, step_for
from client.dockerfile.gofmt import go_duration
from client.dockerfile.parser import parse
from client.errors import InvalidArgument


def _steps(text: str, args: dict | None = None, base: dict | None = None, target: str | None = None):
    plan = plan_build(parse(text), args or {}, target)
    state, _ = begin_stage(base or {"Env": ["PATH=/bin"]}, plan.args, "\\")
    return plan, state, [step_for(state, inst) for inst in plan.stages[plan.target].instructions]


def test_metadata_created_by_as_legacy_builder_writes_it():
    _, state, steps = _steps(
        "FROM b\nENV A=1 B=two\nLABEL x=\"y z\"\nCMD [\"sh\", \"-c\", \"x\"]\nCMD echo hi\n"
        "ENTRYPOINT [\"/bin/true\"]\nEXPOSE 80 53/udp\nVOLUME [\"/data\", \"/x\"]\nUSER 1000:1000\n"
        "STOPSIGNAL SIGINT\nHEALTHCHECK --interval=30s --retries=3 CMD wget -q localhost\n"
        "SHELL [\"/bin/bash\", \"-c\"]\nONBUILD RUN echo child\n")
    got = [s.created_by for s in steps]
    assert got == [
        "/bin/sh -c #(nop)  ENV A=1 B=two",
        "/bin/sh -c #(nop)  LABEL x=y z",
        '/bin/sh -c #(nop)  CMD ["sh" "-c" "x"]',
        '/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "echo hi"]',
        '/bin/sh -c #(nop)  ENTRYPOINT ["/bin/true"]',
        "/bin/sh -c #(nop)  EXPOSE 53/udp 80",
        "/bin/sh -c #(nop)  VOLUME [/data /x]",
        "/bin/sh -c #(nop)  USER 1000:1000",
        "/bin/sh -c #(nop)  STOPSIGNAL SIGINT",
        "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"wget -q localhost\"] \"30s\" \"0s\" \"0s\" '\\x03'}",
        "/bin/bash -c #(nop)  SHELL [/bin/bash -c]",
        "/bin/bash -c #(nop)  ONBUILD RUN echo child",
    ]
    assert all(s.kind == "meta" for s in steps)
    cfg = state.config
    assert cfg["Env"] == ["PATH=/bin", "A=1", "B=two"]
    assert cfg["Labels"] == {"x": "y z"}
    assert cfg["Entrypoint"] == ["/bin/true"] and cfg["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["Volumes"] == {"/data": {}, "/x": {}}
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q localhost"], "Interval": 30 * 10**9, "Retries": 3}
    assert cfg["OnBuild"] == ["RUN echo child"] and cfg["Shell"] == ["/bin/bash", "-c"]


def test_entrypoint_clears_an_inherited_cmd_unless_cmd_was_set_in_the_stage():
    _, state, _ = _steps("FROM b\nENTRYPOINT [\"x\"]\n", base={"Cmd": ["sh"]})
    assert state.config["Cmd"] is None
    _, state, _ = _steps("FROM b\nCMD [\"a\"]\nENTRYPOINT [\"x\"]\n", base={"Cmd": ["sh"]})
    assert state.config["Cmd"] == ["a"]


def test_run_records_build_args_as_the_legacy_builder():
    _, _, steps = _steps("ARG G=glob\nFROM b\nARG V\nARG W=w\nRUN echo $V\nRUN [\"echo\", \"x\"]\n",
                         args={"V": "9", "HTTP_PROXY": "http://p"})
    run, exec_form = steps[2], steps[3]
    assert run.created_by == "|2 V=9 W=w /bin/sh -c echo $V"
    assert run.argv == ["/bin/sh", "-c", "echo $V"]
    # the proxy arg reaches the environment but not the history
    assert "HTTP_PROXY=http://p" in run.env and "V=9" in run.env
    assert exec_form.created_by == "|2 V=9 W=w echo x"


def test_env_wins_over_arg_and_run_without_args_has_no_prefix():
    _, _, steps = _steps("FROM b\nARG A=1\nENV A=2\nRUN echo\n")
    assert steps[2].created_by == "/bin/sh -c echo"


def test_meta_arg_default_reaches_a_redeclared_stage_arg_and_from():
    plan, _, steps = _steps("ARG TAG=3.1\nARG IMG=busy\nFROM ${IMG}box:$TAG\nARG TAG\nENV T=$TAG\n")
    assert plan.stages[0].base == "busybox:3.1"
    assert steps[1].created_by.endswith("ENV T=3.1")


def test_env_expansion_uses_the_env_before_the_instruction():
    _, state, _ = _steps("FROM b\nENV abc=hello\nENV abc=bye def=$abc\n")
    assert "def=hello" in state.config["Env"]


def test_workdir_is_relative_to_the_previous_and_makes_a_step():
    _, state, steps = _steps("FROM b\nWORKDIR /a\nWORKDIR b/../c\n")
    assert steps[1].kind == "workdir" and steps[1].workdir == "/a/c"
    assert steps[1].created_by == "/bin/sh -c #(nop) WORKDIR /a/c"


def test_copy_plan_and_created_by():
    _, _, steps = _steps("FROM b\nWORKDIR /app\nCOPY --chown=1:2 a b ./\nCOPY x y\n")
    plan = steps[1].copy
    assert plan is not None and plan.sources == ["a", "b"] and plan.dest_path == "/app/" and plan.chown == "1:2"
    assert steps[1].created_by == "/bin/sh -c #(nop) COPY --chown=1:2{src} in ./ "
    assert steps[2].copy is not None and steps[2].copy.dest_path == "/app/y"
    with pytest.raises(BuildError, match="must be a directory and end with a /"):
        _steps("FROM b\nCOPY a b /dst\n")


def test_stages_only_what_the_target_needs():
    text = "FROM a AS one\nFROM b AS two\nFROM c AS three\nCOPY --from=one /x /x\nFROM d\n"
    plan = plan_build(parse(text), {}, "three")
    assert plan.needed == [0, 2] and plan.target == 2
    assert plan.total_steps() == 3
    plan = plan_build(parse("FROM a AS base\nFROM base\nRUN x\n"), {}, None)
    assert plan.needed == [0, 1]
    with pytest.raises(BuildError, match="failed to reach build target nope"):
        plan_build(parse(text), {}, "nope")


def test_unknown_instruction_and_unconsumed_args():
    with pytest.raises(InvalidArgument, match="line 2: unknown instruction: FROB"):
        plan_build(parse("FROM a\nFROB x\n"), {}, None)
    plan = plan_build(parse("FROM a\nARG USED\n"), {"USED": "1", "EXTRA": "2"}, None)
    state, _ = begin_stage({}, plan.args, "\\")
    for inst in plan.stages[0].instructions:
        step_for(state, inst)
    assert plan.args.unused() == ["EXTRA"]


def test_bad_values_are_refused():
    for text, words in (("FROM b\nSTOPSIGNAL SIGFOO\n", "Invalid signal"),
                        ("FROM b\nEXPOSE 80/xyz\n", "invalid proto"),
                        ("FROM b\nSHELL /bin/sh\n", "JSON form"),
                        ("FROM b\nRUN --mount=type=cache,target=/x true\n", "requires BuildKit")):
        with pytest.raises(BuildError, match=words):
            _steps(text)


def test_heredoc_run_script():
    _, _, steps = _steps("FROM b\nRUN <<EOF\necho a\necho b\nEOF\nRUN cat <<X > /f\nhello\nX\n")
    assert steps[0].argv == ["/bin/sh", "-c", "echo a\necho b\n"]
    assert steps[1].argv == ["/bin/sh", "-c", "cat <<X > /f\nhello\nX"]


def test_helpers():
    assert normalize_dest("/app", "x/") == "/app/x/" and normalize_dest("", ".") == "/"
    assert [go_duration(n) for n in (0, 30 * 10**9, 90 * 10**9, 1500 * 10**6, 3600 * 10**9, 5 * 10**6)] == [
        "0s", "30s", "1m30s", "1.5s", "1h0m0s", "5ms"]


def test_a_new_healthcheck_keeps_the_parents_timings_in_the_config_not_the_history():
    """moby's commit merges a zero field from the parent's check (docker 20.10 checked)."""
    _, state, steps = _steps("FROM b\nHEALTHCHECK --interval=1m30s --retries=4 CMD [\"true\"]\n"
                             "HEALTHCHECK NONE\n")
    assert state.config["Healthcheck"] == {"Test": ["NONE"], "Interval": 90 * 10**9, "Retries": 4}
    assert steps[1].created_by.endswith('HEALTHCHECK &{["NONE"] "0s" "0s" "0s" \'\\x00\'}')
