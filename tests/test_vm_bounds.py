"""Optional runtime bounds checking and the instruction budget: a bad access
or a runaway loop ends the run with an error naming the instruction."""

from __future__ import annotations

import errno

import pytest

from libbpf_compat.vm import Vm, VmError
from tests import rawcode as rc

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")

EXIT = rc.exit_()


def fault(code: bytes, mem: bytearray | None = None, vm: Vm | None = None) -> VmError:
    vm = vm or Vm(code, bounds_check=True)
    with pytest.raises(VmError) as info:
        vm.run(mem)
    assert info.value.errno == errno.EFAULT
    return info.value


def test_reads_inside_the_memory_are_allowed_and_past_it_refused() -> None:
    mem = bytearray(range(16))
    assert Vm(rc.ldx(rc.DW, 0, 1, 8) + EXIT, bounds_check=True).run(mem) == int.from_bytes(
        mem[8:16], "little")
    err = fault(rc.mov(0, 0) + rc.ldx(rc.DW, 0, 1, 9) + EXIT, mem)
    assert err.pc == 1
    assert err.address is not None
    assert "read of 8 bytes" in str(err)


def test_write_before_the_memory_is_refused() -> None:
    err = fault(rc.st(rc.B, 1, -1, 1) + EXIT, bytearray(4))
    assert err.pc == 0
    assert "write of 1 bytes" in str(err)


def test_no_memory_means_no_access() -> None:
    err = fault(rc.ldx(rc.B, 0, 1, 0) + EXIT)
    assert err.address is None or err.address == 0


def test_stack_bounds_are_the_frame_and_its_callers() -> None:
    ok = rc.st(rc.DW, 10, -512, 1) + rc.ldx(rc.DW, 0, 10, -512) + EXIT
    assert Vm(ok, bounds_check=True).run() == 1
    assert fault(rc.st(rc.B, 10, -513, 1) + EXIT).pc == 0
    assert fault(rc.ldx(rc.B, 0, 10, 0) + EXIT).pc == 0


def test_wild_pointer_is_stopped_not_a_segfault() -> None:
    code = rc.lddw(1, 0x10) + rc.ldx(rc.W, 0, 1, 0) + EXIT
    err = fault(code)
    assert err.pc == 2
    assert err.address == 0x10


def test_registered_region_is_reachable_and_read_only_regions_refuse_writes() -> None:
    region = bytearray(b"\x2a" + b"\0" * 7)
    vm = Vm(rc.call(1) + rc.ldx(rc.B, 0, 0, 0) + EXIT, bounds_check=True)
    addr = vm.add_region(region)
    vm.register_helper(1, lambda *a: addr)
    assert vm.run() == 42

    frozen = memoryview(bytearray(8))
    vm2 = Vm(rc.call(1) + rc.st(rc.B, 0, 0, 1) + EXIT, bounds_check=True)
    addr2 = vm2.add_region(frozen, writable=False)
    vm2.register_helper(1, lambda *a: addr2)
    assert "write" in str(fault(b"", vm=vm2))


def test_misaligned_atomic_is_refused_when_checked() -> None:
    code = rc.mov(2, 1) + rc.atomic(rc.DW, 1, 2, 1, 0x00) + EXIT
    assert "misaligned" in str(fault(code, bytearray(16)))


def test_budget_stops_an_infinite_loop() -> None:
    vm = Vm(rc.mov(0, 0) + rc.ja(-1) + EXIT, budget=1000)
    with pytest.raises(VmError) as info:
        vm.run()
    assert info.value.errno == errno.ETIME
    assert info.value.pc == 1
    assert "budget of 1000" in str(info.value)


def test_budget_counts_exactly() -> None:
    code = rc.mov(0, 1) + rc.mov(0, 2) + rc.lddw(0, 3) + EXIT  # 4 instructions
    assert Vm(code, budget=4).run() == 3
    with pytest.raises(VmError):
        Vm(code, budget=3).run()
    counting = Vm(code)
    counting.count_instructions = True
    assert counting.run_repeat(None, 1).insn_count == 4


def test_input_bytes_are_not_modified_but_bytearrays_are() -> None:
    code = rc.st(rc.B, 1, 0, 0x55) + rc.ldx(rc.B, 0, 1, 0) + EXIT
    data = b"\x01\x02"
    assert Vm(code).run(data) == 0x55
    assert data == b"\x01\x02"
    buf = bytearray(b"\x01\x02")
    Vm(code).run(buf)
    assert buf[0] == 0x55


def test_legacy_packet_loads_read_big_endian_and_stop_out_of_bounds() -> None:
    ldabs_h = rc.insn(rc.LD | rc.H | rc.ABS, 0, 0, 0, 1)
    assert Vm(ldabs_h + EXIT).run(b"\x00\x12\x34") == 0x1234
    ldind_w = rc.insn(rc.LD | rc.W | rc.IND, 0, 2, 0, -4)  # r2 = len
    assert Vm(ldind_w + EXIT).run(b"\x00\xde\xad\xbe\xef") == 0xDEADBEEF
    # out of the packet: the program ends returning 0
    assert Vm(rc.insn(rc.LD | rc.W | rc.ABS, 0, 0, 0, 2) + rc.mov(0, 9) + EXIT).run(b"abc") == 0
