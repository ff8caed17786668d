"""Atomic instructions: every operation and width, fetch forms, cmpxchg, and
exact counts when threads run at once with the GIL released."""

from __future__ import annotations

import struct
import threading

import pytest

from libbpf_compat.vm import Vm
from tests import rawcode as rc

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")

ADD, OR, AND, XOR, FETCH, XCHG, CMPXCHG = 0x00, 0x40, 0x50, 0xA0, 0x01, 0xE1, 0xF1
M64 = (1 << 64) - 1

CASES = [  # op, old, operand, new value in memory
    (ADD, 0xFFFF_FFF0, 0x20, None),
    (OR, 0xF0F0, 0x0F0F, None),
    (AND, 0xFF00_FF00_FF00_FF00, 0x0FF0_0FF0_0FF0_0FF0, None),
    (XOR, 0x1234_5678_9ABC_DEF0, M64, None),
]


def model(op: int, old: int, val: int, bits: int) -> int:
    mask = (1 << bits) - 1
    return {ADD: old + val, OR: old | val, AND: old & val, XOR: old ^ val}[op] & mask


@pytest.mark.parametrize("size,bits", [(rc.W, 32), (rc.DW, 64)], ids=["32", "64"])
@pytest.mark.parametrize("fetch", [False, True], ids=["plain", "fetch"])
@pytest.mark.parametrize(("op", "old", "val", "_"), CASES)
def test_atomic_ops(size: int, bits: int, fetch: bool, op: int, old: int, val: int,
                    _: None) -> None:
    mask = (1 << bits) - 1
    fmt = "<I" if bits == 32 else "<Q"
    mem = bytearray(struct.pack(fmt, old & mask) + b"\0" * 8)
    code = (rc.lddw(2, val) + rc.movr(3, 2)
            + rc.atomic(size, 1, 2, 0, op | (FETCH if fetch else 0))
            + rc.movr(0, 2) + rc.exit_())
    r0 = Vm(code, bounds_check=True).run(mem)
    assert struct.unpack_from(fmt, mem)[0] == model(op, old & mask, val, bits)
    assert r0 == (old & mask if fetch else val & M64)


@pytest.mark.parametrize("size,bits", [(rc.W, 32), (rc.DW, 64)], ids=["32", "64"])
def test_xchg_and_cmpxchg(size: int, bits: int) -> None:
    fmt = "<I" if bits == 32 else "<Q"
    mem = bytearray(struct.pack(fmt, 5) + b"\0" * 8)
    code = rc.mov(2, 9) + rc.atomic(size, 1, 2, 0, XCHG) + rc.movr(0, 2) + rc.exit_()
    assert Vm(code).run(mem) == 5
    assert struct.unpack_from(fmt, mem)[0] == 9
    # cmpxchg: r0 is compared with memory; memory gets src when equal; r0 = old
    miss = rc.mov(0, 1) + rc.mov(2, 7) + rc.atomic(size, 1, 2, 0, CMPXCHG) + rc.exit_()
    assert Vm(miss).run(mem) == 9
    assert struct.unpack_from(fmt, mem)[0] == 9
    hit = rc.mov(0, 9) + rc.mov(2, 7) + rc.atomic(size, 1, 2, 0, CMPXCHG) + rc.exit_()
    assert Vm(hit).run(mem) == 9
    assert struct.unpack_from(fmt, mem)[0] == 7


def test_32bit_cmpxchg_compares_the_low_half_and_zero_extends_r0() -> None:
    mem = bytearray(struct.pack("<I", 0xFFFF_FFFF) + b"\0" * 4)
    code = rc.lddw(0, 0xAAAA_AAAA_FFFF_FFFF) + rc.mov(2, 3) + rc.atomic(rc.W, 1, 2, 0, CMPXCHG)
    assert Vm(code + rc.exit_()).run(mem) == 0xFFFF_FFFF
    assert struct.unpack_from("<I", mem)[0] == 3


def test_atomic_on_the_stack() -> None:
    code = (rc.st(rc.DW, 10, -8, 40) + rc.mov(1, 2) + rc.atomic(rc.DW, 10, 1, -8, ADD | FETCH)
            + rc.ldx(rc.DW, 0, 10, -8) + rc.alu("add", 0, 1, reg=True) + rc.exit_())
    assert Vm(code, bounds_check=True).run() == 42 + 40


def test_concurrent_atomic_adds_count_exactly() -> None:
    # each run adds 1 to the counter 10_000 times; 4 threads x 5 runs each
    loop = (rc.mov(2, 1) + rc.mov(3, 0)
            + rc.atomic(rc.DW, 1, 2, 0, ADD)          # 2
            + rc.alu("add", 3, 1, reg=False)
            + rc.jmp("jlt", 3, 10_000, -3, reg=False)
            + rc.mov(0, 0) + rc.exit_())
    vm = Vm(loop)
    counter = bytearray(8)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                vm.run(counter)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert struct.unpack("<Q", counter)[0] == 4 * 5 * 10_000


def test_the_gil_is_released_while_a_program_runs() -> None:
    # an endless loop stopped by its budget (~10^8 instructions) in a thread;
    # Python code in this thread keeps running meanwhile only if the GIL is free
    vm = Vm(rc.mov(0, 0) + rc.ja(-1) + rc.exit_(), budget=100_000_000)
    outcome: list[BaseException] = []
    worker = threading.Thread(target=lambda: outcome.append(_expect_error(vm)))
    worker.start()
    spins = 0
    while worker.is_alive():
        spins += 1
    worker.join()
    assert "budget" in str(outcome[0])
    assert spins > 10_000


def _expect_error(vm: Vm) -> BaseException:
    try:
        vm.run()
    except BaseException as exc:
        return exc
    raise AssertionError("the budget did not stop the run")
