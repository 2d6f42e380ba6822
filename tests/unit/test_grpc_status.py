"""The one mapping of exceptions to gRPC status (``client.grpcerrors.to_status``):
details are one non-empty line whatever a request carried into the message,
and an RPC without an implementation is UNIMPLEMENTED, not INTERNAL (both
found by the RPC fuzzer, ``tests/fuzz``)."""

from __future__ import annotations

import grpc

from client.errors import InvalidArgument, NotFound
from client.grpcerrors import MAX_DETAILS, one_line, to_status


def test_control_characters_of_a_request_are_escaped_in_the_details():
    code, details = to_status(InvalidArgument("build cache prune filters are not supported yet: \n"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == "build cache prune filters are not supported yet: \\n"
    assert one_line("No such container: a\x00b\x1b[2J\r\u202e") == "No such container: a\\x00b\\x1b[2J\\r\\u202e"


def test_printable_messages_are_untouched():
    for text in ("No such container: ghost", "invalid reference format: repository name must be lowercase",
                 "é 😀 tab-less"):
        assert one_line(text) == text
        assert to_status(NotFound(text)) == (grpc.StatusCode.NOT_FOUND, text)


def test_an_empty_message_gets_the_category():
    assert to_status(InvalidArgument("")) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid argument")
    assert to_status(NotFound()) == (grpc.StatusCode.NOT_FOUND, "not found")


def test_a_method_without_implementation_is_unimplemented():
    assert to_status(NotImplementedError("Method not implemented!")) == (
        grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")
    assert to_status(NotImplementedError())[1] == "method not implemented"


def test_anything_else_is_internal_on_one_line():
    code, details = to_status(KeyError("a\nb"))
    assert code == grpc.StatusCode.INTERNAL
    assert "\n" not in details and details.startswith("internal error: KeyError: ")


def test_a_huge_message_is_cut_to_fit_a_trailer():
    # a 1 MiB container name echoed whole overflowed gRPC's 16 KiB trailer
    # limit: the client got RESOURCE_EXHAUSTED and no message at all
    code, details = to_status(NotFound("No such container: " + "a" * (1 << 20)))
    assert code == grpc.StatusCode.NOT_FOUND
    assert details.startswith("No such container: aaa") and details.endswith("...")
    assert len(details.encode()) <= MAX_DETAILS
    wide = one_line("é" * MAX_DETAILS)
    assert len(wide.encode()) <= MAX_DETAILS and wide.endswith("...")
