"""Helper prototypes in the registry, and the verifier's checks of call arguments."""

from __future__ import annotations

from libbpf_compat.helpers import (
    PROTOTYPES,
    Arg,
    Ret,
    helper_by_name,
    prototype,
    size_argument,
    socket_access_ok,
)
from libbpf_compat.isa import assemble, decode, slot_indices
from libbpf_compat.verifier.analysis import analyze, initial_state
from libbpf_compat.verifier.cases import parse_pre
from libbpf_compat.verifier.transfer import MapShape, Options

MAP = ["r1.type=map_fd", "r1.map_fd=1"]
STACK_KEY = ["r2.type=stack", "r2.stack_offset=504", "s[504...511].type=number"]


def _id(name: str) -> int:
    helper = helper_by_name(name)
    assert helper is not None
    return helper.internal


def _run(code: str, pre: list[str], options: Options | None = None) -> set[str]:
    insns = decode(assemble(code, "kernel"))
    program = dict(zip(slot_indices(insns), insns, strict=True))
    return analyze(program, {}, initial_state(parse_pre(pre)), options).texts


def test_registry_prototypes() -> None:
    lookup = prototype(_id("map_lookup_elem"))
    assert lookup is not None
    assert lookup.args == (Arg.CONST_MAP_PTR, Arg.PTR_TO_MAP_KEY)
    assert lookup.ret == Ret.MAP_VALUE_OR_NULL
    ringbuf = prototype(_id("ringbuf_output"))
    assert ringbuf is not None and size_argument(ringbuf, 1) == 2
    assert prototype(_id("ringbuf_reserve")) is not None
    assert prototype(_id("ktime_get_ns")) == PROTOTYPES[5]
    # Windows-only helpers are keyed by their internal id too.
    assert prototype(_id("map_lookup_and_delete_elem")) is not None
    # Every memory argument that is not a map key or value has its size right after it.
    for proto in PROTOTYPES.values():
        for i, arg in enumerate(proto.args):
            if arg.is_size:
                assert proto.args[i - 1].is_memory, proto.name
            if arg in (Arg.PTR_TO_MEM, Arg.PTR_TO_UNINIT_MEM):
                assert size_argument(proto, i) is not None or proto.name == "skb_load_bytes"


def test_map_key_checks() -> None:
    assert _run("call 1\nr0 = 0\nexit", MAP + STACK_KEY) == set()
    assert _run("call 1\nr0 = 0\nexit", [*MAP, "r2.type=stack", "r2.stack_offset=496"]) == {
        "0: Illegal map update with a non-numerical value [496-500) "
        "(within(r2:key_size(r1)))"}
    shared = ["r2.type=shared", "r2.shared_offset=0", "r2.shared_region_size=2",
              "r2.svalue=[1, 100]"]
    assert _run("call 1\nr0 = 0\nexit", MAP + shared) == {
        "0: Upper bound must be at most r2.shared_region_size (within(r2:key_size(r1)))"}
    maybe_null = ["r2.type=shared", "r2.shared_offset=0", "r2.shared_region_size=8",
                  "r2.svalue=[0, 100]"]
    assert _run("call 1\nr0 = 0\nexit", MAP + maybe_null) == {
        "0: Possible null access (within(r2:key_size(r1)))"}
    assert _run("call 1\nr0 = 0\nexit", ["r1.type=number", *STACK_KEY]) == {
        "0: Invalid type (r1.type == map_fd)"}
    # The map's shape comes from the options: an 8-byte key needs 8 numeric bytes.
    wide = Options(maps={1: MapShape(16, 8)})
    assert _run("call 1\nr0 = 0\nexit", MAP + STACK_KEY, wide) == {
        "0: Illegal map update with a non-numerical value [504-520) "
        "(within(r2:key_size(r1)))"}


def test_lookup_result_is_value_or_null() -> None:
    # The value must be null-checked, and then has the map's value size.
    read = "call 1\nr0 = *(u32 *)(r0 + 0)\nexit"
    assert _run(read, MAP + STACK_KEY) == {
        "1: Possible null access (valid_access(r0.offset, width=4) for read)"}
    checked = "call 1\nif r0 == 0 goto +1\nr0 = *(u32 *)(r0 + 4)\nr0 = 0\nexit"
    assert _run(checked, MAP + STACK_KEY) == {
        "2: Upper bound must be at most r0.shared_region_size "
        "(valid_access(r0.offset+4, width=4) for read)"}


def test_ringbuf_record_is_alloc_mem_or_null() -> None:
    pre = ["r1.type=map_fd", "r1.map_fd=27", "r2.type=number", "r2.svalue=8",
           "r3.type=number", "r3.svalue=0"]
    assert _run("call 131\n*(u32 *)(r0 + 0) = 1\nr0 = 0\nexit", pre) == {
        "1: Possible null access (valid_access(r0.offset, width=4) for write)"}
    # The record is a reference: submitted on the path where it is not null.
    assert _run("call 131\nif r0 == 0 goto +4\n*(u32 *)(r0 + 0) = 1\nr1 = r0\nr2 = 0\n"
                "call 132\nr0 = 0\nexit", pre) == set()
    assert _run("call 131\nif r0 == 0 goto +1\n*(u32 *)(r0 + 0) = 1\nr0 = 0\nexit",
                pre) == {"4: Unreleased reference (ring buffer record reserved at 0)"}


def test_memory_and_size_arguments() -> None:
    pre = [*MAP, "r2.type=stack", "r2.stack_offset=504", "r3.type=number", "r3.svalue=8"]
    assert _run("call 130\nexit", pre) == {
        "0: Stack content is not numeric (valid_access(r2.offset, width=r3) for read)"}
    assert _run("call 130\nexit", [*pre, "s[504...511].type=number"]) == set()
    ctx = [*MAP, "r2.type=ctx", "r2.ctx_offset=0", "r3.type=number", "r3.svalue=8"]
    assert _run("call 130\nexit", ctx) == {"0: Invalid type (r2.type in {stack, packet, shared})"}
    printk = ["r1.type=stack", "r1.stack_offset=504", "r2.type=number", "r2.svalue=-13"]
    assert _run("call 6\nexit", printk) == {"0: Invalid size (r2.value > 0)"}
    # get_stack writes its buffer: the bytes are numbers afterwards.
    get_stack = ["r1.type=ctx", "r1.ctx_offset=0", "r2.type=stack", "r2.stack_offset=504",
                 "r3.type=number", "r3.svalue=8", "r10.type=stack", "r10.stack_offset=512"]
    assert _run("call 67\nr0 = *(u64 *)(r10 - 8)\nexit", get_stack) == set()
    near_top = [*get_stack[:2], "r2.type=stack", "r2.stack_offset=510", *get_stack[4:6]]
    assert _run("call 67\nexit", near_top) == set()
    past_end = [*get_stack[:2], "r2.type=stack", "r2.stack_offset=4090", *get_stack[4:6]]
    assert _run("call 67\nexit", past_end) == {
        "0: Upper bound must be at most total_stack_size "
        "(valid_access(r2.offset, width=r3) for write)"}


def test_helper_ids() -> None:
    assert _run("call 1000\nexit", []) == {"0: invalid helper function id 1000"}
    assert _run("callx r8\nexit", ["r8.type=number", "r8.svalue=1000"]) == {
        "0: invalid helper function id 1000 (r8.type is helper)"}
    assert _run("callx r8\nexit", ["r8.type=number", "r8.svalue=[1, 2]"]) == {
        "0: callx helper function id is not a valid singleton (r8.type is helper)"}
    assert _run("callx r8\nexit", ["r8.type=number", "r8.svalue=5"]) == set()
    # Tail calls take a map of programs and the context.
    tail = ["r1.type=ctx", "r1.ctx_offset=0", "r2.type=map_fd_programs", "r3.type=number"]
    assert _run("call 12\nexit", tail) == set()
    assert _run("call 12\nexit", ["r1.type=number", *tail[2:]]) == {
        "0: Invalid type (r1.type == ctx)"}


def test_socket_fields() -> None:
    assert socket_access_ok(72, 4) and socket_access_ok(48, 4) and socket_access_ok(49, 1)
    assert socket_access_ok(42, 2) and socket_access_ok(0, 4)
    assert not socket_access_ok(0, 1)  # bound_dev_if only whole
    assert not socket_access_ok(8, 4)  # type: not in a sock_common
    assert not socket_access_ok(50, 1)  # padding after dst_port
    assert not socket_access_ok(80, 4) and not socket_access_ok(25, 4)
    lookup = ["r1.type=ctx", "r1.ctx_offset=0", "r2.type=stack", "r2.stack_offset=496",
              "r3.type=number", "r3.svalue=12", "r4.type=number", "r5.type=number",
              "s[496...507].type=number"]
    checked = "call 99\nif r0 == 0 goto +1\nr1 = *(u32 *)(r0 + {off})\nr0 = 0\nexit"
    assert _run(checked.format(off=72), lookup) == set()
    assert _run(checked.format(off=8), lookup) == {
        "2: Invalid socket access (valid_access(r0.offset+8, width=4) for read)"}
    assert _run("call 99\nr1 = *(u32 *)(r0 + 72)\nr0 = 0\nexit", lookup) == {
        "1: Possible null access (valid_access(r0.offset+72, width=4) for read)"}


def test_map_shape_of_several_maps() -> None:
    from libbpf_compat.verifier.numeric import Scalar
    from libbpf_compat.verifier.transfer import map_shape

    options = Options(maps={1: MapShape(4, 16), 2: MapShape(8, 2)}, default_map=MapShape(4, 4))
    assert map_shape(options, Scalar.const(2)) == MapShape(8, 2)
    assert map_shape(options, Scalar.const(7)) == MapShape(4, 4)
    assert map_shape(options, Scalar.from_unsigned(1, 2)) == MapShape(8, 16)
    assert map_shape(options, Scalar.from_unsigned(1, 2), smallest=True) == MapShape(4, 2)
