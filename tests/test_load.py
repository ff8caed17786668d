"""Loading objects (bpf_object__load, no verifier yet) and running their
programs on the VM: global data, BTF maps, sub-programs, CO-RE against a
moved layout, and the same source built for both ABIs."""

from __future__ import annotations

import errno
import gc
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers import helper_by_name
from libbpf_compat.isa import decode
from libbpf_compat.isa import opcodes as op
from libbpf_compat.libbpf_maps import (
    bpf_map_get_info_by_fd,
    bpf_map_lookup_elem,
    bpf_map_update_elem,
)
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import BpfObject, ObjectMap, bpf_object_open_opts
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from libbpf_compat.uapi import BPF_MAP_TYPE_LRU_HASH, BPF_NOEXIST, BpfProgType

FIXTURES = Path(__file__).parent / "fixtures"
OBJECTS = FIXTURES / "objects"
LOAD = FIXTURES / "load"
BTF = FIXTURES / "btf"
KEY0 = bytes(4)
KCONFIG = "CONFIG_HZ=250\nLINUX_KERNEL_VERSION=0x50a00\n"
WINDOWS_LRU_HASH = 8


@pytest.fixture(autouse=True)
def quiet() -> Iterator[None]:
    previous = lb.libbpf_set_print(lambda level, text: None)
    yield
    lb.libbpf_set_print(previous)


def open_obj(path: Path, verify: bool = True, **opts: str) -> BpfObject:
    obj = lb.bpf_object__open_file(path, bpf_object_open_opts(verify=verify, **opts))
    if path.name == "core_local.bpf.o":
        # its SEC("tc") programs take a struct core_task, not the __sk_buff a
        # tc program's accesses are checked against: load them as SYSCALL
        # programs, whose context is whatever the caller passes
        for prog in obj.programs:
            prog.set_type(BpfProgType.BPF_PROG_TYPE_SYSCALL)
    return obj


def internal(obj: BpfObject, section: str) -> ObjectMap:
    found = [m for m in obj.maps if m.definition.section_name == section]
    assert len(found) == 1, section
    return found[0]


def value_of(map_: ObjectMap) -> bytes:
    """An internal map's value, through the fd API."""
    return bpf_map_lookup_elem(lb.bpf_map__fd(map_), KEY0)


# -- global data ---------------------------------------------------------------
def test_globals_read_and_written_by_a_program() -> None:
    obj = open_obj(OBJECTS / "globals.o", kconfig=KCONFIG)
    lb.bpf_object__load(obj)
    assert obj.loaded
    prog = lb.bpf_object__find_program_by_name(obj, "read_globals")
    assert prog is not None and prog.vm is not None
    bss, data, custom = (internal(obj, s) for s in (".bss", ".data", ".data.custom"))
    assert struct.unpack("<Q", value_of(bss)) == (0,)
    # counter = 7 + table[2]; 10 <= limit (100): LINUX_KERNEL_VERSION + CONFIG_HZ + 0
    assert prog.vm.run(None) == 0x50A00 + 250
    assert struct.unpack("<Q", value_of(bss)) == (1,)
    assert struct.unpack("<i", value_of(data)) == (10,)
    # user space writes are seen by the next run: table[2] = 100 -> counter 110 > limit
    bpf_map_update_elem(lb.bpf_map__fd(custom), KEY0, struct.pack("<4I", 1, 2, 100, 4))
    assert prog.vm.run(None) == 0xBEEF  # magic, from .rodata.consts
    assert struct.unpack("<Q", lb.bpf_map__lookup_elem(bss, KEY0, 4, 8)) == (2,)
    assert struct.unpack("<i", lb.bpf_map__lookup_elem(data, KEY0, 4, 4)) == (110,)
    lb.bpf_object__close(obj)


def test_rodata_set_before_load_is_seen_and_frozen() -> None:
    obj = open_obj(OBJECTS / "globals.o", kconfig=KCONFIG)
    rodata = internal(obj, ".rodata")
    initial = lb.bpf_map__initial_value(rodata)
    assert initial is not None and struct.unpack_from("<I", initial) == (100,)
    lb.bpf_map__set_initial_value(rodata, struct.pack("<I", 5) + initial[4:])
    lb.bpf_object__load(obj)
    prog = obj.find_program_by_name("read_globals")
    assert prog is not None and prog.vm is not None
    assert prog.vm.run(None) == 0xBEEF  # counter 10 > limit 5
    assert value_of(rodata)[:4] == struct.pack("<I", 5)
    with pytest.raises(LibbpfError) as exc:  # .rodata is frozen for user space
        bpf_map_update_elem(lb.bpf_map__fd(rodata), KEY0, bytes(rodata.value_size))
    assert exc.value.errno == errno.EPERM
    with pytest.raises(LibbpfError) as exc:
        lb.bpf_map__set_initial_value(rodata, bytes(rodata.value_size))
    assert exc.value.errno == errno.EBUSY
    lb.bpf_object__close(obj)


def test_kconfig_values_are_in_a_frozen_map() -> None:
    obj = open_obj(OBJECTS / "globals.o", kconfig=KCONFIG)
    obj.load()
    kconfig = internal(obj, ".kconfig")
    assert value_of(kconfig) == kconfig.initial_value
    with pytest.raises(LibbpfError) as exc:
        bpf_map_update_elem(lb.bpf_map__fd(kconfig), KEY0, bytes(kconfig.value_size))
    assert exc.value.errno == errno.EPERM
    obj.close()


# -- sub-programs ---------------------------------------------------------------
def test_subprograms_run() -> None:
    # These programs are run on numbers, not on their section's context (classifier):
    # 'in_other_section' returns ctx - 5, a pointer Linux's verifier refuses to return.
    with open_obj(OBJECTS / "subprogs.o", verify=False) as obj:
        obj.load()
        runs = {p.name: p.vm.run(None) for p in obj.programs
                if p.vm is not None and p.name in ("first", "second")}
        # first: global_helper(1) + middle(2) = (leaf(1) + 1 + leaf(1)) + (leaf(2) + 1)
        assert runs == {"first": 3 + 1 + 3 + 6 + 1, "second": 12}
        in_other = obj.find_program_by_name("in_other_section")
        assert in_other is not None and in_other.vm is not None
        assert in_other.vm.run(None) == (0 - 5) & (1 << 64) - 1  # r1 (x) is 0
        third = obj.find_program_by_name("third")
        assert third is not None and third.vm is not None
        # the callback address given to bpf_loop is its slot in the linked program
        lddw = [i for i in decode(third.vm.code) if i.opcode == op.OPCODE_LDDW]
        func_addrs = [r.offset for r in third.relocations if r.kind.value == "func_addr"]
        assert func_addrs and [i.imm for i in lddw] == func_addrs


# -- CO-RE ------------------------------------------------------------------------
def core_task(layout: str, pid: int, start: int, b: int, comm: bytes) -> bytearray:
    """struct core_task laid out as core_local.bpf.c ("local") or core_target.bpf.c."""
    mem = bytearray(64)
    if layout == "local":  # pid, flags, start, inner{a, b}, 16 bits of bitfields, comm[8]
        struct.pack_into("<I", mem, 0, pid)
        struct.pack_into("<Q", mem, 8, start)
        struct.pack_into("<I", mem, 20, b)
        mem[26:34] = comm
    else:  # comm[8], start, bitfields, pid, inner{pad, b, a}, extra[3]
        mem[0:8] = comm
        struct.pack_into("<Q", mem, 8, start)
        struct.pack_into("<I", mem, 20, pid)
        struct.pack_into("<I", mem, 32, b)
    return mem


def test_core_reads_moved_fields_with_btf_custom_path() -> None:
    expected = 20 + 1000 + 300 + ord("d")  # pid + start + inner.b + comm[3]
    comm = b"abcdefg\0"
    # the programs read a struct core_task given as memory, not their context:
    # verification is off, the VM's bounds checks on
    moved = open_obj(BTF / "core_local.bpf.o",
                     btf_custom_path=str(BTF / "core_target.bpf.o"), verify=False)
    moved.load()
    prog = moved.find_program_by_name("read_fields")
    assert prog is not None and prog.vm is not None
    assert prog.vm.run(core_task("target", 20, 1000, 300, comm)) == expected
    # without a custom BTF the target is the hook context types, which have
    # no struct core_task: the reads are poisoned and fail when they run
    same = open_obj(BTF / "core_local.bpf.o", verify=False)
    same.load()
    prog = same.find_program_by_name("read_fields")
    assert prog is not None and prog.vm is not None
    with pytest.raises(LibbpfError, match="poisoned"):
        prog.vm.run(core_task("local", 20, 1000, 300, comm))
    moved.close()
    same.close()


def test_core_poisoned_read_fails_only_when_run() -> None:
    obj = open_obj(BTF / "core_local.bpf.o", btf_custom_path=str(BTF / "core_target.bpf.o"),
                   verify=False)  # run on memory, not a context: bounds checks instead
    obj.load()  # 'flags' is missing from the target: the read is poisoned, load succeeds
    prog = obj.find_program_by_name("read_flags")
    assert prog is not None and prog.vm is not None
    with pytest.raises(LibbpfError, match="poisoned"):
        prog.vm.run(bytearray(64))
    other = obj.find_program_by_name("read_ver")
    assert other is not None and other.vm is not None
    mem = bytearray(16)
    struct.pack_into("<I", mem, 8, 77)  # target core_ver: other (u64), renamed
    assert other.vm.run(mem) == 77
    obj.close()


# -- the load fixture, both ABIs ------------------------------------------------------
def counter(abi: str) -> BpfObject:
    return open_obj(LOAD / f"counter.{abi}.o", abi=abi)


def request(key: int, add: int) -> bytearray:
    return bytearray(struct.pack("<IIQ", key, add, 0))


def csum_model(words: list[int], seed: int) -> int:
    total = seed + sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


@pytest.mark.parametrize("abi", ["linux", "windows"])
def test_helper_calls_renumbered(abi: str) -> None:
    obj = counter(abi)
    assert obj.abi == abi
    obj.load()
    prog = obj.find_program_by_name("checksum")
    assert prog is not None and prog.vm is not None
    calls = {i.imm for i in decode(prog.vm.code) if i.opcode == op.OPCODE_CALL}
    csum = helper_by_name("csum_diff")
    assert csum is not None and calls == {csum.internal}
    assert prog.vm.run(request(0x1234, 0xFFFF_0001)) == csum_model([0x1234, 0xFFFF_0001], 1)
    bss = internal(obj, ".bss")
    assert struct.unpack_from("<Q", value_of(bss)) == (1,)  # calls
    obj.close()


@pytest.mark.parametrize("abi", ["linux", "windows"])
def test_map_types_translated(abi: str) -> None:
    obj = counter(abi)
    totals = obj.find_map_by_name("totals")
    assert totals is not None
    assert lb.bpf_map__type(totals) == (BPF_MAP_TYPE_LRU_HASH if abi == "linux"
                                        else WINDOWS_LRU_HASH)
    obj.load()
    info = bpf_map_get_info_by_fd(lb.bpf_object__find_map_fd_by_name(obj, "totals"))
    assert (info.type, info.key_size, info.value_size, info.max_entries) == (
        BPF_MAP_TYPE_LRU_HASH, 4, 8, 64)
    obj.close()


def run_counter(abi: str) -> list[tuple[int, int]]:
    obj = counter(abi)
    rodata = internal(obj, ".rodata")
    lb.bpf_map__set_initial_value(rodata, struct.pack("<I", 3))  # scale
    obj.load()
    prog = lb.bpf_object__find_program_by_name(obj, "add_total")
    assert prog is not None and prog.vm is not None
    results = []
    for key, add in ((7, 5), (7, 1), (9, 2), (7, 10)):
        req = request(key, add)
        results.append((prog.vm.run(req), struct.unpack_from("<Q", req, 8)[0]))
    totals = obj.find_map_by_name("totals")
    assert totals is not None
    fd = lb.bpf_map__fd(totals)
    assert bpf_map_lookup_elem(fd, struct.pack("<I", 7)) == struct.pack("<Q", 48)
    assert lb.bpf_map__lookup_elem(totals, struct.pack("<I", 9), 4, 8) == struct.pack("<Q", 6)
    bss = struct.unpack("<QQ", value_of(internal(obj, ".bss")))
    assert bss[0] == 4 and bss[1] > 0  # calls, last_ns (ktime_get_ns)
    assert value_of(internal(obj, ".data")) == struct.pack("<I", 7)  # last_key
    assert value_of(internal(obj, ".data.history")) == struct.pack("<4I", 7, 7, 9, 7)
    obj.close()
    return results


def test_btf_map_and_globals_updated_by_a_program_both_abis() -> None:
    linux = run_counter("linux")
    assert linux == [(0, 15), (0, 18), (0, 6), (0, 48)]
    assert run_counter("windows") == linux


# -- fds, map-object operations, lifetime ---------------------------------------------
def test_fds_and_map_object_operations() -> None:
    obj = counter("linux")
    totals = obj.find_map_by_name("totals")
    prog = obj.find_program_by_name("add_total")
    assert totals is not None and prog is not None
    for call in (lambda: lb.bpf_map__fd(totals), lambda: lb.bpf_program__fd(prog),
                 lambda: lb.bpf_map__lookup_elem(totals, KEY0, 4, 8)):
        with pytest.raises(LibbpfError) as exc:
            call()
        assert exc.value.errno == errno.ENOENT
    before = len(fd_table)
    obj.load()
    assert len(fd_table) == before + len(obj.maps) + len(obj.programs)
    assert fd_table.get(lb.bpf_program__fd(prog)) is prog
    assert lb.bpf_object__find_map_fd_by_name(obj, "totals") == lb.bpf_map__fd(totals)
    with pytest.raises(LibbpfError) as exc:
        lb.bpf_object__find_map_fd_by_name(obj, "nope")
    assert exc.value.errno == errno.ENOENT

    key, value = struct.pack("<I", 3), struct.pack("<Q", 99)
    lb.bpf_map__update_elem(totals, key, 4, value, 8, BPF_NOEXIST)
    assert bpf_map_lookup_elem(lb.bpf_map__fd(totals), key) == value
    with pytest.raises(LibbpfError) as exc:
        lb.bpf_map__update_elem(totals, key, 4, value, 8, BPF_NOEXIST)
    assert exc.value.errno == errno.EEXIST
    for bad in (lambda: lb.bpf_map__lookup_elem(totals, key, 8, 8),
                lambda: lb.bpf_map__lookup_elem(totals, key, 4, 4),
                lambda: lb.bpf_map__update_elem(totals, key, 4, value, 16),
                lambda: lb.bpf_map__update_elem(totals, key, 4, value[:4], 8),
                lambda: lb.bpf_map__delete_elem(totals, key, 2),
                lambda: lb.bpf_map__get_next_key(totals, None, 2)):
        with pytest.raises(LibbpfError) as exc:
            bad()
        assert exc.value.errno == errno.EINVAL
    lb.bpf_map__update_elem(totals, struct.pack("<I", 4), 4, value, 8)
    keys = {lb.bpf_map__get_next_key(totals, None, 4)}
    keys.add(lb.bpf_map__get_next_key(totals, next(iter(keys)), 4))
    assert keys == {key, struct.pack("<I", 4)}
    with pytest.raises(LibbpfError) as exc:
        lb.bpf_map__get_next_key(totals, _last_key(totals), 4)
    assert exc.value.errno == errno.ENOENT
    assert lb.bpf_map__lookup_and_delete_elem(totals, key, 4, 8) == value
    lb.bpf_map__delete_elem(totals, struct.pack("<I", 4), 4)
    with pytest.raises(LibbpfError) as exc:
        lb.bpf_map__lookup_elem(totals, key, 4, 8)
    assert exc.value.errno == errno.ENOENT

    fds = [m.fd for m in obj.maps] + [prog.fd]
    lb.bpf_object__close(obj)
    assert len(fd_table) == before
    assert all(fd not in fd_table for fd in fds)
    assert prog.vm is None and totals.native is None
    with pytest.raises(LibbpfError) as exc:
        obj.load()
    assert exc.value.errno == errno.EINVAL


def _last_key(map_: ObjectMap) -> bytes:
    key = lb.bpf_map__get_next_key(map_, None, 4)
    while True:
        try:
            key = lb.bpf_map__get_next_key(map_, key, 4)
        except LibbpfError:
            return key


def test_setters_refuse_after_load_and_load_twice() -> None:
    obj = counter("linux")
    obj.load()
    totals = obj.find_map_by_name("totals")
    prog = obj.find_program_by_name("checksum")
    assert totals is not None and prog is not None
    setters: list[Callable[[], None]] = [
        lambda: lb.bpf_map__set_max_entries(totals, 8),
        lambda: lb.bpf_map__set_value_size(totals, 16),
        lambda: lb.bpf_program__set_type(prog, 1),
        lambda: lb.bpf_program__set_autoload(prog, False)]
    for setter in setters:
        with pytest.raises(LibbpfError) as exc:
            setter()
        assert exc.value.errno == errno.EBUSY
    with pytest.raises(LibbpfError) as exc:
        lb.bpf_object__load(obj)
    assert exc.value.errno == errno.EINVAL
    obj.close()


def test_autoload_off_leaves_the_program_unloaded() -> None:
    obj = counter("linux")
    prog = obj.find_program_by_name("add_total")
    assert prog is not None
    lb.bpf_program__set_autoload(prog, False)
    obj.load()
    assert prog.vm is None
    with pytest.raises(LibbpfError) as exc:
        lb.bpf_program__fd(prog)
    assert exc.value.errno == errno.ENOENT
    checksum = obj.find_program_by_name("checksum")
    assert checksum is not None and lb.bpf_program__fd(checksum) >= fd_table.FIRST_FD
    obj.close()


def test_a_program_keeps_its_maps_alive_after_close() -> None:
    obj = open_obj(OBJECTS / "globals.o", kconfig=KCONFIG)
    obj.load()
    prog = obj.find_program_by_name("read_globals")
    assert prog is not None and prog.vm is not None
    vm = prog.vm
    bss = internal(obj, ".bss").native
    assert bss is not None
    obj.close()
    del obj
    gc.collect()
    assert [vm.run(None) for _ in range(3)] == [0x50A00 + 250] * 3
    assert bss.lookup(KEY0) == struct.pack("<Q", 3)  # the program's .bss, still alive


def test_big_endian_object_loads() -> None:
    # the reader turns big-endian code into the VM's slot layout; the
    # sub-programs compute the same as the little-endian build's
    with open_obj(OBJECTS / "subprogs_be.o", verify=False) as obj:  # run on numbers
        obj.load()
        first = obj.find_program_by_name("first")
        assert first is not None and first.vm is not None and first.vm.run(None) == 14


def test_unresolved_weak_ksyms() -> None:
    with open_obj(LOAD / "weak_ksyms.o") as obj:
        obj.load()  # weak: nobody needs to provide them
        runs: dict[str, int | str] = {}
        for prog in obj.programs:
            assert prog.vm is not None
            try:
                runs[prog.name] = prog.vm.run(None)
            except LibbpfError as exc:
                runs[prog.name] = str(exc)
        assert runs["reads_weak"] == 7  # &bpf_prog_active is NULL
        assert runs["checks_kfunc"] == 3  # the kfunc's address is NULL: its call never runs
        assert "poisoned" in str(runs["calls_kfunc"])  # the call itself fails when reached


def percpu_total(fd: int, key: int) -> int:
    raw = bpf_map_lookup_elem(fd, struct.pack("<I", key))
    return sum(v for (v,) in struct.iter_unpack("<Q", raw))


def test_windows_xdp_program_runs_with_its_own_context() -> None:
    """xdp_count built for eBPF for Windows: its context holds real pointers
    (xdp_md_t), so it runs on the VM as is; map type (PERCPU_ARRAY 5 -> 6)
    and helpers (ktime_get_ns 9 -> 5) are translated."""
    obj = lb.bpf_object__open_file(FIXTURES / "abi" / "xdp_count.windows.o")
    assert obj.abi == "windows"
    obj.load()
    prog = obj.find_program_by_name("count_packets")
    assert prog is not None and prog.vm is not None
    verdicts = lb.bpf_object__find_map_fd_by_name(obj, "verdicts")
    windows_pass, windows_drop = 1, 2
    for first_byte, verdict in ((0xFF, windows_drop), (0x01, windows_pass), (0xFF, windows_drop)):
        packet = bytearray([first_byte, 0, 0, 0])
        start = prog.vm.add_region(packet)
        ctx = bytearray(struct.pack("<QQQI4x", start, start + len(packet), 0, 1))
        assert prog.vm.run(ctx) == verdict
    assert (percpu_total(verdicts, 0), percpu_total(verdicts, 1)) == (1, 2)
    bss = struct.unpack("<Q", value_of(internal(obj, ".bss")))
    assert bss[0] > 0  # last_seen_ns from bpf_ktime_get_ns
    # the Linux build of the same source calls the same internal helpers
    linux = lb.bpf_object__open_file(FIXTURES / "abi" / "xdp_count.linux.o")
    linux.load()
    linux_prog = linux.find_program_by_name("count_packets")
    assert linux_prog is not None and linux_prog.vm is not None

    def helper_calls(code: bytes) -> list[int]:
        return [i.imm for i in decode(code) if i.opcode == op.OPCODE_CALL]

    assert helper_calls(linux_prog.vm.code) == helper_calls(prog.vm.code)
    linux.close()
    obj.close()


def test_linux_xdp_md_under_the_windows_typedef_name_is_linux() -> None:
    """A typedef ``xdp_md_t`` of Linux's 32-bit ``struct xdp_md`` (data_end at byte 4)
    does not make the object eBPF for Windows': the ABI is told from the layout, and
    the program verifies and runs on Linux's context."""
    obj = lb.bpf_object__open_file(FIXTURES / "abi" / "xdp_md_typedef.o")
    assert obj.abi == "linux"
    obj.load()
    prog = lb.bpf_object__find_program_by_name(obj, "first_byte")
    assert prog is not None
    fd = lb.bpf_program__fd(prog)
    for packet, verdict in ((b"\x45" + bytes(63), 2), (b"\x60" + bytes(63), 1)):
        opts = bpf_test_run_opts(data_in=packet)
        assert bpf_prog_test_run_opts(fd, opts) == 0
        assert opts.retval == verdict
    obj.close()
    # the Windows build of a real xdp_md_t (64-bit pointers) is still Windows'
    windows = lb.bpf_object__open_file(FIXTURES / "abi" / "xdp_count.windows.o")
    assert windows.abi == "windows"
    windows.close()
