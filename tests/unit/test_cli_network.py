"""``barque network`` and run/create's --ip/--network-alias, from constructed
protos and a fake runtime stub: docker-cli 20.10's flags, output and exit
codes (cli/command/network/*.go, its formatter.go, consolidateIpam, the
tabwriter docker-cli's tables use, inspect.Inspect, PromptForConfirmation,
cli.ExactArgs and FlagErrorFunc; container/opts.go parseNetworkOpts)."""

from __future__ import annotations

import json

import grpc
import pytest

from barque.runtime.v1 import runtime_pb2 as pb
from cli import network
from cli.main import command_parser
from cli.network import NetworksClient, consolidate_ipam, go_time, list_output, tabwrite
from cli.run import create_request
from client.errors import InvalidArgument
from tests.support.clirun import RpcError, run_command

ID_A, ID_B, ID_C, ID_D = ("a1" * 32, "b2" * 32, "c3" * 32, "d4" * 32)


class FakeRuntime:
    """The runtime's network RPCs: records requests, answers from tables."""

    def __init__(self, networks=(), documents=None, errors=None, deleted=()):
        self.networks = list(networks)
        self.documents = documents or {}
        self.errors = errors or {}  # (rpc, ref) -> (grpc code, details)
        self.deleted = list(deleted)
        self.calls: list[tuple[str, object]] = []

    def _fail(self, rpc, ref):
        if (rpc, ref) in self.errors:
            raise RpcError(*self.errors[(rpc, ref)])

    def CreateNetwork(self, req):
        self.calls.append(("CreateNetwork", req))
        self._fail("CreateNetwork", req.spec.name)
        return pb.CreateNetworkResponse(id=ID_D)

    def ListNetworks(self, req):
        self.calls.append(("ListNetworks", req))
        return pb.ListNetworksResponse(networks=self.networks)

    def InspectNetwork(self, req):
        self.calls.append(("InspectNetwork", req))
        self._fail("InspectNetwork", req.ref)
        if req.ref not in self.documents:
            raise RpcError(grpc.StatusCode.NOT_FOUND, f"network {req.ref} not found")
        return pb.InspectNetworkResponse(json=json.dumps(self.documents[req.ref]))

    def RemoveNetwork(self, req):
        self.calls.append(("RemoveNetwork", req))
        self._fail("RemoveNetwork", req.ref)
        return pb.RemoveNetworkResponse()

    def PruneNetworks(self, req):
        self.calls.append(("PruneNetworks", req))
        return pb.PruneNetworksResponse(deleted=self.deleted)

    def ConnectNetwork(self, req):
        self.calls.append(("ConnectNetwork", req))
        self._fail("ConnectNetwork", req.network)
        return pb.ConnectNetworkResponse()

    def DisconnectNetwork(self, req):
        self.calls.append(("DisconnectNetwork", req))
        return pb.DisconnectNetworkResponse()


def run_cli(argv, fake=None, stdin=""):
    """Parse as ``barque`` does and run the command over ``fake``: (exit status, stdout, stderr)."""
    return run_command(argv, {"networks": (NetworksClient, fake or FakeRuntime())}, stdin)


def NET(name, ident, driver="bridge", **kw):
    return pb.Network(id=ident, name=name, driver=driver, scope="local", **kw)


BUILTIN = [NET("none", ID_C, "null"), NET("host", ID_B, "host"), NET("bridge", ID_A)]


# ---- parsing and exit codes ---------------------------------------------------------

def test_every_subcommand_and_alias_is_registered():
    parse = command_parser().parse_args
    assert parse(["network", "ls"]).func is parse(["network", "list"]).func is network.cmd_ls
    assert parse(["network", "rm", "x"]).func is parse(["network", "remove", "x"]).func is network.cmd_rm
    for name in ("create", "inspect", "prune", "connect", "disconnect"):
        assert parse(["network", name]).func is getattr(network, f"cmd_{name}")


def test_flags_and_positionals_mix_as_pflag_reads_them():
    args = command_parser().parse_args(["network", "connect", "app", "--alias", "db", "web", "--ip", "10.9.0.5"])
    assert (args.args, args.alias, args.ip) == (["app", "web"], ["db"], "10.9.0.5")


@pytest.mark.parametrize("argv", [["network", "create", "--bogus", "n"], ["network", "ls", "--quiet=x"],
                                  ["network", "create", "--subnet"]])
def test_a_flag_error_exits_125(argv):
    status, out, _ = run_cli(argv)
    assert status == 125 and out == ""


@pytest.mark.parametrize("argv,message", [
    (["network", "create"],
     '"barque network create" requires exactly 1 argument.\nSee \'barque network create --help\'.\n\n'
     "Usage:  barque network create [OPTIONS] NETWORK\n\nCreate a network\n"),
    (["network", "create", "a", "b"], '"barque network create" requires exactly 1 argument.'),
    (["network", "ls", "x"], '"barque network ls" accepts no arguments.'),
    (["network", "prune", "-f", "x"], '"barque network prune" accepts no arguments.'),
    (["network", "rm"], '"barque network rm" requires at least 1 argument.'),
    (["network", "inspect"], '"barque network inspect" requires at least 1 argument.'),
    (["network", "connect", "net"], '"barque network connect" requires exactly 2 arguments.'),
    (["network", "disconnect", "a", "b", "c"], '"barque network disconnect" requires exactly 2 arguments.'),
])
def test_a_wrong_number_of_arguments_exits_1_with_dockers_message(argv, message):
    fake = FakeRuntime()
    status, out, err = run_cli(argv, fake)
    assert (status, out) == (1, "")
    assert err.startswith(message)
    assert fake.calls == []


def test_network_alone_prints_its_help_and_exits_0():
    status, out, err = run_cli(["network"])
    assert status == 0 and out == "" and "connect" in err and "prune" in err


# ---- create ------------------------------------------------------------------------

def test_create_sends_the_spec_and_prints_the_id():
    fake = FakeRuntime()
    status, out, err = run_cli(
        ["network", "create", "--subnet", "10.9.0.0/16", "--gateway", "10.9.0.1", "--ip-range", "10.9.1.0/24",
         "--internal", "--label", "env=test", "--label", "flag", "-o", "com.docker.network.bridge.name=bq9",
         "--attachable", "app"], fake)
    assert (status, out, err) == (0, ID_D + "\n", "")
    (rpc, req), = fake.calls
    assert rpc == "CreateNetwork"
    assert req.spec == pb.NetworkSpec(
        name="app", driver="bridge", internal=True, attachable=True, labels={"env": "test", "flag": ""},
        options={"com.docker.network.bridge.name": "bq9"},
        ipam=[pb.IPAMPool(subnet="10.9.0.0/16", ip_range="10.9.1.0/24", gateway="10.9.0.1")])


def test_create_without_pools_leaves_them_to_the_engine():
    fake = FakeRuntime()
    assert run_cli(["network", "create", "-d", "bridge", "app"], fake)[0] == 0
    assert list(fake.calls[0][1].spec.ipam) == []


def test_subnet_gateway_and_range_are_string_slices():
    fake = FakeRuntime()
    run_cli(["network", "create", "--subnet", "10.1.0.0/24,10.2.0.0/24", "--gateway", "10.2.0.1", "app"], fake)
    assert list(fake.calls[0][1].spec.ipam) == [pb.IPAMPool(subnet="10.1.0.0/24"),
                                                 pb.IPAMPool(subnet="10.2.0.0/24", gateway="10.2.0.1")]


@pytest.mark.parametrize("subnets,ranges,gateways,message", [
    ([], [], ["10.0.0.1"], "every ip-range or gateway must have a corresponding subnet"),
    (["10.0.0.0/24"], ["10.0.0.0/25", "10.0.0.128/25"], [],
     "every ip-range or gateway must have a corresponding subnet"),
    (["10.0.0.0/16", "10.0.1.0/24"], [], [], "multiple overlapping subnet configuration is not supported"),
    (["10.0.0.0/24", "10.0.0.0/24"], [], [], "multiple overlapping subnet configuration is not supported"),
    (["10.0.0.0/24", "10.0.0.0/33"], [], [], "invalid subnet: invalid CIDR address: 10.0.0.0/33"),
    (["10.0.0.0/24"], [], ["10.1.0.1"], "no matching subnet for gateway 10.1.0.1"),
    (["10.0.0.0/24"], [], ["gateway"], "no matching subnet for gateway gateway"),
    (["10.0.0.0/24"], ["10.1.0.0/25"], [], "no matching subnet for range 10.1.0.0/25"),
    (["10.0.0.0/24"], ["10.0.0.0/xx"], [], "invalid CIDR address: 10.0.0.0/xx"),
    (["10.0.0.0/24", "10.1.0.0/24"], ["10.0.0.0/25", "10.0.0.128/25"], [],
     "cannot configure multiple ranges (10.0.0.128/25, 10.0.0.0/25) on the same subnet (10.0.0.0/24)"),
    (["10.0.0.0/24", "10.1.0.0/24"], [], ["10.0.0.1", "10.0.0.2"],
     "cannot configure multiple gateways (10.0.0.2, 10.0.0.1) for the same subnet (10.0.0.0/24)"),
    (["nonsense"], ["10.0.0.0/25"], [], "invalid subnet: invalid CIDR address: nonsense"),
])
def test_consolidate_ipam_refuses_as_docker_cli_does(subnets, ranges, gateways, message):
    with pytest.raises(InvalidArgument) as info:
        consolidate_ipam(subnets, ranges, gateways)
    assert str(info.value) == message


def test_consolidate_ipam_pairs_ranges_and_gateways_with_their_subnets():
    assert consolidate_ipam(["10.1.0.0/16", "fd00::/64"], ["10.1.2.0/24"], ["fd00::1", "10.1.0.254"]) == [
        pb.IPAMPool(subnet="10.1.0.0/16", ip_range="10.1.2.0/24", gateway="10.1.0.254"),
        pb.IPAMPool(subnet="fd00::/64", gateway="fd00::1")]
    # an invalid lone subnet is not checked by the client, as in docker-cli: the engine refuses it
    assert consolidate_ipam(["10.0.0.0/33"], [], []) == [pb.IPAMPool(subnet="10.0.0.0/33")]


def test_create_refused_by_the_client_exits_1_before_any_request():
    fake = FakeRuntime()
    status, out, err = run_cli(["network", "create", "--gateway", "10.0.0.1", "app"], fake)
    assert (status, out, err) == (1, "", "every ip-range or gateway must have a corresponding subnet\n")
    assert fake.calls == []


@pytest.mark.parametrize("label,reason", [
    ("=x", "invalid label '=x': empty name"),
    ("a b=c", "label 'a b' contains whitespaces"),
])
def test_a_bad_label_is_a_flag_error(label, reason):
    status, out, err = run_cli(["network", "create", "--label", label, "app"])
    assert (status, out) == (125, "")
    assert err == (f'invalid argument "{label}" for "--label" flag: {reason}\n'
                   "See 'barque network create --help'.\n")


def test_an_engine_error_exits_1_as_the_daemons():
    fake = FakeRuntime(errors={("CreateNetwork", "app"): (
        grpc.StatusCode.ALREADY_EXISTS, "network with name app already exists")})
    status, out, err = run_cli(["network", "create", "app"], fake)
    assert (status, out, err) == (1, "", "Error response from daemon: network with name app already exists\n")


# ---- ls ----------------------------------------------------------------------------

def test_ls_is_dockers_table_in_natural_name_order():
    nets = BUILTIN + [NET("app10", ID_D), NET("app9", ID_D.replace("d", "e"))]
    status, out, err = run_cli(["network", "ls"], FakeRuntime(nets))
    assert (status, err) == (0, "")
    assert out == (
        "NETWORK ID     NAME      DRIVER    SCOPE\n"
        "e4e4e4e4e4e4   app9      bridge    local\n"
        "d4d4d4d4d4d4   app10     bridge    local\n"
        "a1a1a1a1a1a1   bridge    bridge    local\n"
        "b2b2b2b2b2b2   host      host      local\n"
        "c3c3c3c3c3c3   none      null      local\n")


def test_ls_with_nothing_prints_the_header():
    assert run_cli(["network", "ls"], FakeRuntime())[1] == "NETWORK ID   NAME      DRIVER    SCOPE\n"


def test_ls_quiet_and_no_trunc():
    fake = FakeRuntime(BUILTIN)
    assert run_cli(["network", "ls", "-q"], fake)[1] == "a1a1a1a1a1a1\nb2b2b2b2b2b2\nc3c3c3c3c3c3\n"
    assert run_cli(["network", "ls", "-q", "--no-trunc"], fake)[1] == f"{ID_A}\n{ID_B}\n{ID_C}\n"
    assert run_cli(["network", "ls", "--no-trunc"], fake)[1].splitlines()[1] == f"{ID_A}   bridge    bridge    local"


def test_ls_passes_filters_as_docker_cli_normalises_them():
    fake = FakeRuntime()
    run_cli(["network", "ls", "-f", " Driver = bridge", "--filter", "label=a=b", "-f", "type=custom"], fake)
    assert list(fake.calls[0][1].filters) == ["driver=bridge", "label=a=b", "type=custom"]


def test_ls_bad_filter_is_a_flag_error():
    fake = FakeRuntime()
    status, out, err = run_cli(["network", "ls", "-f", "dangling"], fake)
    assert (status, out, fake.calls) == (125, "", [])
    assert err == ('invalid argument "dangling" for "-f, --filter" flag: bad format of filter '
                   "(expected name=value)\nSee 'barque network ls --help'.\n")


def test_ls_format_fields():
    net = NET("app", ID_D, internal=True, labels={"b": "2", "a": "1"}, created="2024-05-01T10:00:00.25Z")
    out = list_output([net], "{{.ID}} {{.Name}} {{.Driver}} {{.Scope}} {{.IPv6}} {{.Internal}} {{.Labels}} "
                             '{{.Label "b"}}|{{.Label "zzz"}}| {{.CreatedAt}}')
    assert out == "d4d4d4d4d4d4 app bridge local false true a=1,b=2 2|| 2024-05-01 10:00:00.25 +0000 UTC\n"


def test_ls_format_table_headers():
    net = NET("app", ID_D, labels={"com.example.the-key": "v"})
    out = list_output([net], 'table {{.ID}}\\t{{.Name}}\\t{{.IPv6}}\\t{{.Internal}}\\t{{.Labels}}\\t'
                             '{{.Label "com.example.the-key"}}\\t{{.CreatedAt}}')
    assert out == (
        "NETWORK ID     NAME      IPV6      INTERNAL   LABELS                  the key   CREATED AT\n"
        "d4d4d4d4d4d4   app       false     false      com.example.the-key=v   v         "
        "0001-01-01 00:00:00 +0000 UTC\n")


def test_ls_json_and_raw():
    net = NET("app", ID_D, created="2024-05-01T10:00:00Z")
    assert json.loads(list_output([net], "{{json .}}")) == {
        "CreatedAt": "2024-05-01 10:00:00 +0000 UTC", "Driver": "bridge", "ID": "d4d4d4d4d4d4",
        "IPv6": "false", "Internal": "false", "Labels": "", "Name": "app", "Scope": "local"}
    assert list_output([net], "{{json .Name}}") == '"app"\n'
    assert list_output([net], "raw") == "network_id: d4d4d4d4d4d4\nname: app\ndriver: bridge\nscope: local\n\n"
    assert list_output([net], "raw", quiet=True) == "network_id: d4d4d4d4d4d4\n"
    assert list_output([net], "{{.Name}}", quiet=True) == "app\n"
    assert list_output([net], "{{upper .Name}}") == "APP\n"


def test_ls_unknown_field_exits_1():
    status, out, err = run_cli(["network", "ls", "--format", "x {{.Nope}}"], FakeRuntime(BUILTIN))
    assert (status, out) == (1, "")
    assert err == ('template parsing error: template: :1:4: executing "" at <.Nope>: '
                   "can't evaluate field Nope in type *network.networkContext\n")


def test_ls_unknown_function_exits_1():
    status, _, err = run_cli(["network", "ls", "--format", "{{nope .Name}}"], FakeRuntime(BUILTIN))
    assert (status, err) == (1, 'template parsing error: template: :1: function "nope" not defined\n')


def test_tabwriter_is_gos():
    assert tabwrite("a\tbb\tc\nxxxxxxxxxxxx\ty\tz\n") == "a              bb        c\nxxxxxxxxxxxx   y         z\n"
    # a line with fewer cells ends the column block above it
    assert tabwrite("a\tb\nlonger-than-ten\nc\td") == "a         b\nlonger-than-ten\nc         d"


@pytest.mark.parametrize("text,want", [
    ("2024-05-01T10:00:00Z", "2024-05-01 10:00:00 +0000 UTC"),
    ("2024-05-01T10:00:00.120000000Z", "2024-05-01 10:00:00.12 +0000 UTC"),
    ("2024-05-01T10:00:00.000000000Z", "2024-05-01 10:00:00 +0000 UTC"),
    ("2024-05-01T12:00:00.5+02:00", "2024-05-01 12:00:00.5 +0200 +0200"),
    ("", "0001-01-01 00:00:00 +0000 UTC"),
])
def test_created_at_is_gos_time_string(text, want):
    assert go_time(text) == want


# ---- inspect -----------------------------------------------------------------------

DOC = {"Name": "app", "Id": ID_D, "Created": "2024-05-01T10:00:00Z", "Scope": "local", "Driver": "bridge",
       "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.9.0.0/16"}]},
       "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
       "ConfigOnly": False, "Containers": {}, "Options": {}, "Labels": {}}


def test_inspect_prints_the_engines_documents_as_one_indented_array():
    fake = FakeRuntime(documents={"app": DOC, "db": {**DOC, "Name": "db"}})
    status, out, err = run_cli(["network", "inspect", "app", "db"], fake)
    assert (status, err) == (0, "")
    assert out == json.dumps([DOC, {**DOC, "Name": "db"}], indent=4) + "\n"
    assert out.startswith('[\n    {\n        "Name": "app",')


def test_inspect_format_per_network():
    fake = FakeRuntime(documents={"app": DOC})
    assert run_cli(["network", "inspect", "-f", "{{.Name}} {{.Driver}}", "app", "app"], fake)[1] == \
        "app bridge\napp bridge\n"


def test_inspect_unknown_network_exits_1_after_the_others():
    fake = FakeRuntime(documents={"app": DOC})
    status, out, err = run_cli(["network", "inspect", "ghost", "app", "nope"], fake)
    assert status == 1
    assert json.loads(out) == [DOC]
    assert err == "Error: No such network: ghost\nError: No such network: nope\n"
    status, out, err = run_cli(["network", "inspect", "ghost"], fake)
    assert (status, out, err) == (1, "[]\n", "Error: No such network: ghost\n")
    status, out, err = run_cli(["network", "inspect", "--format", "{{.Name}}", "ghost"], fake)
    assert (status, out, err) == (1, "\n", "Error: No such network: ghost\n")


# ---- rm ----------------------------------------------------------------------------

def test_rm_prints_each_removed_and_exits_1_if_any_failed():
    fake = FakeRuntime(errors={
        ("RemoveNetwork", "ghost"): (grpc.StatusCode.NOT_FOUND, "network ghost not found"),
        ("RemoveNetwork", "busy"): (grpc.StatusCode.FAILED_PRECONDITION,
                                    f"error while removing network: network busy id {ID_D} has active endpoints")})
    status, out, err = run_cli(["network", "rm", "a", "ghost", "busy", "b"], fake)
    assert (status, out) == (1, "a\nb\n")
    assert err == ("Error: No such network: ghost\n"
                   f"Error response from daemon: error while removing network: network busy id {ID_D} "
                   "has active endpoints\n")
    assert [req.ref for _, req in fake.calls] == ["a", "ghost", "busy", "b"]
    assert run_cli(["network", "remove", "a"], FakeRuntime()) == (0, "a\n", "")


# ---- prune -------------------------------------------------------------------------

PROMPT = ("WARNING! This will remove all custom networks not used by at least one container.\n"
          "Are you sure you want to continue? [y/N] ")


@pytest.mark.parametrize("answer", ["y\n", "Y\n", "y"])
def test_prune_asks_then_lists_the_deleted(answer):
    fake = FakeRuntime(deleted=["app", "db"])
    status, out, err = run_cli(["network", "prune", "--filter", "label=x"], fake, stdin=answer)
    assert (status, err) == (0, "")
    assert out == PROMPT + "Deleted Networks:\napp\ndb\n\n"
    assert list(fake.calls[0][1].filters) == ["label=x"]


@pytest.mark.parametrize("answer", ["n\n", "\n", "", "yes\n", " y\n"])
def test_prune_declined_removes_nothing(answer):
    fake = FakeRuntime(deleted=["app"])
    assert run_cli(["network", "prune"], fake, stdin=answer) == (0, PROMPT, "")
    assert fake.calls == []


def test_prune_force_and_nothing_to_delete():
    assert run_cli(["network", "prune", "-f"], FakeRuntime(deleted=["app"])) == (
        0, "Deleted Networks:\napp\n\n", "")
    assert run_cli(["network", "prune", "--force"], FakeRuntime()) == (0, "", "")


def test_prune_filter_has_no_shorthand():
    status, _, err = run_cli(["network", "prune", "-f", "--filter", "until"], FakeRuntime())
    assert status == 125 and err.startswith('invalid argument "until" for "--filter" flag')


# ---- connect / disconnect ------------------------------------------------------------

def test_connect_sends_the_endpoint_and_prints_nothing():
    fake = FakeRuntime()
    assert run_cli(["network", "connect", "--ip", "10.9.0.5", "--alias", "db,cache", "--alias", "x",
                    "app", "web"], fake) == (0, "", "")
    (rpc, req), = fake.calls
    assert (rpc, req.network, req.container) == ("ConnectNetwork", "app", "web")
    assert req.endpoint.ipam_config.ipv4_address == "10.9.0.5"
    assert list(req.endpoint.aliases) == ["db", "cache", "x"]


def test_connect_engine_error_exits_1():
    fake = FakeRuntime(errors={("ConnectNetwork", "ghost"): (grpc.StatusCode.NOT_FOUND, "network ghost not found")})
    assert run_cli(["network", "connect", "ghost", "web"], fake) == (
        1, "", "Error response from daemon: network ghost not found\n")


def test_disconnect_force():
    fake = FakeRuntime()
    assert run_cli(["network", "disconnect", "-f", "app", "web"], fake) == (0, "", "")
    assert fake.calls[0][1] == pb.DisconnectNetworkRequest(network="app", container="web", force=True)
    run_cli(["network", "disconnect", "app", "web"], fake)
    assert fake.calls[1][1].force is False


# ---- run/create --ip and --network-alias -------------------------------------------------

def _request(*flags):
    return create_request(command_parser().parse_args(["create", *flags, "busybox"]))


def test_ip_and_aliases_go_to_the_networks_endpoint():
    req = _request("--network", "app", "--ip", "10.9.0.5", "--network-alias", "db", "--net-alias", "cache")
    assert dict(req.networking_config.endpoints_config) == {"app": pb.EndpointSettings(
        ipam_config=pb.EndpointIPAMConfig(ipv4_address="10.9.0.5"), aliases=["db", "cache"])}
    assert req.host_config.network_mode == "app"
    req = _request("--net", "app", "--network-alias", "db")
    assert not req.networking_config.endpoints_config["app"].HasField("ipam_config")


def test_without_them_no_endpoint_is_sent():
    assert not _request("--network", "app").HasField("networking_config")


def test_the_address_is_sent_as_typed_for_the_engine_to_judge():
    """docker-cli 20.10 does not parse --ip: the daemon refuses a bad one, or
    one on a network that is not user-defined."""
    assert _request("--ip", "not-an-ip").networking_config.endpoints_config["default"].ipam_config.ipv4_address \
        == "not-an-ip"
    assert _request("--network", "bridge", "--ip", "172.17.0.9").networking_config.endpoints_config["bridge"] \
        .ipam_config.ipv4_address == "172.17.0.9"


@pytest.mark.parametrize("mode", ["default", "bridge", "host", "none", "container:web"])
def test_aliases_need_a_user_defined_network(mode):
    with pytest.raises(InvalidArgument, match="^network-scoped aliases are only supported for user-defined networks$"):
        _request("--network", mode, "--network-alias", "db")
