"""What each Dockerfile instruction does to the image being built.

Pure planning, as moby's legacy builder (``daemon/builder/dockerfile``:
``evaluator.go``, ``dispatchers.go``, ``internals.go``) decides it: the
stages and which of them a target needs, the meta args, and for each
instruction a :class:`Step` holding the config after it, its history
``created_by`` exactly as the legacy builder writes it, and what the
executor must do (nothing more than commit for metadata, run a command,
copy files, make the working directory). The executor (``cli/build.py``)
does the I/O: it resolves images, runs containers and copies files.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

from client.dockerfile.buildargs import BuildArgs
from client.dockerfile.gofmt import go_healthcheck, go_q_list, go_v_list
from client.dockerfile.parser import (
    Dockerfile,
    Heredoc,
    Instruction,
    arg_definitions,
    from_image_and_stage,
    key_values,
    parse,
)
from client.dockerfile.shellwords import Lexer
from client.errors import InvalidArgument

__all__ = [
    "BuildError", "CopyPlan", "DEFAULT_PATH", "DEFAULT_SHELL", "Plan", "Stage", "StageState", "Step",
    "begin_stage", "go_duration_ns", "normalize_dest", "plan_build", "step_for", "parse_trigger",
]

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SUPPORTED = frozenset({
    "from", "run", "cmd", "entrypoint", "env", "arg", "label", "expose", "workdir", "user", "volume",
    "stopsignal", "healthcheck", "shell", "onbuild", "copy", "add", "maintainer",
})
_SIGNALS = frozenset({
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE",
    "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU",
    "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "UNUSED",
})
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


class BuildError(InvalidArgument):
    """The Dockerfile asks for something the build cannot do; the message is docker's."""


@dataclass
class Stage:
    index: int
    name: Optional[str]
    base: str               # FROM's image, expanded with the meta args
    platform: Optional[str]
    source: str             # the FROM line as written
    instructions: List[Instruction]


@dataclass
class Plan:
    meta_args: List[Instruction]
    stages: List[Stage]
    needed: List[int]       # stage indexes to build, in file order
    target: int
    args: BuildArgs         # meta args applied

    def stage_by_name(self, name: str) -> Optional[Stage]:
        for stage in self.stages:
            if stage.name == name.lower():
                return stage
        return None

    def total_steps(self) -> int:
        return len(self.meta_args) + sum(1 + len(self.stages[i].instructions) for i in self.needed)


@dataclass
class CopyPlan:
    add: bool
    sources: List[str]
    dest: str               # as written (expanded): the history shows it
    dest_path: str          # absolute, trailing slash kept
    from_: Optional[str]
    chown: Optional[str]
    chmod: Optional[str]
    link: bool
    checksum: Optional[str]
    heredocs: List[Heredoc] = field(default_factory=list)


@dataclass
class Step:
    kind: str               # "meta", "run", "copy" or "workdir"
    text: str               # what "Step N/M :" prints
    created_by: str         # for "copy", "{src}" stands for the sources' hash
    config: dict            # the image config's "config" object after the step
    author: str = ""
    argv: List[str] = field(default_factory=list)      # run: the command
    env: List[str] = field(default_factory=list)       # run: its environment (build args added)
    copy: Optional[CopyPlan] = None
    workdir: str = ""
    notes: List[str] = field(default_factory=list)     # lines docker prints before the step runs


@dataclass
class StageState:
    config: dict
    args: BuildArgs
    escape: str = "\\"
    maintainer: str = ""
    cmd_set: bool = False

    def shell(self) -> List[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)

    def env(self) -> List[str]:
        return list(self.config.get("Env") or [])

    def expansion_env(self) -> Dict[str, str]:
        out: Dict[str, str] = {}
        for item in self.env() + self.args.filter_allowed(self.env()):
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def comment(self, text: str) -> str:
        """moby's withCmdComment: shell + "#(nop) " + text, joined by spaces."""
        return " ".join(self.shell() + ["#(nop) ", text])

    def comment_string(self, text: str) -> str:
        """moby's withCmdCommentString: shell + "#(nop) text"."""
        return " ".join(self.shell() + ["#(nop) " + text])


# ---- stages -------------------------------------------------------------------

def plan_build(df: Dockerfile, build_args: Dict[str, Optional[str]], target: Optional[str]) -> Plan:
    """Split into meta args and stages, apply the meta args, find what the target needs."""
    for inst in df.instructions:
        if inst.cmd not in SUPPORTED:
            raise BuildError(f"dockerfile line {inst.start_line}: unknown instruction: {inst.cmd.upper()}")
    meta: List[Instruction] = []
    stages: List[Stage] = []
    args = BuildArgs(build_args)
    lexer = Lexer(df.escape)
    for inst in df.instructions:
        if inst.cmd == "from":
            image, name = from_image_and_stage(inst)
            flag = inst.flag("platform")
            if name is not None and any(s.name == name for s in stages):
                raise BuildError(f"{name} stage name already used")
            env = args.all_meta()
            base = lexer.process_word(image, env)
            if not base:
                raise BuildError(f"base name ({image}) should not be blank")
            platform = lexer.process_word(flag.value or "", env) if flag is not None else None
            stages.append(Stage(len(stages), name, base, platform, inst.original, []))
        elif not stages:
            if inst.cmd != "arg":
                raise BuildError(f"dockerfile line {inst.start_line}: no build stage in current context")
            meta.append(inst)
            env = args.all_allowed()
            for key, default in arg_definitions(inst):
                value = lexer.process_word(default, env) if default is not None else None
                args.add_meta(key, value)
        else:
            if inst.cmd == "onbuild" and inst.trigger is not None and inst.trigger.cmd in ("onbuild", "from", "maintainer"):
                raise BuildError(f"{inst.trigger.cmd.upper()} isn't allowed as an ONBUILD trigger")
            stages[-1].instructions.append(inst)
    if not stages:
        raise BuildError("no build stage in current context")
    if target:
        found = next((s for s in stages if s.name == target.lower()), None)
        if found is None:
            raise BuildError(f'failed to reach build target {target} in Dockerfile')
        target_ix = found.index
    else:
        target_ix = len(stages) - 1
    needed = sorted(_closure(stages, target_ix, lexer, args))
    return Plan(meta, stages, needed, target_ix, args)


def stage_dependencies(stages: Sequence[Stage], stage: Stage, lexer: Lexer, args: BuildArgs) -> Set[int]:
    """Stages this one reads: its FROM when it names an earlier stage, and COPY --from."""
    deps: Set[int] = set()
    earlier = stages[: stage.index]
    by_name = {s.name: s.index for s in earlier if s.name}
    if stage.base.lower() in by_name:
        deps.add(by_name[stage.base.lower()])
    for inst in stage.instructions:
        flag = inst.flag("from") if inst.cmd == "copy" else None
        if flag is None or not flag.value:
            continue
        ref = lexer.process_word(flag.value, args.all_meta()).lower()
        if ref in by_name:
            deps.add(by_name[ref])
        elif ref.isdigit():
            ix = int(ref)
            if ix >= stage.index:
                raise BuildError(f"invalid from flag value {flag.value}: "
                                 + ("refers to current build stage" if ix == stage.index else "index out of bounds"))
            deps.add(ix)
    return deps


def _closure(stages: Sequence[Stage], target: int, lexer: Lexer, args: BuildArgs) -> Set[int]:
    seen: Set[int] = set()
    todo = [target]
    while todo:
        ix = todo.pop()
        if ix in seen:
            continue
        seen.add(ix)
        todo.extend(stage_dependencies(stages, stages[ix], lexer, args))
    return seen


def begin_stage(base_config: Optional[dict], args: BuildArgs, escape: str) -> Tuple[StageState, List[str]]:
    """The state after FROM, and the base image's ONBUILD triggers to run now."""
    config = copy.deepcopy(base_config or {})
    env = list(config.get("Env") or [])
    if not any(e.split("=", 1)[0] == "PATH" for e in env):
        env.append("PATH=" + DEFAULT_PATH)
    config["Env"] = env
    config["OpenStdin"] = False
    config["StdinOnce"] = False
    triggers = list(config.get("OnBuild") or [])
    config["OnBuild"] = None
    return StageState(config, args.clone_for_stage(), escape), triggers


def parse_trigger(trigger: str) -> Instruction:
    """An ONBUILD trigger (from the base image's config) as one instruction."""
    df = parse(trigger + "\n")
    if len(df.instructions) != 1:
        raise BuildError("onbuild trigger should be a single expression")
    inst = df.instructions[0]
    if inst.cmd not in SUPPORTED or inst.cmd in ("from", "onbuild", "maintainer"):
        raise BuildError(f"{inst.cmd.upper()} isn't allowed as an ONBUILD trigger")
    return inst


# ---- steps --------------------------------------------------------------------

def normalize_dest(workdir: str, dest: str) -> str:
    """moby's normalizeDest: relative to WORKDIR, trailing slash kept."""
    if dest.startswith("/"):
        return dest
    joined = _clean("/" + (workdir or "/") + "/" + dest)
    return joined + "/" if dest.endswith("/") and joined != "/" else joined


def _clean(path: str) -> str:
    parts: List[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def go_duration_ns(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds: "30s", "1m30s", "500ms"."""
    if text in ("", "0"):
        return 0
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION.match(text, pos)
        if not m:
            raise BuildError(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    return int(total)


def _duration(flag: str, text: Optional[str]) -> int:
    return go_duration_ns(text or "")


def _cmdline(state: StageState, inst: Instruction) -> List[str]:
    if inst.json:
        return list(inst.args)
    text = inst.args[0] if inst.args else ""
    return state.shell() + [text]


def step_for(state: StageState, inst: Instruction) -> Step:
    """Apply one instruction to ``state`` (its config changes in place) and say what to do."""
    cmd = inst.cmd
    lexer = Lexer(state.escape)
    env = state.expansion_env()

    def word(text: str) -> str:
        return lexer.process_word(text, env)

    cfg = state.config
    if cmd == "env":
        message = "ENV"
        current = list(cfg.get("Env") or [])
        for key, raw in key_values(inst):
            value = word(raw)
            message += f" {key}={value}"
            for i, item in enumerate(current):
                if item.split("=", 1)[0] == key:
                    current[i] = f"{key}={value}"
                    break
            else:
                current.append(f"{key}={value}")
        cfg["Env"] = current
        return _meta(state, inst, state.comment(message))
    if cmd == "label":
        labels = dict(cfg.get("Labels") or {})
        message = "LABEL"
        for raw_key, raw in key_values(inst):
            key, value = word(raw_key), word(raw)
            labels[key] = value
            message += f" {key}={value}"
        cfg["Labels"] = labels
        return _meta(state, inst, state.comment(message))
    if cmd == "maintainer":
        state.maintainer = inst.args[0] if inst.args else ""
        return _meta(state, inst, state.comment("MAINTAINER " + state.maintainer))
    if cmd == "arg":
        parts = []
        for key, default in arg_definitions(inst):
            arg_value: Optional[str] = word(default) if default is not None else None
            state.args.add_arg(key, arg_value)
            parts.append(key if arg_value is None else f"{key}={arg_value}")
        return _meta(state, inst, state.comment("ARG " + " ".join(parts)))
    if cmd == "cmd":
        argv = _cmdline(state, inst)
        cfg["Cmd"] = argv
        cfg["ArgsEscaped"] = False if not inst.json else cfg.get("ArgsEscaped", False)
        if inst.args:
            state.cmd_set = True
        return _meta(state, inst, state.comment("CMD " + go_q_list(argv)))
    if cmd == "entrypoint":
        argv = _cmdline(state, inst) if (inst.args or inst.json) else []
        cfg["Entrypoint"] = argv or None
        if not state.cmd_set:
            cfg["Cmd"] = None
        return _meta(state, inst, state.comment("ENTRYPOINT " + go_q_list(argv)))
    if cmd == "expose":
        ports = [p for raw in inst.args for p in lexer.process_words(raw, env)]
        exposed = dict(cfg.get("ExposedPorts") or {})
        for spec in {spec for port in ports for spec in _port_specs(port)}:
            exposed[spec] = {}
        cfg["ExposedPorts"] = exposed
        # docker 20.10 writes the ports as given, sorted as strings ("443/tcp 53/udp 80")
        return _meta(state, inst, state.comment("EXPOSE " + " ".join(sorted(ports))))
    if cmd == "user":
        cfg["User"] = word(inst.args[0])
        return _meta(state, inst, state.comment("USER " + cfg["User"]))
    if cmd == "volume":
        vols = [word(v) for v in inst.args]
        volumes = dict(cfg.get("Volumes") or {})
        for v in vols:
            if v == "":
                raise BuildError("VOLUME specified can not be an empty string")
            volumes[v] = {}
        cfg["Volumes"] = volumes
        return _meta(state, inst, state.comment("VOLUME " + go_v_list(vols)))
    if cmd == "stopsignal":
        sig = word(inst.args[0])
        _check_signal(sig)
        cfg["StopSignal"] = sig
        return _meta(state, inst, state.comment("STOPSIGNAL " + sig))
    if cmd == "shell":
        if not inst.json:
            raise BuildError("SHELL requires the arguments to be in JSON form")
        cfg["Shell"] = list(inst.args)
        return _meta(state, inst, state.comment("SHELL " + go_v_list(cfg["Shell"])))
    if cmd == "healthcheck":
        health = _healthcheck(inst)
        old = cfg.get("Healthcheck") or {}
        notes = []
        if old.get("Test") and old["Test"][0] != "NONE":
            notes.append(f"Note: overriding previous HEALTHCHECK: {go_v_list(old['Test'])}")
        # moby's commit merges the parent's check into a new one's zero fields
        # (daemon/commit.go merge); the history shows the instruction's own
        merged = dict(health)
        for key in ("Interval", "Timeout", "StartPeriod", "Retries"):
            if not merged.get(key) and old.get(key):
                merged[key] = old[key]
        cfg["Healthcheck"] = merged
        step = _meta(state, inst, state.comment("HEALTHCHECK " + go_healthcheck(health)))
        step.notes = notes
        return step
    if cmd == "onbuild":
        expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", inst.original, count=1)
        cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [expression]
        return _meta(state, inst, state.comment("ONBUILD " + expression))
    if cmd == "workdir":
        requested = word(inst.args[0])
        if not requested:
            raise BuildError("cannot normalize nothing")
        previous = cfg.get("WorkingDir") or ""
        path = _clean(requested) if requested.startswith("/") else _clean("/" + previous + "/" + requested)
        cfg["WorkingDir"] = path
        step = Step("workdir", inst.original, state.comment_string("WORKDIR " + path), copy.deepcopy(cfg),
                    state.maintainer, workdir=path)
        return step
    if cmd == "run":
        return _run(state, inst)
    if cmd in ("copy", "add"):
        return _copy(state, inst, word)
    raise BuildError(f"dockerfile line {inst.start_line}: unknown instruction: {cmd.upper()}")


def _meta(state: StageState, inst: Instruction, created_by: str) -> Step:
    return Step("meta", inst.original, created_by, copy.deepcopy(state.config), state.maintainer)


def _run(state: StageState, inst: Instruction) -> Step:
    for used in inst.flags:
        raise BuildError(f"the --{used.name} option requires BuildKit. Refer to "
                         "https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled")
    if inst.heredocs and not inst.json:
        argv = state.shell() + [_heredoc_script(inst)]
    else:
        argv = _cmdline(state, inst)
    build_env = state.args.filter_allowed(state.env())
    saved = list(argv)
    if build_env:
        kept = sorted(e for e in build_env if state.args.referenced_or_not_builtin(e.split("=", 1)[0]))
        saved = [f"|{len(kept)}"] + kept + argv
    step = Step("run", inst.original, " ".join(saved), copy.deepcopy(state.config), state.maintainer,
                argv=argv, env=state.env() + build_env)
    return step


def _heredoc_script(inst: Instruction) -> str:
    """BuildKit's RUN heredoc: ``RUN <<EOF`` alone runs the body as the script;
    otherwise the shell gets the line with its heredocs, as a shell would read them."""
    line = inst.args[0] if inst.args else ""
    only = inst.heredocs[0]
    if len(inst.heredocs) == 1 and re.fullmatch(r"\s*\d*<<-?\s*['\"]?" + re.escape(only.name) + r"['\"]?\s*", line):
        return only.content
    parts = [line]
    for doc in inst.heredocs:
        parts.append(doc.content.rstrip("\n"))
        parts.append(doc.name)
    return "\n".join(parts)


def _copy(state: StageState, inst: Instruction, word) -> Step:
    add = inst.cmd == "add"
    allowed = {"chown", "chmod", "from", "link", "checksum", "keep-git-dir"} if add else {"chown", "chmod", "from", "link", "parents", "exclude"}
    for flag in inst.flags:
        if flag.name not in allowed or (add and flag.name == "from"):
            raise BuildError(f"dockerfile line {inst.start_line}: unknown flag: {flag.name}")
        if flag.name in ("parents", "exclude", "keep-git-dir"):
            raise BuildError(f"dockerfile line {inst.start_line}: --{flag.name} is not supported")
    words = [word(a) for a in inst.args]
    if len(words) < (1 if inst.heredocs else 2):
        raise BuildError(f"{inst.cmd.upper()} requires at least two arguments, but only one was provided. "
                         "Destination could not be determined.")
    sources, dest = words[:-1], words[-1]
    heredocs = []
    for doc in inst.heredocs:
        content = doc.content
        if doc.expand:
            content = Lexer(state.escape, raw_quotes=True, raw_escapes=True).process_word(content, state.expansion_env()) if "$" in content else content
        heredocs.append(Heredoc(doc.name, content, doc.expand, doc.chomp, doc.fd))
    heredoc_names = {f"<<{d.name}" for d in inst.heredocs} | {f"<<-{d.name}" for d in inst.heredocs}
    sources = [s for s in sources if s not in heredoc_names]

    def flag_value(name: str) -> Optional[str]:
        f = inst.flag(name)
        return None if f is None else (word(f.value) if f.value is not None else "")

    link = inst.flag("link") is not None
    plan = CopyPlan(add, sources, dest, normalize_dest(state.config.get("WorkingDir") or "", dest),
                    flag_value("from"), flag_value("chown"), flag_value("chmod"), link,
                    flag_value("checksum"), heredocs)
    if plan.chmod is not None and not re.fullmatch(r"[0-7]{3,4}", plan.chmod):
        raise BuildError(f"invalid chmod parameter: {plan.chmod}")
    if plan.checksum is not None and not add:
        raise BuildError("--checksum is only allowed with ADD")
    if len(sources) + len(heredocs) > 1 and not dest.endswith("/"):
        raise BuildError(f"When using {inst.cmd.upper()} with more than one source file, "
                         "the destination must be a directory and end with a /")
    # docker 20.10 writes "--chown=1:2file:<hash>", with no space (moby 23+ adds one)
    chown = f"--chown={plan.chown}" if plan.chown else ""
    created_by = state.comment_string(f"{inst.cmd.upper()} {chown}{{src}} in {dest} ")
    return Step("copy", inst.original, created_by, copy.deepcopy(state.config), state.maintainer, copy=plan)


def _port_specs(port: str) -> List[str]:
    body, _, proto = port.rpartition(":")[2].partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise BuildError(f"invalid proto: {proto}")
    if not body:
        raise BuildError(f"no port specified: {port}<empty>")
    start_s, _, end_s = body.partition("-")
    try:
        start, end = int(start_s), int(end_s or start_s)
    except ValueError:
        raise BuildError(f"invalid containerPort: {body}") from None
    if not (0 < start <= 65535 and start <= end <= 65535):
        raise BuildError(f"invalid containerPort: {body}")
    return [f"{p}/{proto}" for p in range(start, end + 1)]


def _check_signal(sig: str) -> None:
    name = sig.upper().removeprefix("SIG")
    if name.isdigit():
        if not 0 < int(name) <= 64:
            raise BuildError(f"Invalid signal: {sig}")
        return
    if name in _SIGNALS or re.fullmatch(r"RTMIN(\+\d+)?|RTMAX(-\d+)?", name):
        return
    raise BuildError(f"Invalid signal: {sig}")


def _healthcheck(inst: Instruction) -> dict:
    if not inst.args:
        raise BuildError("HEALTHCHECK requires an argument")
    if inst.args[0] == "NONE":
        if inst.flags:
            raise BuildError("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    rest = inst.args[1:]
    test = ["CMD"] + rest if inst.json else ["CMD-SHELL", rest[0]]
    health: dict = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod")):
        f = inst.flag(flag)
        ns = _duration("--" + flag, f.value if f else None)
        if ns and ns < 10**6:
            raise BuildError(f"--{flag} cannot be less than 1ms")
        if ns:
            health[key] = ns
    f = inst.flag("retries")
    if f is not None and f.value:
        try:
            retries = int(f.value)
        except ValueError:
            raise BuildError(f'strconv.ParseInt: parsing "{f.value}": invalid syntax') from None
        if retries < 0:
            raise BuildError("--retries cannot be negative")
        if retries:
            health["Retries"] = retries
    for given in inst.flags:
        if given.name not in ("interval", "timeout", "start-period", "retries", "start-interval"):
            raise BuildError(f"dockerfile line {inst.start_line}: unknown flag: {given.name}")
    return health
