"""The container process as Docker defines it, through the real CLI: argv from
ENTRYPOINT/CMD/--entrypoint, environment, HOME, working dir, user and groups,
exit codes, and stop/kill signal semantics."""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.runtime import sh, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def entry_image(rt_engine, hand_built_image) -> str:
    """Entrypoint ["echo", "ep"], Cmd ["cmd"], its own Env and a missing WorkingDir."""
    ref = hand_built_image("entrypoint", config={
        "Entrypoint": ["echo", "ep"], "Cmd": ["cmd"],
        "Env": ["PATH=/usr/bin:/bin", "FROM_IMAGE=img", "OVERRIDE=img"],
        "WorkingDir": "/srv/app",
    }).ref
    rt_engine.ok("pull", ref)
    return ref


@pytest.fixture(scope="module")
def bare_image(rt_engine, hand_built_image) -> str:
    """No Env (so no PATH), no Cmd: the runtime must supply the defaults."""
    ref = hand_built_image("bare", config={"Env": None, "Cmd": None, "WorkingDir": ""}).ref
    rt_engine.ok("pull", ref)
    return ref


@pytest.fixture(scope="module")
def user_image(rt_engine, hand_built_image) -> str:
    ref = hand_built_image("user", config={"User": "app"}).ref
    rt_engine.ok("pull", ref)
    return ref


@pytest.fixture(scope="module")
def stop_signal_image(rt_engine, hand_built_image) -> str:
    """StopSignal SIGUSR1; its command exits 7 on USR1 and ignores TERM."""
    ref = hand_built_image("stopsignal", config={
        "StopSignal": "SIGUSR1",
        "Cmd": ["sh", "-c", "trap 'echo got-usr1; exit 7' USR1; trap '' TERM; echo ready; "
                "while true; do sleep 0.1; done"],
    }).ref
    rt_engine.ok("pull", ref)
    return ref


def _env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


# ---- argv --------------------------------------------------------------------------------

def test_entrypoint_and_cmd_from_the_image(rt_engine, entry_image):
    assert rt_engine.ok("run", "--rm", entry_image).stdout == "ep cmd\n"


def test_arguments_replace_cmd_only(rt_engine, entry_image):
    assert rt_engine.ok("run", "--rm", entry_image, "x", "y").stdout == "ep x y\n"


def test_entrypoint_flag_replaces_entrypoint_and_cmd(rt_engine, entry_image):
    assert rt_engine.ok("run", "--rm", "--entrypoint", "echo", entry_image, "y").stdout == "y\n"
    # a new entrypoint drops the image's Cmd, as Docker does
    assert rt_engine.ok("run", "--rm", "--entrypoint", "echo", entry_image).stdout == "\n"


def test_empty_entrypoint_runs_the_arguments(rt_engine, entry_image):
    assert rt_engine.ok("run", "--rm", "--entrypoint", "", entry_image, "echo", "z").stdout == "z\n"


def test_arguments_are_not_split_or_globbed(rt_engine, busybox):
    out = rt_engine.ok("run", "--rm", busybox, "echo", "a  b", "*", "$HOME").stdout
    assert out == "a  b * $HOME\n"


# ---- environment, home, working dir -------------------------------------------------------

def test_env_from_image_flags_and_env_file(rt_engine, entry_image):
    with tempfile.NamedTemporaryFile("w", suffix=".env", delete=False) as f:
        f.write("# comment\nFROM_FILE=file\nOVERRIDE=file\n\n")
    try:
        out = rt_engine.ok("run", "--rm", "--entrypoint", "env", "--env-file", f.name, "-e", "OVERRIDE=cli",
                           "-e", "FROM_CLI_ENV", "-e", "EMPTY=", entry_image,
                           env={"FROM_CLI_ENV": "inherited"}).stdout
    finally:
        os.unlink(f.name)
    env = _env(out)
    assert env["PATH"] == "/usr/bin:/bin"
    assert env["FROM_IMAGE"] == "img"
    assert env["FROM_FILE"] == "file"
    assert env["OVERRIDE"] == "cli"  # -e wins over --env-file, which wins over the image
    assert env["FROM_CLI_ENV"] == "inherited"
    assert env["EMPTY"] == ""
    assert env["HOME"] == "/root"
    assert re.fullmatch(r"[0-9a-f]{12}", env["HOSTNAME"]), env.get("HOSTNAME")


def test_default_path_when_the_image_sets_none(rt_engine, bare_image):
    out = rt_engine.ok("run", "--rm", bare_image, "env").stdout
    assert _env(out)["PATH"] == DEFAULT_PATH


def test_home_comes_from_passwd(rt_engine, busybox):
    assert _env(rt_engine.ok("run", "--rm", busybox, "env").stdout)["HOME"] == "/root"
    assert _env(rt_engine.ok("run", "--rm", "-u", "app", busybox, "env").stdout)["HOME"] == "/home/app"
    # a uid without a passwd entry gets "/"
    assert _env(rt_engine.ok("run", "--rm", "-u", "4242", busybox, "env").stdout)["HOME"] == "/"
    # an explicit HOME wins
    assert _env(rt_engine.ok("run", "--rm", "-e", "HOME=/x", busybox, "env").stdout)["HOME"] == "/x"


def test_working_dir_is_created(rt_engine, busybox, entry_image):
    assert rt_engine.ok("run", "--rm", "-w", "/new/dir", busybox, "pwd").stdout == "/new/dir\n"
    assert rt_engine.ok("run", "--rm", "--entrypoint", "pwd", entry_image).stdout == "/srv/app\n"
    cid = rt_engine.ok("create", entry_image).stdout.strip()
    try:  # inspect shows the image's working dir, as docker's does
        assert rt_engine.ok("inspect", "-f", "{{.Config.WorkingDir}}", cid).stdout == "/srv/app\n"
    finally:
        rt_engine.ok("rm", cid)
    assert rt_engine.ok("run", "--rm", busybox, "pwd").stdout == "/\n"


def test_working_dir_created_for_a_non_root_user_is_usable(rt_engine, busybox):
    out = rt_engine.ok("run", "--rm", "-u", "app", "-w", "/work/here", busybox, "sh", "-c",
                       "pwd; ls -ld .").stdout.splitlines()
    assert out[0] == "/work/here"


# ---- users and groups ------------------------------------------------------------------------

def test_user_by_name_has_its_groups(rt_engine, busybox):
    out = rt_engine.ok("run", "--rm", "-u", "app", busybox, "id").stdout.strip()
    assert out.startswith("uid=1000(app) gid=1000(app)")
    assert "50(staff)" in out


def test_user_by_uid_and_uid_gid(rt_engine, busybox):
    # a uid with a passwd entry is that user: its own gid and its /etc/group memberships
    # (the kernel keeps the groups sorted)
    assert rt_engine.ok("run", "--rm", "-u", "1000", busybox, "id").stdout == (
        "uid=1000(app) gid=1000(app) groups=50(staff),1000(app)\n")
    assert rt_engine.ok("run", "--rm", "-u", "1000:50", busybox, "sh", "-c", "id -u; id -g").stdout == "1000\n50\n"
    unknown = rt_engine.ok("run", "--rm", "-u", "4242:4243", busybox, "sh", "-c", "id -u; id -g").stdout
    assert unknown == "4242\n4243\n"
    assert rt_engine.ok("run", "--rm", "-u", "nobody", busybox, "id", "-un").stdout == "nobody\n"


def test_primary_group_is_a_supplementary_group(rt_engine, busybox):
    # as Docker (moby getUser, GHSA-rc4r-wh2q-q6c4): the primary gid is always among the groups
    assert rt_engine.ok("run", "--rm", "-u", "1234:5678", busybox, "id").stdout == "uid=1234 gid=5678 groups=5678\n"
    assert rt_engine.ok("run", "--rm", "-u", "app:staff", busybox, "id").stdout == (
        "uid=1000(app) gid=50(staff) groups=50(staff)\n")
    assert rt_engine.ok("run", "--rm", busybox, "id").stdout == "uid=0(root) gid=0(root) groups=0(root)\n"


def test_oom_score_adj(rt_engine, busybox):
    """The toy option of issue 8: one spec option, one CLI flag, the proto field already there."""
    assert rt_engine.ok("run", "--rm", "--oom-score-adj", "500", busybox,
                        "cat", "/proc/self/oom_score_adj").stdout == "500\n"
    res = rt_engine.cli("run", "--rm", "--oom-score-adj", "1001", busybox, "true")
    assert res.returncode == 125
    assert res.stderr.strip().endswith("Invalid value 1001, range for oom score adj is [-1000, 1000]")
    assert rt_engine.ok("ps", "-aq").lines == []
    cid = rt_engine.ok("create", "--oom-score-adj", "-200", busybox, "true").stdout.strip()
    try:
        assert rt_engine.ok("inspect", "-f", "{{.HostConfig.OomScoreAdj}}", cid).stdout == "-200\n"
    finally:
        rt_engine.ok("rm", cid)


def test_unknown_user_name_is_an_engine_error(rt_engine, busybox):
    res = rt_engine.cli("run", "--rm", "-u", "no-such-user", busybox, "true")
    assert res.returncode == 125
    assert "no-such-user" in res.stderr


def test_user_from_the_image(rt_engine, user_image):
    assert rt_engine.ok("run", "--rm", user_image, "id", "-un").stdout == "app\n"
    cid = rt_engine.ok("create", user_image, "true").stdout.strip()
    try:
        assert rt_engine.ok("inspect", "-f", "{{.Config.User}}", cid).stdout == "app\n"
    finally:
        rt_engine.ok("rm", cid)
    assert rt_engine.ok("run", "--rm", "-u", "root", user_image, "id", "-un").stdout == "root\n"


# ---- exit codes ------------------------------------------------------------------------------

def test_exit_status_and_output(rt_engine, busybox):
    res = sh(rt_engine, busybox, "echo hi; echo oops >&2; exit 3")
    assert (res.returncode, res.stdout, res.stderr) == (3, "hi\n", "oops\n")


def test_command_not_found_is_127(rt_engine, busybox):
    res = rt_engine.cli("run", "--rm", busybox, "no-such-command")
    assert res.returncode == 127
    assert "no-such-command" in res.stderr
    assert rt_engine.ok("ps", "-aq").lines == []


def test_not_executable_is_126(rt_engine, busybox):
    res = rt_engine.cli("run", "--rm", busybox, "/etc/passwd")
    assert res.returncode == 126
    assert "/etc/passwd" in res.stderr and "permission denied" in res.stderr.lower()


def test_unknown_image_is_125(rt_engine, test_images):
    host = test_images["oci-gzip"].host
    res = rt_engine.cli("run", "--rm", f"{host}/test/no-such-image:latest", "true")
    assert res.returncode == 125
    assert "no-such-image" in res.stderr and "not found" in res.stderr


def test_bad_flag_is_125(rt_engine, busybox):
    res = rt_engine.cli("run", "--rm", "--no-such-flag", busybox, "true")
    assert res.returncode == 125
    assert "--no-such-flag" in res.stderr
    res = rt_engine.cli("run", "--rm", "-m", "lots", busybox, "true")
    assert res.returncode == 125 and "lots" in res.stderr


def test_taken_name_is_125_and_names_it(rt_engine, busybox):
    rt_engine.ok("create", "--name", "taken", busybox, "true")
    try:
        res = rt_engine.cli("run", "--rm", "--name", "taken", busybox, "true")
    finally:
        rt_engine.ok("rm", "taken")
    assert res.returncode == 125
    assert '"/taken"' in res.stderr and "already in use" in res.stderr


def test_kill_sigkill_is_137(rt_engine, busybox):
    rt_engine.ok("run", "-d", "--name", "victim", busybox, "sleep", "100")
    try:
        rt_engine.ok("kill", "victim")
        assert rt_engine.ok("wait", "victim").stdout == "137\n"
        assert rt_engine.ok("inspect", "-f", "{{.State.ExitCode}} {{.State.Status}}", "victim").stdout == (
            "137 exited\n")
    finally:
        rt_engine.ok("rm", "-f", "victim")


def test_pid_1_ignores_term_without_a_handler(rt_engine, busybox):
    """The kernel drops a default-action signal to a namespace's init."""
    rt_engine.ok("run", "-d", "--name", "immune", busybox, "sleep", "100")
    try:
        rt_engine.ok("kill", "-s", "TERM", "immune")
        time.sleep(0.5)
        assert rt_engine.ok("inspect", "-f", "{{.State.Running}}", "immune").stdout == "true\n"
    finally:
        rt_engine.ok("rm", "-f", "immune")


def test_signal_death_of_the_workload_is_128_plus_signal(rt_engine, busybox):
    """sh forwards TERM to its child, which dies of it: 143 comes back."""
    rt_engine.ok("run", "-d", "--name", "termed", busybox, "sh", "-c",
                 'sleep 100 & child=$!; trap "kill -TERM $child" TERM; echo ready; '
                 'wait $child; wait $child; exit $?')
    try:
        wait_for(lambda: "ready" in rt_engine.ok("logs", "termed").stdout, what="the trap")
        rt_engine.ok("kill", "-s", "SIGTERM", "termed")
        assert rt_engine.ok("wait", "termed").stdout == "143\n"
    finally:
        rt_engine.ok("rm", "-f", "termed")


# ---- stop ----------------------------------------------------------------------------------

def test_stop_escalates_to_sigkill_after_the_timeout(rt_engine, busybox):
    rt_engine.ok("run", "-d", "--name", "stubborn", busybox, "sh", "-c", "trap '' TERM; sleep 100")
    try:
        start = time.monotonic()
        rt_engine.ok("stop", "-t", "1", "stubborn")
        took = time.monotonic() - start
        assert 1.0 <= took < 4.0, f"stop -t 1 took {took:.2f}s"
        state = rt_engine.ok("inspect", "-f", "{{.State.ExitCode}} {{.State.Running}}", "stubborn").stdout
        assert state == "137 false\n"
    finally:
        rt_engine.ok("rm", "-f", "stubborn")


def test_stop_timeout_flag_is_the_default_grace(rt_engine, busybox):
    rt_engine.ok("run", "-d", "--name", "quick", "--stop-timeout", "1", busybox, "sleep", "100")
    try:
        start = time.monotonic()
        rt_engine.ok("stop", "quick")
        took = time.monotonic() - start
        assert 1.0 <= took < 4.0, f"stop with --stop-timeout 1 took {took:.2f}s"
        assert rt_engine.ok("inspect", "-f", "{{.State.ExitCode}}", "quick").stdout == "137\n"
    finally:
        rt_engine.ok("rm", "-f", "quick")


def test_stop_sends_sigterm_first(rt_engine, busybox):
    rt_engine.ok("run", "-d", "--name", "polite", busybox, "sh", "-c",
                 "trap 'echo got-term; exit 0' TERM; echo ready; while true; do sleep 0.1; done")
    try:
        wait_for(lambda: "ready" in rt_engine.ok("logs", "polite").stdout, what="the trap")
        start = time.monotonic()
        rt_engine.ok("stop", "-t", "10", "polite")
        assert time.monotonic() - start < 5
        assert rt_engine.ok("inspect", "-f", "{{.State.ExitCode}}", "polite").stdout == "0\n"
        assert "got-term" in rt_engine.ok("logs", "polite").stdout
    finally:
        rt_engine.ok("rm", "-f", "polite")


def test_stop_uses_the_images_stop_signal(rt_engine, stop_signal_image):
    rt_engine.ok("run", "-d", "--name", "usr1", stop_signal_image)
    try:
        wait_for(lambda: "ready" in rt_engine.ok("logs", "usr1").stdout, what="the trap")
        start = time.monotonic()
        rt_engine.ok("stop", "-t", "10", "usr1")
        assert time.monotonic() - start < 5, "stop waited for the timeout: USR1 was not sent"
        assert rt_engine.ok("inspect", "-f", "{{.State.ExitCode}}", "usr1").stdout == "7\n"
        assert "got-usr1" in rt_engine.ok("logs", "usr1").stdout
    finally:
        rt_engine.ok("rm", "-f", "usr1")


def test_stop_signal_flag_overrides_the_image(rt_engine, stop_signal_image):
    rt_engine.ok("run", "-d", "--name", "flagged", "--stop-signal", "SIGTERM", stop_signal_image)
    try:
        wait_for(lambda: "ready" in rt_engine.ok("logs", "flagged").stdout, what="the trap")
        rt_engine.ok("stop", "-t", "1", "flagged")
        # TERM is trapped to nothing, so the SIGKILL after 1s ends it
        assert rt_engine.ok("inspect", "-f", "{{.State.ExitCode}}", "flagged").stdout == "137\n"
        assert "got-usr1" not in rt_engine.ok("logs", "flagged").stdout
    finally:
        rt_engine.ok("rm", "-f", "flagged")


def test_bind_mounted_script_runs(rt_engine, busybox):
    """A script from the host runs with its exit code (workload from a volume)."""
    with tempfile.TemporaryDirectory(prefix="barque-script-") as d:
        script = Path(d, "job.sh")
        script.write_text("#!/bin/sh\necho from-script \"$@\"\nexit 42\n")
        script.chmod(0o755)
        res = rt_engine.cli("run", "--rm", "-v", f"{d}:/job:ro", busybox, "/job/job.sh", "arg")
    assert (res.returncode, res.stdout) == (42, "from-script arg\n")


def test_inspect_shows_the_merged_config(rt_engine, entry_image, stop_signal_image):
    """docker inspect's Config holds the image's values where no flag overrode them."""
    import json

    name = "merged-config"
    rt_engine.ok("create", "--name", name, entry_image)
    try:
        cfg = json.loads(rt_engine.ok("inspect", name).stdout)[0]["Config"]
        assert cfg["Entrypoint"] == ["echo", "ep"] and cfg["Cmd"] == ["cmd"]
    finally:
        rt_engine.ok("rm", name)
    rt_engine.ok("create", "--name", name, "--entrypoint", "echo", entry_image, "y")
    try:
        cfg = json.loads(rt_engine.ok("inspect", name).stdout)[0]["Config"]
        assert cfg["Entrypoint"] == ["echo"] and cfg["Cmd"] == ["y"]
    finally:
        rt_engine.ok("rm", name)
    rt_engine.ok("create", "--name", name, stop_signal_image)
    try:
        out = rt_engine.ok("inspect", "-f", "{{.Config.StopSignal}}", name).stdout.strip()
        assert out == "SIGUSR1"
    finally:
        rt_engine.ok("rm", name)
