"""Dockerfile parsing as BuildKit's frontend (examples from Docker's
Dockerfile reference)."""

import pytest

from client.dockerfile.parser import (
    DockerfileSyntaxError,
    EXPANDING_INSTRUCTIONS,
    Flag,
    Heredoc,
    arg_definitions,
    from_image_and_stage,
    key_values,
    parse,
)
from client.errors import InvalidArgument


def one(text):
    df = parse(text)
    assert len(df.instructions) == 1
    return df.instructions[0]


def test_basic_file_with_comments_and_lines():
    df = parse("# comment\n\nFROM alpine\n  # indented comment\nrun echo hi\n")
    assert [(i.cmd, i.args, i.start_line, i.end_line) for i in df.instructions] == [
        ("from", ["alpine"], 3, 3),
        ("run", ["echo hi"], 5, 5),
    ]
    assert df.directives == {}
    assert df.escape == "\\"


def test_case_insensitive_names():
    assert one("FrOm busybox").cmd == "from"


def test_directives():
    df = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\n")
    assert df.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert df.escape == "`"


def test_directive_after_instruction_is_a_comment():
    df = parse("FROM x\n# escape=`\nRUN a \\\n b\n")
    assert df.escape == "\\"
    assert df.instructions[1].args == ["a  b"]


def test_directive_after_blank_line_is_a_comment():
    assert parse("\n# escape=`\nFROM x\n").escape == "\\"


def test_directive_after_comment_is_a_comment():
    assert parse("# about\n# escape=`\nFROM x\n").escape == "\\"


def test_directive_spacing_and_case():
    assert parse("#ESCAPE = `\nFROM x\n").escape == "`"


def test_duplicate_directive():
    with pytest.raises(DockerfileSyntaxError, match="line 2: only one escape parser directive"):
        parse("# escape=\\\n# escape=`\nFROM x\n")


def test_invalid_escape_token():
    with pytest.raises(DockerfileSyntaxError, match="invalid escape token"):
        parse("# escape=x\nFROM x\n")


def test_continuation_lines():
    inst = parse("FROM x\nRUN apt-get update && \\\n    apt-get install -y curl\n").instructions[1]
    assert inst.args == ["apt-get update &&     apt-get install -y curl"]
    assert (inst.start_line, inst.end_line) == (2, 3)


def test_continuation_with_trailing_whitespace():
    assert one("RUN a \\  \n b\n").args == ["a  b"]


def test_backtick_escape_windows_example():
    # Dockerfile reference, escape directive example
    df = parse("# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n")
    assert [(i.cmd, i.args) for i in df.instructions] == [
        ("from", ["microsoft/nanoserver"]),
        ("copy", ["testfile.txt", "c:\\"]),
        ("run", ["dir c:\\"]),
    ]
    df = parse("# escape=`\nRUN a `\n b\n")
    assert df.instructions[0].args == ["a  b"]


def test_comments_inside_continuation_dropped():
    # Dockerfile reference: comment lines are removed before execution
    inst = one("RUN echo hello \\\n# comment\nworld\n")
    assert inst.args == ["echo hello world"]
    assert (inst.start_line, inst.end_line) == (1, 3)


def test_empty_continuation_line_skipped():
    assert one("RUN a \\\n\n b\n").args == ["a  b"]


def test_crlf_and_bom():
    df = parse("\ufeffFROM x\r\nRUN y\r\n")
    assert [i.args for i in df.instructions] == [["x"], ["y"]]


def test_exec_and_shell_forms():
    assert (one('RUN ["/bin/bash", "-c", "echo hello"]').args,
            one('RUN ["/bin/bash", "-c", "echo hello"]').json) == (
        ["/bin/bash", "-c", "echo hello"], True)
    inst = one("CMD echo $HOME")
    assert (inst.args, inst.json) == (["echo $HOME"], False)
    assert one('ENTRYPOINT ["top", "-b"]').args == ["top", "-b"]
    assert one('SHELL ["powershell", "-command"]').json


def test_invalid_json_falls_back_to_shell_form():
    # Dockerfile reference: single quotes are not JSON
    inst = one("RUN ['echo', 'hi']")
    assert (inst.args, inst.json) == (["['echo', 'hi']"], False)
    inst = one('CMD ["a", "b"] extra')
    assert inst.json is False


def test_json_array_of_non_strings_is_an_error():
    with pytest.raises(DockerfileSyntaxError, match="line 2: .*strings only"):
        parse("FROM x\nCMD [1, 2]\n")


def test_copy_add_volume_lists():
    assert one("COPY a b /dest/").args == ["a", "b", "/dest/"]
    assert one('COPY ["a b", "/dest/"]').args == ["a b", "/dest/"]
    assert one("VOLUME /data /logs").args == ["/data", "/logs"]
    assert one('VOLUME ["/data"]').args == ["/data"]


def test_flags():
    inst = one("COPY --from=build --chown=55:mygroup --chmod=644 --link files* /somedir/")
    assert inst.flags == [
        Flag("from", "build"), Flag("chown", "55:mygroup"),
        Flag("chmod", "644"), Flag("link", None),
    ]
    assert inst.args == ["files*", "/somedir/"]
    assert inst.flag("from") == Flag("from", "build")
    assert inst.flag("nope") is None


def test_add_checksum_and_run_mounts():
    inst = one("ADD --checksum=sha256:24454f83 https://example.com/a.tar /")
    assert inst.flags == [Flag("checksum", "sha256:24454f83")]
    inst = one("RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=a pip install x")
    assert inst.flags == [
        Flag("mount", "type=cache,target=/root/.cache"), Flag("mount", "type=secret,id=a"),
    ]
    assert inst.args == ["pip install x"]


def test_quoted_flag_value_and_double_dash():
    inst = one('RUN --mount="type=bind,target=/a b" -- --not-a-flag')
    assert inst.flags == [Flag("mount", "type=bind,target=/a b")]
    assert inst.args == ["--not-a-flag"]


def test_from_forms():
    inst = one("FROM --platform=$BUILDPLATFORM golang:1.21 AS Build")
    assert inst.flags == [Flag("platform", "$BUILDPLATFORM")]
    assert from_image_and_stage(inst) == ("golang:1.21", "build")
    assert from_image_and_stage(one("FROM alpine")) == ("alpine", None)


def test_from_bad_arity():
    with pytest.raises(DockerfileSyntaxError, match="line 1: FROM requires either one or three"):
        parse("FROM a b\n")
    with pytest.raises(DockerfileSyntaxError, match="one or three"):
        parse("FROM a is b\n")


def test_env_forms():
    # Dockerfile reference, ENV examples
    inst = one('ENV MY_NAME="John Doe" MY_DOG=Rex\\ The\\ Dog MY_CAT=fluffy')
    assert key_values(inst) == [
        ("MY_NAME", '"John Doe"'), ("MY_DOG", "Rex\\ The\\ Dog"), ("MY_CAT", "fluffy"),
    ]
    assert key_values(one("ENV MY_VAR my-value")) == [("MY_VAR", "my-value")]
    assert key_values(one("ENV ONE TWO= THREE=world")) == [("ONE", "TWO= THREE=world")]
    assert key_values(one("ENV A=")) == [("A", "")]


def test_env_errors():
    with pytest.raises(DockerfileSyntaxError, match="line 1: ENV must have two arguments"):
        parse("ENV ONLY\n")
    with pytest.raises(DockerfileSyntaxError, match="can't find = in 'b'"):
        parse("ENV a=1 b\n")
    with pytest.raises(DockerfileSyntaxError, match="line 2: ENV requires at least one argument"):
        parse("FROM x\nENV\n")


def test_label():
    # Dockerfile reference, LABEL examples
    inst = one('LABEL "com.example.vendor"="ACME Incorporated" version="1.0"')
    assert key_values(inst) == [('"com.example.vendor"', '"ACME Incorporated"'),
                                ("version", '"1.0"')]
    inst = one('LABEL multi.label1="value1" \\\n      other="value3"')
    assert key_values(inst) == [("multi.label1", '"value1"'), ("other", '"value3"')]
    assert inst.end_line == 2


def test_arg():
    assert arg_definitions(one("ARG user1")) == [("user1", None)]
    assert arg_definitions(one("ARG buildno=1")) == [("buildno", "1")]
    assert arg_definitions(one('ARG a="x y" b')) == [("a", '"x y"'), ("b", None)]


def test_expose_user_workdir_stopsignal_maintainer():
    assert one("EXPOSE 80/udp  443").args == ["80/udp", "443"]
    assert one("USER patrick:group").args == ["patrick:group"]
    assert one("WORKDIR /path/to my/workdir").args == ["/path/to my/workdir"]
    assert one("STOPSIGNAL SIGKILL").args == ["SIGKILL"]
    assert one("MAINTAINER someone <a@b>").args == ["someone <a@b>"]


def test_healthcheck():
    inst = one("HEALTHCHECK --interval=5m --timeout=3s \\\n  CMD curl -f http://localhost/ || exit 1")
    assert inst.flags == [Flag("interval", "5m"), Flag("timeout", "3s")]
    assert inst.args == ["CMD", "curl -f http://localhost/ || exit 1"]
    assert inst.json is False
    inst = one('HEALTHCHECK --retries=3 cmd ["curl", "-f", "x"]')
    assert (inst.args, inst.json) == (["CMD", "curl", "-f", "x"], True)
    assert one("HEALTHCHECK NONE").args == ["NONE"]


def test_healthcheck_errors():
    with pytest.raises(DockerfileSyntaxError, match="NONE takes no arguments"):
        parse("HEALTHCHECK NONE x\n")
    with pytest.raises(DockerfileSyntaxError, match="unknown type 'RUN' in HEALTHCHECK"):
        parse("HEALTHCHECK RUN x\n")
    with pytest.raises(DockerfileSyntaxError, match="missing command"):
        parse("HEALTHCHECK CMD\n")


def test_onbuild():
    inst = one("ONBUILD ADD . /app/src")
    assert inst.cmd == "onbuild" and inst.args == []
    assert inst.trigger is not None
    assert (inst.trigger.cmd, inst.trigger.args) == ("add", [".", "/app/src"])
    inst = one("onbuild run --mount=type=cache,target=/c make")
    assert inst.trigger.flags == [Flag("mount", "type=cache,target=/c")]


@pytest.mark.parametrize(
    "text, message",
    [
        ("ONBUILD ONBUILD RUN x", "chaining ONBUILD"),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        ("ONBUILD MAINTAINER x", "MAINTAINER isn't allowed"),
        ("ONBUILD", "ONBUILD requires at least one argument"),
        ("ONBUILD FOO x", "unknown instruction: FOO"),
    ],
)
def test_onbuild_errors(text, message):
    with pytest.raises(DockerfileSyntaxError, match=message):
        parse(text + "\n")


def test_unknown_instruction_names_line():
    with pytest.raises(DockerfileSyntaxError, match="^dockerfile line 3: unknown instruction: FOO$"):
        parse("FROM x\n\nfoo bar\n")


def test_errors_are_invalid_argument():
    assert issubclass(DockerfileSyntaxError, InvalidArgument)


def test_heredoc_run():
    # BuildKit heredoc docs
    df = parse("FROM x\nRUN <<EOF\napt-get update\napt-get install -y vim\nEOF\nRUN y\n")
    inst = df.instructions[1]
    assert inst.args == ["<<EOF"]
    assert inst.heredocs == [
        Heredoc("EOF", "apt-get update\napt-get install -y vim\n", True, False, None)
    ]
    assert (inst.start_line, inst.end_line) == (2, 5)
    assert df.instructions[2].start_line == 6


def test_heredoc_interpreter_and_quoted_delimiter():
    inst = one("RUN python3 <<'EOF'\nprint($HOME)\nEOF\n")
    assert inst.args == ["python3 <<'EOF'"]
    assert inst.heredocs == [Heredoc("EOF", "print($HOME)\n", False, False, None)]
    inst = one('RUN <<"EOF"\nx\nEOF\n')
    assert inst.heredocs[0].expand is False


def test_heredoc_chomp_strips_tabs():
    inst = one("RUN <<-EOT\n\techo a\n\t\techo b\n\tEOT\n")
    assert inst.heredocs == [Heredoc("EOT", "echo a\necho b\n", True, True, None)]


def test_heredoc_without_chomp_keeps_tabs():
    inst = one("RUN <<EOT\n\techo a\nEOT\n")
    assert inst.heredocs[0].content == "\techo a\n"


def test_several_heredocs_on_one_line():
    inst = one("RUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2\n")
    assert [(h.name, h.content) for h in inst.heredocs] == [
        ("FILE1", "I am\nfirst\n"), ("FILE2", "I am\nsecond\n"),
    ]
    assert inst.end_line == 7


def test_copy_heredoc_and_fd():
    inst = one("COPY <<EOF /dest\nhello\nEOF\n")
    assert inst.args == ["<<EOF", "/dest"]
    assert inst.heredocs == [Heredoc("EOF", "hello\n", True, False, None)]
    inst = one("RUN cat 3<<EOF\nx\nEOF\n")
    assert inst.heredocs[0].fd == 3


def test_heredoc_not_read_for_other_instructions():
    df = parse("CMD <<EOF\nFROM x\n")
    assert [i.cmd for i in df.instructions] == ["cmd", "from"]


def test_heredoc_body_not_parsed_as_instructions():
    df = parse("RUN <<EOF\n# not a comment\nbogus line\nEOF\n")
    assert df.instructions[0].heredocs[0].content == "# not a comment\nbogus line\n"


def test_onbuild_heredoc():
    inst = one("ONBUILD RUN <<EOF\necho hi\nEOF\n")
    assert inst.trigger.heredocs == [Heredoc("EOF", "echo hi\n", True, False, None)]
    assert (inst.start_line, inst.end_line) == (1, 3)


def test_exec_form_has_no_heredoc():
    df = parse('RUN ["cat", "<<EOF"]\nRUN x\n')
    assert df.instructions[0].heredocs == []
    assert [i.cmd for i in df.instructions] == ["run", "run"]
    with pytest.raises(DockerfileSyntaxError, match="line 2: unknown instruction: EOF"):
        parse('RUN ["cat", "<<EOF"]\nEOF\n')


def test_file_with_no_instructions():
    with pytest.raises(DockerfileSyntaxError, match="file with no instructions"):
        parse("# only a comment\n\n")


def test_indented_directive():
    assert parse("  # escape=`\nFROM x\n").escape == "`"


def test_unterminated_heredoc():
    with pytest.raises(DockerfileSyntaxError, match="line 2: unterminated heredoc 'EOF'"):
        parse("FROM x\nRUN <<EOF\nabc\n")


def test_expanding_instructions_table():
    assert EXPANDING_INSTRUCTIONS == {
        "add", "copy", "env", "expose", "from", "label", "stopsignal", "user",
        "volume", "workdir", "onbuild", "arg",
    }
    assert "run" not in EXPANDING_INSTRUCTIONS
