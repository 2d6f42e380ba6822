"""Dockerfiles barque's build is checked against docker 20.10's legacy builder
on, each with its context; ``{busybox}`` and ``{debian}`` stand for the
session's base images.

The cases follow what moby's integration-cli build tests
(``docker_cli_build_test.go``) and docker/cli's builder tests exercise, as
facts: each instruction's forms (ENV/LABEL quoting and continuations,
exec and shell forms, the escape directive, ARG scope and defaults, EXPOSE
ranges, VOLUME forms, HEALTHCHECK flags), COPY/ADD's path rules (a file to
a new name, into an existing directory, a directory's contents, several
sources, wildcards, JSON form with spaces, ``--chown``), ADD of a local tar,
WORKDIR chains, stages by index, and ``.dockerignore`` patterns. bench/
imports the multi-stage C build from here too.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field

__all__ = ["CORPUS", "Case", "HELLO_C", "MULTI_STAGE", "tar_bytes"]

HELLO_C = """\
#include <stdio.h>
int main(void) { printf("hello from C\\n"); return 0; }
"""

#: a static C program compiled with Debian's gcc, copied into a busybox stage
MULTI_STAGE = """\
FROM {debian} AS build
WORKDIR /src
COPY hello.c .
RUN gcc -static -O2 -o /hello hello.c
FROM {busybox}
COPY --from=build /hello /usr/local/bin/hello
CMD ["/usr/local/bin/hello"]
"""


def tar_bytes(members: dict[str, bytes], uid: int = 0) -> bytes:
    """A gzip tar of ``members`` (files 0640, owned ``uid``, a fixed mtime)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o640, uid, uid, 1_600_000_000
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass(frozen=True)
class Case:
    dockerfile: str
    files: dict[str, bytes | str] = field(default_factory=dict)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None


CORPUS: dict[str, Case] = {
    "env-forms": Case(
        "FROM {busybox}\n"
        "ENV A=1 B=\"two words\" C=three\\ four\n"
        "ENV D old form with spaces\n"
        "ENV E=$A-${B} F=${UNSET:-dflt} G=${A:+alt} H='single $A'\n"
        "ENV A=redefined I=$A\n"),
    "label-forms": Case(
        "FROM {busybox}\n"
        "ARG VER=1.2\n"
        "LABEL \"quoted key\"=\"v\" multi=1 \\\n"
        "      other=\"x y\"\n"
        "LABEL version=$VER empty=\"\"\n"),
    "escape-directive": Case(
        "# escape=`\n"
        "FROM {busybox}\n"
        "ENV PATHLIKE=C:\\dir\\sub `\n"
        "    NEXT=line\n"
        "WORKDIR /x`\n"
        "y\n"),
    "continuation-comments": Case(
        "FROM {busybox}\n"
        "RUN echo one > /f && \\\n"
        "# a comment inside\n"
        "    echo two >> /f\n"
        "\n"
        "# a comment\n"
        "CMD [\"cat\", \\\n"
        "     \"/f\"]\n"),
    "arg-scope": Case(
        "ARG BASE_TAG=unused\n"
        "ARG GLOBAL=g\n"
        "FROM {busybox}\n"
        "ARG GLOBAL\n"
        "ARG LOCAL=l\n"
        "ARG OVERRIDE=default\n"
        "ENV FROM_ARGS=$GLOBAL-$LOCAL-$OVERRIDE\n"
        "RUN echo \"$GLOBAL $LOCAL $OVERRIDE\" > /args\n",
        build_args={"OVERRIDE": "given"}),
    "exec-and-shell-forms": Case(
        "FROM {busybox}\n"
        "ENTRYPOINT [\"/bin/echo\", \"entry\"]\n"
        "CMD [\"a\", \"b c\"]\n"
        "ENTRYPOINT /bin/echo shell-entry\n"
        "CMD echo $HOME\n"),
    "entrypoint-clears-inherited-cmd": Case(
        "FROM {busybox}\n"
        "ENTRYPOINT [\"/bin/sh\"]\n"),
    "workdir-chain": Case(
        "FROM {busybox}\n"
        "ENV SUB=deeper\n"
        "WORKDIR /a\n"
        "WORKDIR b\n"
        "WORKDIR ../c/$SUB\n"
        "COPY f ./\n"
        "WORKDIR /etc\n",
        {"f": "f\n"}),
    "expose-volume-user-stopsignal": Case(
        "FROM {busybox}\n"
        "EXPOSE 80 443/tcp 53/udp\n"
        "EXPOSE 8000-8002\n"
        "VOLUME /a /b\n"
        "VOLUME [\"/c\"]\n"
        "USER 1000\n"
        "USER nobody:nogroup\n"
        "STOPSIGNAL 9\n"
        "STOPSIGNAL SIGUSR1\n"),
    "healthcheck-forms": Case(
        "FROM {busybox}\n"
        "HEALTHCHECK --interval=1m30s --timeout=5s --start-period=2s --retries=4 CMD [\"true\"]\n"
        "HEALTHCHECK CMD wget -q localhost || exit 1\n"
        "HEALTHCHECK NONE\n"),
    "shell-change": Case(
        "FROM {busybox}\n"
        "SHELL [\"/bin/sh\", \"-ec\"]\n"
        "RUN echo x > /f\n"
        "CMD echo y\n"
        "ONBUILD RUN echo later\n"),
    "copy-path-rules": Case(
        "FROM {busybox}\n"
        "COPY a.txt /renamed.txt\n"
        "COPY a.txt /etc\n"
        "COPY dir /dirdest\n"
        "COPY dir/ /dir2/\n"
        "COPY a.txt b.txt /multi/\n"
        "COPY *.txt /glob/\n"
        "COPY [\"sp ace.txt\", \"/json dest/\"]\n"
        "COPY dir/sub/../n.txt /up/\n",
        {"a.txt": "a\n", "b.txt": "b\n", "sp ace.txt": "s\n", "dir/n.txt": "n\n", "dir/sub/m.txt": "m\n"}),
    "copy-chown": Case(
        "FROM {busybox}\n"
        "COPY --chown=1:2 f /owned/\n"
        "COPY --chown=nobody:nogroup dir /named/\n"
        "COPY --chown=123:456 dir /numeric\n",
        {"f": "f\n", "dir/x": "x\n", "dir/y/z": "z\n"}),
    "add-local-tar": Case(
        "FROM {busybox}\n"
        "ADD pkg.tar.gz /opt/\n"
        "ADD plain.txt /plain/\n"
        "ADD pkg.tar.gz /opt2\n",
        {"pkg.tar.gz": tar_bytes({"pkg/bin/tool": b"#!/bin/sh\n", "pkg/README": b"r\n"}, uid=1234),
         "plain.txt": "p\n"}),
    "stages-by-index": Case(
        "FROM {busybox} AS first\n"
        "RUN mkdir -p /out && echo one > /out/one\n"
        "FROM {busybox}\n"
        "RUN echo two > /two\n"
        "FROM {busybox}\n"
        "COPY --from=0 /out /from-first\n"
        "COPY --from=1 /two /from-second\n"),
    "run-args-and-empty-layers": Case(
        "FROM {busybox}\n"
        "ARG A=1\n"
        "RUN echo $A > /a\n"
        "ARG B\n"
        "RUN true\n"
        "ENV A=2\n"
        "RUN echo $A > /b\n",
        build_args={"B": "bee"}),
    "dockerignore-patterns": Case(
        "FROM {busybox}\n"
        "COPY . /ctx/\n",
        {".dockerignore": "*/tmp*\n**/.git\n*.md\n!README.md\nsecret\n",
         "README.md": "r\n", "NOTES.md": "n\n", "a/tmpfile": "t\n", "a/keep": "k\n",
         "b/.git/config": "g\n", "b/c/.git/HEAD": "h\n", "b/c/file": "f\n", "secret": "s\n"}),
    "maintainer-and-labels-on-last-stage": Case(
        "FROM {busybox} AS base\n"
        "MAINTAINER someone <s@example.org>\n"
        "FROM base\n"
        "LABEL stage=final\n"),
}
