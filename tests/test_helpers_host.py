"""Helpers a host adds from Python (libbpf_compat.register_helper), and the
load-time checks on helper calls: a helper not allowed for the program's
type, one nobody implements and an unknown number each fail the load with
EINVAL naming the helper and the program; a Python helper that raises fails
the run with a LibbpfError caused by the exception."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest

import libbpf_compat
from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers import Arg, Ret, prototype
from libbpf_compat.helpers.host import HostHelper
from libbpf_compat.object import BpfObject
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from libbpf_compat.uapi import BpfProgType

OBJ = Path(__file__).parent / "fixtures" / "helpers" / "host_helper.o"
PROTO = (Ret.INTEGER, (Arg.SCALAR,))


def open_only(*names: str) -> BpfObject:
    """The object with autoload on for ``names`` only."""
    obj = lb.bpf_object__open_file(OBJ)
    for prog in obj.programs:
        prog.autoload = prog.name in names
    return obj


@pytest.fixture
def doubled() -> Iterator[HostHelper]:
    helper = libbpf_compat.register_helper(0x1000, "host_double", PROTO,
                                           lambda r1, *_: 2 * r1)
    yield helper
    libbpf_compat.unregister_helper(helper)


def run(obj: BpfObject, name: str, first: int) -> int:
    prog = obj.find_program_by_name(name)
    assert prog is not None
    opts = bpf_test_run_opts(data_in=bytes([first]) + bytes(63))
    bpf_prog_test_run_opts(lb.bpf_program__fd(prog), opts)
    return opts.retval


def test_host_helper_runs_and_its_prototype_is_registered(doubled: HostHelper) -> None:
    obj = open_only("call_host")
    obj.load()
    assert run(obj, "call_host", 21) == 42
    proto = prototype(doubled.ident.internal)
    assert proto is not None and (proto.ret, proto.args) == PROTO
    obj.close()


def test_host_helper_limited_to_other_program_types() -> None:
    helper = libbpf_compat.register_helper(0x1000, "host_double", PROTO, lambda *a: 0,
                                           prog_types=[BpfProgType.BPF_PROG_TYPE_SCHED_CLS])
    try:
        with pytest.raises(LibbpfError) as info:
            open_only("call_host").load()
        assert info.value.errno == errno.EINVAL
        assert "bpf_host_double" in str(info.value) and "'call_host'" in str(info.value)
    finally:
        libbpf_compat.unregister_helper(helper)


def test_host_helper_registration_errors(doubled: HostHelper) -> None:
    with pytest.raises(LibbpfError) as info:  # the number is taken
        libbpf_compat.register_helper(0x1000, "other", PROTO, lambda *a: 0)
    assert info.value.errno == errno.EEXIST
    with pytest.raises(LibbpfError) as info:  # so is a built-in helper's name
        libbpf_compat.register_helper(0x1001, "map_lookup_elem", PROTO, lambda *a: 0)
    assert info.value.errno == errno.EEXIST
    bad: list[tuple[object, ...]] = [
        (0, "zero_id", PROTO, lambda *a: 0),
        (0x1002, "not a name", PROTO, lambda *a: 0),
        (0x1003, "not_callable", PROTO, 42),
        (0x1004, "bad_proto", (Ret.INTEGER, ("scalar",)), lambda *a: 0),
        (0x1005, "six_args", (Ret.INTEGER, (Arg.SCALAR,) * 6), lambda *a: 0),
    ]
    for args in bad:
        with pytest.raises(LibbpfError) as info:
            libbpf_compat.register_helper(*args)  # type: ignore[arg-type]
        assert info.value.errno == errno.EINVAL
    with pytest.raises(LibbpfError) as info:
        libbpf_compat.register_helper(0x1006, "bad_abi", PROTO, lambda *a: 0, abi="bsd")
    assert info.value.errno == errno.EINVAL


def test_python_helper_that_raises_fails_the_run_with_its_cause() -> None:
    def broken(*_: int) -> int:
        raise ZeroDivisionError("host bug")

    helper = libbpf_compat.register_helper(0x1000, "host_double", PROTO, broken)
    try:
        obj = open_only("call_host")
        obj.load()
        with pytest.raises(LibbpfError) as info:
            run(obj, "call_host", 1)
        assert isinstance(info.value.__cause__, ZeroDivisionError)
        assert "host bug" in str(info.value)
        obj.close()
    finally:
        libbpf_compat.unregister_helper(helper)


def test_unregistered_host_helper_number_fails_the_load() -> None:
    with pytest.raises(LibbpfError) as info:
        open_only("call_host").load()
    assert info.value.errno == errno.EINVAL
    assert "'call_host'" in str(info.value) and "4096" in str(info.value)


def test_helper_not_allowed_for_the_program_type_fails_the_load() -> None:
    with pytest.raises(LibbpfError) as info:
        open_only("adjust_from_sock_ops").load()
    assert info.value.errno == errno.EINVAL
    text = str(info.value)
    assert "bpf_xdp_adjust_head" in text and "'adjust_from_sock_ops'" in text
    assert "SOCK_OPS" in text


def test_helper_nobody_implements_fails_the_load() -> None:
    with pytest.raises(LibbpfError) as info:
        open_only("call_unimplemented").load()
    assert info.value.errno == errno.EINVAL
    assert "bpf_rc_repeat" in str(info.value) and "'call_unimplemented'" in str(info.value)


def test_unknown_helper_number_fails_the_load() -> None:
    with pytest.raises(LibbpfError) as info:
        open_only("call_unknown").load()
    assert info.value.errno == errno.EINVAL
    assert "8192" in str(info.value) and "'call_unknown'" in str(info.value)
