"""The libbpf object API: opening, programs, maps' metadata, setters and print."""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.isa import Instruction
from libbpf_compat.object import BpfObject, bpf_object_open_opts
from libbpf_compat.uapi import (
    BPF_CGROUP_INET4_CONNECT,
    BPF_F_MMAPABLE,
    BPF_F_RDONLY_PROG,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_PROG_TYPE_KPROBE,
    BPF_PROG_TYPE_SCHED_CLS,
    BPF_PROG_TYPE_XDP,
    BPF_XDP,
)

OBJECTS = Path(__file__).parent / "fixtures" / "objects"


@pytest.fixture(autouse=True)
def quiet() -> Iterator[list[tuple[int, str]]]:
    messages: list[tuple[int, str]] = []
    previous = lb.libbpf_set_print(lambda level, text: messages.append((level, text)))
    yield messages
    lb.libbpf_set_print(previous)


def _open(name: str, opts: bpf_object_open_opts | None = None) -> BpfObject:
    return lb.bpf_object__open_file(OBJECTS / f"{name}.o", opts)


def test_open_names_the_object_after_the_file() -> None:
    obj = lb.bpf_object__open(OBJECTS / "subprogs.o")
    assert lb.bpf_object__name(obj) == "subprogs"
    named = _open("subprogs", bpf_object_open_opts(object_name="custom"))
    assert lb.bpf_object__name(named) == "custom"


def test_open_mem_equals_open_file() -> None:
    data = (OBJECTS / "globals.o").read_bytes()
    from_mem = lb.bpf_object__open_mem(data, bpf_object_open_opts(object_name="globals"))
    from_file = _open("globals")
    assert [m.name for m in from_mem.maps] == [m.name for m in from_file.maps]
    assert [p.code for p in from_mem.programs] == [p.code for p in from_file.programs]
    anonymous = lb.bpf_object__open_mem(bytearray(data))
    assert anonymous.name.endswith(f"-{len(data):x}")


def test_programs_in_order_and_by_name() -> None:
    obj = _open("subprogs")
    names = []
    prog = lb.bpf_object__next_program(obj, None)
    while prog is not None:
        names.append(lb.bpf_program__name(prog))
        prog = lb.bpf_object__next_program(obj, prog)
    # .text functions are sub-programs: not listed, as libbpf does.
    assert names == ["in_other_section", "first", "second", "third"]
    assert [p.name for p in obj] == names
    assert [p.name for p in obj.subprograms] == ["global_helper", "middle", "leaf", "loop_body"]
    first = lb.bpf_object__find_program_by_name(obj, "first")
    assert first is not None and lb.bpf_program__section_name(first) == "xdp"
    assert lb.bpf_object__find_program_by_name(obj, "leaf") is None
    assert lb.bpf_object__find_program_by_name(obj, "nope") is None


def test_maps_in_order_and_by_name() -> None:
    obj = _open("legacy_maps")
    first = lb.bpf_object__next_map(obj, None)
    assert first is not None and lb.bpf_map__name(first) == "counts"
    second = lb.bpf_object__next_map(obj, first)
    assert second is not None and lb.bpf_map__name(second) == "slots"
    assert lb.bpf_object__next_map(obj, second) is None
    assert lb.bpf_object__find_map_by_name(obj, "slots") is second
    assert lb.bpf_object__find_map_by_name(obj, "nope") is None
    other = _open("legacy_maps")
    with pytest.raises(LibbpfError) as info:
        lb.bpf_object__next_map(obj, other.maps[0])
    assert info.value.errno == errno.EINVAL


def test_program_metadata_and_setters() -> None:
    obj = _open("subprogs")
    third = obj.find_program_by_name("third")
    assert third is not None
    assert lb.bpf_program__type(third) == BPF_PROG_TYPE_SCHED_CLS
    first = obj.find_program_by_name("first")
    assert first is not None
    assert lb.bpf_program__type(first) == BPF_PROG_TYPE_XDP
    assert lb.bpf_program__expected_attach_type(first) == BPF_XDP
    assert lb.bpf_program__autoload(first)
    insns = lb.bpf_program__insns(first)
    assert all(isinstance(i, Instruction) for i in insns)
    assert sum(i.size for i in insns) == lb.bpf_program__insn_cnt(first) == len(first.code) // 8
    lb.bpf_program__set_type(first, BPF_PROG_TYPE_KPROBE)
    lb.bpf_program__set_expected_attach_type(first, BPF_CGROUP_INET4_CONNECT)
    lb.bpf_program__set_autoload(first, False)
    assert (lb.bpf_program__type(first), lb.bpf_program__expected_attach_type(first)) == (
        BPF_PROG_TYPE_KPROBE, BPF_CGROUP_INET4_CONNECT)
    assert not lb.bpf_program__autoload(first)
    assert lb.bpf_program__log_buf(first) == (None, 0)
    buf = bytearray(4096)
    lb.bpf_program__set_log_buf(first, buf, 1024)
    log, size = lb.bpf_program__log_buf(first)
    assert log is buf and size == 1024
    with pytest.raises(LibbpfError):
        lb.bpf_program__set_log_buf(first, bytearray(8), 64)


def test_map_metadata() -> None:
    obj = _open("btf_maps")
    flows = lb.bpf_object__find_map_by_name(obj, "flows")
    assert flows is not None
    assert lb.bpf_map__type(flows) == BPF_MAP_TYPE_HASH
    assert (lb.bpf_map__key_size(flows), lb.bpf_map__value_size(flows),
            lb.bpf_map__max_entries(flows), lb.bpf_map__map_flags(flows)) == (12, 16, 1024, 1)
    assert not lb.bpf_map__is_internal(flows)
    assert obj.btf is not None
    assert obj.btf.name_of(lb.bpf_map__btf_key_type_id(flows)) == "flow_key"
    assert obj.btf.name_of(lb.bpf_map__btf_value_type_id(flows)) == "flow_stats"
    assert lb.bpf_map__initial_value(flows) is None
    # pinning = LIBBPF_PIN_BY_NAME: libbpf's default root, or pin_root_path.
    assert lb.bpf_map__pin_path(flows) == "/sys/fs/bpf/flows"
    sized = lb.bpf_object__find_map_by_name(obj, "sized")
    assert sized is not None and lb.bpf_map__pin_path(sized) is None
    rooted = _open("btf_maps", bpf_object_open_opts(pin_root_path="/tmp/pins/"))
    rooted_flows = rooted.find_map_by_name("flows")
    assert rooted_flows is not None and rooted_flows.pin_path == "/tmp/pins/flows"


def test_map_setters() -> None:
    obj = _open("globals")
    data = lb.bpf_object__find_map_by_name(obj, "globals.data")
    assert data is not None and lb.bpf_map__is_internal(data)
    assert lb.bpf_map__type(data) == BPF_MAP_TYPE_ARRAY
    assert lb.bpf_map__map_flags(data) == BPF_F_MMAPABLE
    rodata = obj.find_map_by_name("globals.rodata")
    assert rodata is not None and rodata.map_flags == BPF_F_MMAPABLE | BPF_F_RDONLY_PROG
    assert lb.bpf_map__initial_value(data) == (7).to_bytes(4, "little")
    lb.bpf_map__set_initial_value(data, (9).to_bytes(4, "little"))
    assert lb.bpf_map__initial_value(data) == (9).to_bytes(4, "little")
    with pytest.raises(LibbpfError) as info:
        lb.bpf_map__set_initial_value(data, b"12345")
    assert info.value.errno == errno.EINVAL
    lb.bpf_map__set_value_size(data, 8)
    assert lb.bpf_map__value_size(data) == 8
    assert lb.bpf_map__initial_value(data) == (9).to_bytes(4, "little") + bytes(4)
    lb.bpf_map__set_max_entries(data, 1)
    lb.bpf_map__set_pin_path(data, "/sys/fs/bpf/x")
    assert lb.bpf_map__pin_path(data) == "/sys/fs/bpf/x"
    legacy = _open("legacy_maps").find_map_by_name("counts")
    assert legacy is not None
    with pytest.raises(LibbpfError):
        lb.bpf_map__set_initial_value(legacy, bytes(8))
    lb.bpf_map__set_max_entries(legacy, 4096)
    assert lb.bpf_map__max_entries(legacy) == 4096


def test_setters_refuse_with_ebusy_after_load() -> None:
    obj = _open("globals")
    prog = obj.programs[0]
    map_ = obj.maps[0]
    obj.loaded = True
    calls: list[Callable[[], None]] = [
        lambda: lb.bpf_program__set_type(prog, BPF_PROG_TYPE_XDP),
        lambda: lb.bpf_program__set_expected_attach_type(prog, BPF_XDP),
        lambda: lb.bpf_program__set_autoload(prog, False),
        lambda: lb.bpf_program__set_log_buf(prog, bytearray(16)),
        lambda: lb.bpf_map__set_max_entries(map_, 2),
        lambda: lb.bpf_map__set_value_size(map_, 8),
        lambda: lb.bpf_map__set_initial_value(map_, bytes(map_.value_size)),
        lambda: lb.bpf_map__set_pin_path(map_, "/x"),
    ]
    for call in calls:
        with pytest.raises(LibbpfError) as info:
            call()
        assert info.value.errno == errno.EBUSY


def test_abi_detection_and_option() -> None:
    assert _open("windows").abi == "windows"
    assert _open("subprogs").abi == "linux"
    assert _open("windows", bpf_object_open_opts(abi="linux")).abi == "linux"
    with pytest.raises(LibbpfError) as info:
        bpf_object_open_opts(abi="macos")
    assert info.value.errno == errno.EINVAL
    bind = _open("windows").find_program_by_name("authorize_bind")
    assert bind is not None and bind.windows_only and bind.abi == "windows"


def test_open_errors() -> None:
    with pytest.raises(LibbpfError) as info:
        lb.bpf_object__open(OBJECTS / "does_not_exist.o")
    assert info.value.errno == errno.ENOENT
    with pytest.raises(LibbpfError) as info:
        lb.bpf_object__open_mem(b"")
    assert info.value.errno == errno.EINVAL
    with pytest.raises(LibbpfError) as info:
        lb.bpf_object__open_mem("text")  # type: ignore[arg-type]
    assert info.value.errno == errno.EINVAL


def test_context_manager_and_close() -> None:
    with _open("subprogs") as obj:
        assert not obj.closed
    assert obj.closed
    other = _open("subprogs")
    lb.bpf_object__close(other)
    assert other.closed
    lb.bpf_object__close(None)


def test_set_print_returns_previous_and_receives_warnings(
    quiet: list[tuple[int, str]],
) -> None:
    data = (OBJECTS / "subprogs.o").read_bytes().replace(b"classifier\0", b"classifieR\0")
    lb.bpf_object__open_mem(data)
    assert any(level == lb.LIBBPF_WARN and "classifieR" in text for level, text in quiet)
    seen: list[str] = []
    previous = lb.libbpf_set_print(lambda level, text: seen.append(text))
    try:
        assert previous is not None
        lb.bpf_object__open_mem(data)
        assert any("unknown section name" in text for text in seen)
    finally:
        assert lb.libbpf_set_print(previous) is not None


def test_check_externs_before_load() -> None:
    obj = _open("ksyms")
    with pytest.raises(LibbpfError) as info:
        obj.check_externs()
    assert info.value.errno == errno.ESRCH
    obj.check_externs({"bpf_prog_active", "bpf_kfunc_example"})
    _open("globals", bpf_object_open_opts(kconfig="CONFIG_HZ=1000")).check_externs()
    kconfig = _open("globals", bpf_object_open_opts(kconfig="CONFIG_HZ=1000")).find_map_by_name(
        "globals.kconfig")
    assert kconfig is not None and kconfig.is_internal and kconfig.initial_value is not None
    with pytest.raises(LibbpfError) as info:  # libbpf: .kconfig comes from the option only
        lb.bpf_map__set_initial_value(kconfig, kconfig.initial_value)
    assert info.value.errno == errno.EINVAL


def test_all_functions_are_listed_by_section() -> None:
    assert _open("btf_maps").functions == {"xdp": ["tail_one", "tail_two", "entry"]}
