"""run/create's storage and lifecycle flags, ``rm -v``, ``restart`` and ps's
STATUS and health=/volume= filters, from constructed protos and a fake
runtime stub, against docker-cli v20.10.27 ``cli/command/container/opts.go``
(-v, --mount, --tmpfs, --volumes-from, --restart, --init, health flags,
``flags.Changed("init")``), ``restart.go`` (-t only when given),
``formatter/container.go`` (Mounts) and moby v20.10's ``State.String`` /
``StateString`` and ``daemon/list.go`` (health=, volume=)."""

from __future__ import annotations

import json

import grpc
import pytest

from barque.images.v1 import images_pb2
from barque.runtime.v1 import runtime_pb2 as pb
from cli.containers import RuntimeClient, ps_row, status_text
from cli.images import ImagesClient
from cli.main import command_parser
from cli.network import NetworksClient
from cli.run import create_request
from cli.volume import VolumesClient
from client.errors import InvalidArgument
from tests.support.clirun import RpcError, run_command

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def _request(*flags, image="busybox"):
    return create_request(command_parser().parse_args(["create", *flags, image]))


# ---- run/create flags ---------------------------------------------------------------------------

def test_without_the_new_flags_nothing_new_is_sent():
    req = _request()
    host, config = req.host_config, req.config
    assert not host.HasField("restart_policy") and not host.HasField("init")
    assert not config.HasField("healthcheck")
    assert (list(host.binds), list(config.volumes), list(host.mounts), dict(host.tmpfs), list(host.volumes_from),
            host.volume_driver) == ([], [], [], {}, [], "")


def test_volume_flags_split_into_binds_and_anonymous_volumes():
    req = _request("-v", "/data", "-v", "cache:/c:ro,nocopy", "--volume", "/h:/h:rshared", "-v", "/data")
    assert list(req.host_config.binds) == ["cache:/c:ro,nocopy", "/h:/h:rshared"]
    assert list(req.config.volumes) == ["/data"]


def test_a_relative_bind_is_made_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert list(_request("-v", "./src:/src").host_config.binds) == [f"{tmp_path}/src:/src"]


def test_mount_tmpfs_volumes_from_and_volume_driver():
    req = _request("--mount", "type=bind,src=/a,dst=/b,readonly,bind-propagation=rslave",
                   "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=700",
                   "--mount", "src=data,dst=/d,volume-nocopy,volume-label=k=v",
                   "--tmpfs", "/run:size=64k", "--tmpfs", "/x", "--volumes-from", "db:ro", "--volumes-from", "web",
                   "--volume-driver", "local")
    host = req.host_config
    assert list(host.mounts) == [
        pb.Mount(type="bind", source="/a", target="/b", read_only=True, bind_propagation="rslave"),
        pb.Mount(type="tmpfs", target="/t", tmpfs_size_bytes=1 << 20, tmpfs_mode=0o700),
        pb.Mount(type="volume", source="data", target="/d", volume_no_copy=True, volume_labels={"k": "v"})]
    assert dict(host.tmpfs) == {"/run": "size=64k", "/x": ""}
    assert list(host.volumes_from) == ["db:ro", "web"]
    assert host.volume_driver == "local"


@pytest.mark.parametrize("flags, message", [
    (["--mount", "type=foo"], 'invalid argument "type=foo" for "--mount" flag: target is required'),
    (["--mount", "dst=/x,tmpfs-mode=9"], 'invalid argument "dst=/x,tmpfs-mode=9" for "--mount" flag: '
                                         "invalid value for tmpfs-mode: 9"),
    (["-v", ""], "invalid empty volume spec"),
    (["--restart", "always", "--rm"], "Conflicting options: --restart and --rm"),
    (["--restart", "on-failure:1:2"], "invalid restart policy format"),
    (["--restart", "always:3"], "maximum retry count cannot be used with restart policy 'always'"),
    (["--health-interval", "5"], 'invalid argument "5" for "--health-interval" flag: '
                                 'time: missing unit in duration "5"'),
    (["--no-healthcheck", "--health-retries", "2"], "--no-healthcheck conflicts with --health-* options"),
    (["--health-cmd", "true", "--health-timeout=-1s"], "--health-timeout cannot be negative"),
])
def test_client_side_refusals(flags, message):
    with pytest.raises(InvalidArgument) as info:
        _request(*flags)
    assert str(info.value) == message


def test_restart_policy_sent_unless_none():
    assert _request("--restart", "on-failure:5").host_config.restart_policy == pb.RestartPolicy(
        name="on-failure", maximum_retry_count=5)
    assert _request("--restart", "unless-stopped").host_config.restart_policy.name == "unless-stopped"
    for none in ("no", ""):
        assert not _request("--restart", none).host_config.HasField("restart_policy")
    assert not _request("--restart", "no", "--rm").host_config.HasField("restart_policy")


def test_init_takes_no_value_unless_spelled_with_equals():
    args = command_parser().parse_args(["run", "--init", "busybox", "sh"])
    assert (args.init, args.image, args.command) == (True, "busybox", ["sh"])
    assert _request("--init").host_config.init is True
    for spelling in ("false", "0", "F", "FALSE"):
        req = _request(f"--init={spelling}")
        assert req.host_config.HasField("init") and req.host_config.init is False
    assert _request("--init=true").host_config.init is True


def test_health_flags_make_the_healthcheck():
    req = _request("--health-cmd", "wget -q localhost", "--health-interval", "2s", "--health-timeout", "500ms",
                   "--health-start-period", "1m", "--health-retries", "4")
    assert req.config.healthcheck == pb.HealthConfig(
        test=["CMD-SHELL", "wget -q localhost"], interval=2 * 10**9, timeout=500 * 10**6,
        start_period=60 * 10**9, retries=4)
    assert _request("--no-healthcheck").config.healthcheck == pb.HealthConfig(test=["NONE"])


# ---- ps: STATUS, State, Mounts, filters ------------------------------------------------------------

def _container(**state):
    health = state.pop("health", None)
    c = pb.Container(id="c" * 64, name="web", state=pb.ContainerState(**state))
    if health is not None:
        c.state.health.CopyFrom(pb.HealthState(status=health))
    return c


UP = {"status": "running", "running": True, "started_at": "2027-01-15T07:59:55Z"}


@pytest.mark.parametrize("state, text", [
    (UP, "Up 5 seconds"),
    ({**UP, "health": "healthy"}, "Up 5 seconds (healthy)"),
    ({**UP, "health": "unhealthy"}, "Up 5 seconds (unhealthy)"),
    ({**UP, "health": "starting"}, "Up 5 seconds (health: starting)"),
    ({"status": "restarting", "restarting": True, "running": True, "exit_code": 1,
      "finished_at": "2027-01-15T07:59:58Z"}, "Restarting (1) 2 seconds ago"),
    ({"status": "restarting", "restarting": True, "exit_code": 3, "finished_at": "2027-01-15T07:58:00Z"},
     "Restarting (3) 2 minutes ago"),
    ({"status": "exited", "exit_code": 137, "finished_at": "2027-01-15T07:00:00Z", "health": "unhealthy"},
     "Exited (137) About an hour ago"),
])
def test_status_is_mobys_state_string(state, text):
    assert status_text(_container(**state), NOW) == text


def test_state_column_says_restarting():
    assert ps_row(_container(status="restarting", restarting=True, running=True))["State"] == "restarting"
    assert ps_row(_container(**UP))["State"] == "running"


def test_mounts_column_names_volumes_else_sources_cut_to_15():
    c = _container(**UP)
    c.mounts.extend([pb.MountPoint(type="volume", name="data", source="/var/lib/x/_data", destination="/d"),
                     pb.MountPoint(type="bind", source="/home/user/project", destination="/p"),
                     pb.MountPoint(type="volume", name="e" * 64, source="/v", destination="/e")])
    assert ps_row(c)["Mounts"] == "data,/home/user/pro…,eeeeeeeeeeeeee…"
    assert ps_row(c, trunc=False)["Mounts"] == f"data,/home/user/project,{'e' * 64}"


# ---- rm -v, restart, ps over a fake runtime ----------------------------------------------------------

class FakeRuntime:
    def __init__(self, containers=(), missing=()):
        self.containers, self.missing = list(containers), set(missing)
        self.calls: list[tuple[str, object]] = []

    def _call(self, rpc, req, ref, response):
        self.calls.append((rpc, req))
        if ref in self.missing:
            raise RpcError(grpc.StatusCode.NOT_FOUND, f"No such container: {ref}")
        return response

    def Delete(self, req):
        return self._call("Delete", req, req.id, pb.DeleteResponse(id=req.id))

    def Restart(self, req):
        return self._call("Restart", req, req.id, pb.RestartResponse())

    def List(self, req):
        return self._call("List", req, None, pb.ListResponse(containers=self.containers))


def run_cli(argv, fake):
    return run_command(argv, {"runtime": (RuntimeClient, fake)})


def test_rm_volumes_flag_is_sent():
    fake = FakeRuntime()
    assert run_cli(["rm", "-v", "web"], fake) == (0, "web\n", "")
    assert run_cli(["container", "rm", "--volumes", "-f", "db"], fake) == (0, "db\n", "")
    assert run_cli(["rm", "api"], fake) == (0, "api\n", "")
    assert [(c[1].remove_volumes, c[1].force) for c in fake.calls] == [(True, False), (True, True), (False, False)]


def test_restart_prints_each_name_given_and_reports_each_failure():
    fake = FakeRuntime(missing={"ghost"})
    status, out, err = run_cli(["restart", "web", "ghost", "db"], fake)
    assert (status, out, err) == (125, "web\ndb\n", "Error response from daemon: No such container: ghost\n")
    assert [c[1].HasField("timeout") for c in fake.calls] == [False] * 3


def test_restart_time_is_sent_only_when_given():
    fake = FakeRuntime()
    assert run_cli(["container", "restart", "-t", "3", "web"], fake) == (0, "web\n", "")
    assert fake.calls[0][1].timeout == 3 and fake.calls[0][1].HasField("timeout")
    run_cli(["restart", "--time", "0", "web"], fake)
    assert fake.calls[1][1].HasField("timeout") and fake.calls[1][1].timeout == 0


def test_ps_sends_every_filter_to_the_engine():
    # health= and volume= are the engine's now (services/runtime/engine/filters.py, tests/unit/test_ps_filters.py)
    healthy = _container(**UP, health="healthy")
    fake = FakeRuntime([healthy])
    status, out, _ = run_cli(["ps", "-q", "--filter", "health=healthy", "-f", "name=w"], fake)
    assert (status, out) == (0, "c" * 12 + "\n")
    assert list(fake.calls[0][1].filters) == ["health=healthy", "name=w"]
    assert (fake.calls[0][1].all, fake.calls[0][1].size) == (False, False)


# ---- inspect: container, image, network, volume in docker-cli's order ---------------------------------

class _Documents:
    """Every Inspect* RPC of both services, answering from one table by kind."""

    def __init__(self, docs):
        self.docs, self.asked = docs, []

    def _answer(self, kind, ref, wrap):
        self.asked.append((kind, ref))
        if (kind, ref) not in self.docs:
            raise RpcError(grpc.StatusCode.NOT_FOUND, f"No such {kind}: {ref}")
        return wrap(json.dumps(self.docs[(kind, ref)]))

    def Inspect(self, req):
        if isinstance(req, pb.InspectRequest):
            return self._answer("container", req.id, lambda j: pb.InspectResponse(container_json=j))
        return self._answer("image", req.reference, lambda j: images_pb2.InspectResponse(image_json=j))

    def InspectNetwork(self, req):
        return self._answer("network", req.ref, lambda j: pb.InspectNetworkResponse(json=j))

    def InspectVolume(self, req):
        return self._answer("volume", req.name, lambda j: pb.InspectVolumeResponse(json=j))


def test_inspect_tries_each_kind_in_docker_clis_order():
    fake = _Documents({("volume", "data"): {"Name": "data"}, ("network", "data"): {"Name": "net"},
                       ("container", "web"): {"Name": "/web"}})
    clients = {"runtime": (RuntimeClient, fake), "images": (ImagesClient, fake), "networks": (NetworksClient, fake),
               "volumes": (VolumesClient, fake)}
    status, out, err = run_command(["inspect", "data", "web", "ghost"], clients)
    assert (status, err) == (125, "Error: No such object: ghost\n")
    assert json.loads(out) == [{"Name": "net"}, {"Name": "/web"}]
    assert fake.asked[:3] == [("container", "data"), ("image", "data"), ("network", "data")]
    status, out, _ = run_command(["inspect", "--type", "volume", "-f", "{{.Name}}", "data"], clients)
    assert (status, out) == (0, "data\n")
