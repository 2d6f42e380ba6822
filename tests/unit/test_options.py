"""Every field of Docker's Config, HostConfig and NetworkingConfig is either
applied (a spec option or engine behaviour declares it with ``@applies`` and
its code refers to it) or refused by name when set."""

from __future__ import annotations

import importlib
import inspect

import pytest
from google.protobuf.descriptor import FieldDescriptor

import services.runtime.core  # noqa: F401  (registers the engine's behaviours)
import services.runtime.spec  # noqa: F401  (registers the spec options)
from client.errors import InvalidArgument
from services.runtime.spec.options import MESSAGES, applied_fields, applies, refuse_unapplied

ALL_FIELDS = [f"{docker}.{field.name}" for docker, cls in MESSAGES.items()
              for field in cls.DESCRIPTOR.fields]
APPLIED = applied_fields()


def _set(message, field: FieldDescriptor) -> None:
    """Give ``field`` a value that counts as set."""
    value = getattr(message, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        if value_field.message_type is not None:
            value["k"].SetInParent()
        else:
            value["k"] = "v"
    elif field.is_repeated:
        if field.message_type is not None:
            value.add()
        else:
            value.append(1 if field.cpp_type in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64,
                                                 FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64)
                         else "x")
    elif field.message_type is not None:
        value.SetInParent()
    elif field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        setattr(message, field.name, True)
    elif field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        setattr(message, field.name, "x")
    else:
        setattr(message, field.name, 1)


def _owner(qualname: str):
    module_name, _, rest = qualname.rpartition(".")
    while module_name:
        try:
            obj = importlib.import_module(module_name)
            break
        except ImportError:
            module_name, _, head = module_name.rpartition(".")
            rest = f"{head}.{rest}"
    for part in rest.split("."):
        obj = getattr(obj, part)
    return inspect.unwrap(obj)


@pytest.mark.parametrize("name", ALL_FIELDS)
def test_every_field_is_applied_or_refused(name):
    docker, _, field_name = name.partition(".")
    if name in APPLIED:
        lines = inspect.getsource(_owner(APPLIED[name])).splitlines()
        start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("def "))
        body = "\n".join(lines[start:])  # the decorator that claims the field does not count
        assert field_name in body, f"{APPLIED[name]} claims {name} but never refers to it"
        return
    message = MESSAGES[docker]()
    _set(message, message.DESCRIPTOR.fields_by_name[field_name])
    with pytest.raises(InvalidArgument, match=rf"^{name} is not supported"):
        refuse_unapplied(message)


def test_partition_is_complete_and_known():
    assert set(APPLIED) <= set(ALL_FIELDS)
    refused = [n for n in ALL_FIELDS if n not in APPLIED]
    assert refused and APPLIED, "both applied and refused fields exist today"


def test_unset_and_zero_fields_pass():
    cls = MESSAGES["HostConfig"]
    refuse_unapplied(cls(), MESSAGES["Config"](), MESSAGES["NetworkingConfig"]())
    refuse_unapplied(cls(shm_size=0, port_bindings={}))


def test_applies_refuses_a_field_that_does_not_exist():
    with pytest.raises(ValueError, match="no such field"):
        applies("HostConfig.no_such_field")
    with pytest.raises(ValueError, match="no such field"):
        applies("Nope.memory")
