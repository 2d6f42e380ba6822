"""Every RPC of registry.v1, images.v1 and runtime.v1 under fuzzed requests.

Requests are drawn from the proto descriptors (``tests.support.protofuzz``),
every field of every request message, hostile values beside real ones (the
seeded image, container, network and volume). Client streams send one to
three fuzzed messages then close; server streams are read for a few
responses then cancelled. Each answer is held to the contract of
``tests.fuzz.harness``: a status, never INTERNAL or UNKNOWN, a one-line
message, no traceback, the service SERVING after; and the service's log has
no traceback from the calls.

``BARQUE_FUZZ_EXAMPLES`` sets the examples per RPC (20; a quarter for the
expensive and blocking ones); ``make fuzz`` runs a longer session;
``BARQUE_FUZZ_STATS=FILE`` appends every answer's code and details to FILE
as JSON lines (what the fuzzer reached). The
``@example`` requests are the regressions the fuzzer found.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from barque.images.v1 import images_pb2
from barque.runtime.v1 import runtime_pb2
from tests.fuzz.harness import CONTAINER, IMAGE, NETWORK, RPCS, Rpc, call, check, examples_for, serving
from tests.support.protofuzz import MAX_REQUEST_BYTES, message_strategy, walk_strings

pytestmark = pytest.mark.root

#: requests the fuzzer once answered wrongly with, by RPC (kept as @example)
REGRESSIONS: dict[str, list[list]] = {
    # INTERNAL "ValueError: embedded null byte" from os.open in the container's root
    "runtime.CopyFrom": [[runtime_pb2.CopyFromRequest(id=CONTAINER, path="\0")]],
    "runtime.StatPath": [[runtime_pb2.StatPathRequest(id=CONTAINER, path="/etc/\0")]],
    "runtime.CopyTo": [[runtime_pb2.CopyToRequest(header=runtime_pb2.CopyToHeader(id=CONTAINER, path="a\0"))]],
    # details of a 1 MiB id overflowed the trailer: RESOURCE_EXHAUSTED, no message
    "runtime.Inspect": [[runtime_pb2.InspectRequest(id="x" * (1 << 20))]],
    # INTERNAL "ps: error: garbage option", and "Couldn't find PID field" for ps args without a PID column
    "runtime.Top": [[runtime_pb2.TopRequest(id=CONTAINER, ps_args=[" "])],
                    [runtime_pb2.TopRequest(id=CONTAINER, ps_args=["-o", "comm"])],
                    # INTERNAL "OSError: [Errno 7] Argument list too long: 'ps'", and a NUL's ValueError
                    [runtime_pb2.TopRequest(id=CONTAINER, ps_args=["x" * (1 << 20)])],
                    [runtime_pb2.TopRequest(id=CONTAINER, ps_args=["-o\0pid"])]],
    # INTERNAL "EOFError: Compressed file ended before the end-of-stream marker was reached"
    "images.Load": [[images_pb2.LoadRequest(data=b"BZh9")]],
    # cancelled after its responses, the handler's read of the stream raised RpcError: logged as INTERNAL
    "images.HoldLease": [[images_pb2.HoldLeaseRequest(what="fuzz", images=[IMAGE])] * 3],
    # a filter '\n' split the details over two lines
    "images.PruneBuildCache": [[images_pb2.PruneBuildCacheRequest(filters=["\n"])]],
}


def _bases() -> dict[str, list]:
    """A well-formed request per RPC whose requests need several fields right
    to get anywhere: fuzzed ones are also merged onto it, so the fields
    behind the first check are reached too."""
    create = runtime_pb2.CreateRequest(config=runtime_pb2.ContainerConfig(image=IMAGE, cmd=["/sleeper"]))
    return {
        "runtime.Create": [create],
        "runtime.Run": [runtime_pb2.RunRequest(spec=runtime_pb2.RunSpec(create=create))],
        "runtime.Exec": [runtime_pb2.ExecRequest(spec=runtime_pb2.ExecSpec(id=CONTAINER, args=["/sleeper"]))],
        "runtime.Attach": [runtime_pb2.AttachRequest(open=runtime_pb2.AttachOpen(id=CONTAINER, stdout=True))],
        "runtime.CopyTo": [runtime_pb2.CopyToRequest(header=runtime_pb2.CopyToHeader(id=CONTAINER, path="/etc"))],
        "runtime.CreateNetwork": [runtime_pb2.CreateNetworkRequest(spec=runtime_pb2.NetworkSpec(name="fuzz-n"))],
        "runtime.ConnectNetwork": [runtime_pb2.ConnectNetworkRequest(network=NETWORK, container=CONTAINER)],
        "images.Import": [images_pb2.ImportRequest(header=images_pb2.ImportHeader(reference="fuzz/imported:1"))],
        "images.Tag": [images_pb2.TagRequest(source=IMAGE, target="fuzz/tagged:1")],
    }


def _merged(base: list, reqs: list) -> list:
    """``reqs`` with the first merged onto ``base``'s first (its set fields win)."""
    first = type(base[0])()
    first.CopyFrom(base[0])
    first.MergeFrom(reqs[0])
    return [first, *reqs[1:]]


def _log_offsets(fuzz) -> dict[str, int]:
    return {s: fuzz.engine.log(s).stat().st_size for s in fuzz.engine.procs}


def _new_log_problems(fuzz, offsets: dict[str, int]) -> list[str]:
    problems = []
    for service, offset in offsets.items():
        with open(fuzz.engine.log(service), "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        for line in text.splitlines():
            if "Traceback" in line or "rpc.internal_error" in line:
                problems.append(f"{service}: {line[:2000]}")
    return problems


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # a 1 MiB field in a failing example
@pytest.mark.parametrize("rpc", RPCS, ids=[r.name for r in RPCS])
def test_rpc_answers_every_fuzzed_request(rpc: Rpc, fuzz) -> None:
    fuzz.reseed()
    channel = fuzz.channel(rpc.service)
    steer = fuzz.steer
    one = message_strategy(rpc.method.input_type, fuzz.known)
    if rpc.method.client_streaming:
        # mostly a well-formed opening (the spec or header member of the oneof), then any
        lead = st.one_of(message_strategy(rpc.method.input_type, fuzz.known, lead=True), one)
        requests = st.tuples(lead, st.lists(one, max_size=2)).map(lambda t: [t[0], *t[1]])
    else:
        requests = one.map(lambda m: [m])
    base = _bases().get(rpc.name)
    if base is not None:
        requests = st.one_of(requests, requests.map(lambda reqs: _merged(base, reqs)))

    @settings(max_examples=examples_for(rpc), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(requests)
    def answers(reqs) -> None:
        for req in reqs:
            walk_strings(req, steer)
        assume(sum(r.ByteSize() for r in reqs) < MAX_REQUEST_BYTES)
        answer = call(channel, rpc, reqs)
        if stats is not None:
            stats.write(json.dumps({"rpc": rpc.name, "code": answer.code.name, "details": answer.details[:300]}) + "\n")
        assert fuzz.alive(rpc.service), f"{rpc.service} died on {rpc.name}({reqs})"
        assert serving(channel), f"{rpc.service} not SERVING after {rpc.name}({reqs})"
        check(rpc, answer)

    for reqs in REGRESSIONS.get(rpc.name, []):
        answers = example(reqs)(answers)
    offsets = _log_offsets(fuzz)
    stats = open(os.environ["BARQUE_FUZZ_STATS"], "a") if os.environ.get("BARQUE_FUZZ_STATS") else None
    try:
        answers()
    finally:
        if stats is not None:
            stats.close()
        if rpc.service == "runtime" or rpc.name == "images.Remove":
            fuzz.cleanup()
    problems = _new_log_problems(fuzz, offsets)
    assert not problems, "tracebacks in the services' logs:\n" + "\n".join(problems)
