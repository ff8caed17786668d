"""Helpers (Python callables), bpf-to-bpf calls, callx and call frames."""

from __future__ import annotations

import errno

import pytest

from libbpf_compat.vm import StopProgram, TailCall, Vm, VmError
from tests import rawcode as rc

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")


def test_python_helper_gets_arguments_and_sets_r0() -> None:
    seen: list[tuple[int, ...]] = []

    def helper(*args: int) -> int:
        seen.append(args)
        return sum(args)

    code = b"".join(rc.mov(r, r * 10) for r in range(1, 6)) + rc.call(7) + rc.exit_()
    vm = Vm(code)
    vm.register_helper(7, helper)
    assert vm.run() == 150
    assert seen == [(10, 20, 30, 40, 50)]


def test_helper_result_is_truncated_to_64_bits() -> None:
    vm = Vm(rc.call(1) + rc.exit_())
    vm.register_helper(1, lambda *a: -1)
    assert vm.run() == (1 << 64) - 1


def test_unregistered_helper_is_refused_naming_the_instruction() -> None:
    vm = Vm(rc.mov(0, 0) + rc.call(99) + rc.exit_())
    with pytest.raises(VmError) as info:
        vm.run()
    assert info.value.errno == errno.EINVAL
    assert info.value.pc == 1
    assert "helper 99" in str(info.value)


def test_helper_exception_propagates() -> None:
    def broken(*args: int) -> int:
        raise KeyError("boom")

    vm = Vm(rc.call(3) + rc.exit_())
    vm.register_helper(3, broken)
    with pytest.raises(VmError) as info:
        vm.run()
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.pc == 0


def test_stop_program_ends_the_run_with_its_value() -> None:
    def stop(*args: int) -> int:
        raise StopProgram(42)

    vm = Vm(rc.call(3) + rc.mov(0, 7) + rc.exit_())
    vm.register_helper(3, stop)
    assert vm.run() == 42


def test_callx_calls_the_helper_named_by_the_register() -> None:
    callx = rc.insn(rc.JMP | rc.JMP_OPS["call"] | rc.X, 2)
    vm = Vm(rc.mov(1, 5) + rc.mov(2, 9) + callx + rc.exit_())
    vm.register_helper(9, lambda r1, *rest: r1 * 3)
    assert vm.run() == 15
    vm2 = Vm(rc.mov(2, 10) + callx + rc.exit_())
    with pytest.raises(VmError, match="callx to unknown helper 10"):
        vm2.run()


def test_local_call_preserves_r6_to_r9_and_passes_r1_to_r5() -> None:
    code = (rc.mov(6, 6) + rc.mov(7, 7) + rc.mov(8, 8) + rc.mov(9, 9) + rc.mov(1, 100)
            + rc.call_local(6)                                   # 5 -> 12
            + rc.alu("add", 0, 6, reg=True) + rc.alu("add", 0, 7, reg=True)
            + rc.alu("add", 0, 8, reg=True) + rc.alu("add", 0, 9, reg=True)
            + rc.exit_()                                          # 10
            + rc.exit_()                                          # 11 (unreached)
            # subprogram at 12: clobber r6..r9, return r1 + 1
            + rc.mov(6, 0) + rc.mov(7, 0) + rc.mov(8, 0) + rc.mov(9, 0)
            + rc.movr(0, 1) + rc.alu("add", 0, 1, reg=False) + rc.exit_())
    assert Vm(code).run() == 101 + 6 + 7 + 8 + 9


def test_each_frame_has_its_own_stack() -> None:
    code = (rc.st(rc.DW, 10, -8, 111)                             # 0 caller's slot
            + rc.call_local(3)                                    # 1 -> 5
            + rc.ldx(rc.DW, 1, 10, -8)                            # 2
            + rc.alu("add", 0, 1, reg=True)                       # 3 r0 = callee's + 111
            + rc.exit_()                                          # 4
            + rc.st(rc.DW, 10, -8, 222)                           # 5 callee's slot
            + rc.ldx(rc.DW, 0, 10, -8)                            # 6
            + rc.exit_())
    for checked in (False, True):
        assert Vm(code, bounds_check=checked).run() == 333


def test_callee_may_use_a_pointer_into_the_callers_stack() -> None:
    code = (rc.st(rc.DW, 10, -8, 5) + rc.movr(1, 10) + rc.alu("add", 1, -8, reg=False)
            + rc.call_local(2) + rc.ldx(rc.DW, 0, 10, -8) + rc.exit_()
            + rc.st(rc.DW, 1, 0, 77) + rc.exit_())
    assert Vm(code, bounds_check=True).run() == 77


def test_eight_frames_run_and_a_ninth_is_stopped() -> None:
    # main + 7 nested calls = 8 frames: fine
    def chain(calls: int) -> bytes:
        body = rc.mov(0, 0)
        for _ in range(calls):
            body += rc.call_local(2) + rc.alu("add", 0, 1, reg=False) + rc.exit_()
        return body + rc.exit_()

    assert Vm(chain(7)).run() == 7
    with pytest.raises(VmError) as info:
        Vm(chain(8)).run()
    assert info.value.errno == errno.E2BIG
    assert "8 call frames" in str(info.value)
    assert info.value.pc == 1 + 3 * 7


def test_recursion_is_stopped_not_crashing() -> None:
    code = rc.call_local(-1) + rc.exit_()
    with pytest.raises(VmError, match="call frames"):
        Vm(code).run()


def tail_caller(target: Vm) -> Vm:
    """r6 = 100; tail-call target through helper 12; on failure return r0 + r6."""
    vm = Vm(rc.mov(6, 100) + rc.call(12) + rc.alu("add", 0, 6, reg=True) + rc.exit_())

    def tail_call(*args: int) -> int:
        raise TailCall(target)

    vm.register_helper(12, tail_call)
    return vm


def test_tail_call_continues_in_the_target_with_the_same_r1() -> None:
    target = Vm(rc.ldx(rc.B, 0, 1, 0) + rc.alu("add", 0, 1000, reg=False) + rc.exit_())
    assert tail_caller(target).run(b"\x07") == 1007


def test_tail_calls_stop_after_33() -> None:
    # a program that counts itself in memory and tail-calls itself
    counter = (rc.ldx(rc.DW, 2, 1, 0) + rc.alu("add", 2, 1, reg=False) + rc.stx(rc.DW, 1, 2, 0)
               + rc.call(12) + rc.exit_())
    vm = Vm(counter)

    def again(*args: int) -> int:
        raise TailCall(vm)

    vm.register_helper(12, again)
    mem = bytearray(8)
    r0 = vm.run(mem)
    assert int.from_bytes(mem, "little") == 34      # the first run and 33 tail calls
    assert r0 == (-errno.E2BIG) & ((1 << 64) - 1)   # the 34th tail call failed


def test_tail_call_from_a_subprogram_returns_to_its_caller() -> None:
    target = Vm(rc.mov(0, 5) + rc.exit_())
    code = (rc.call_local(2) + rc.alu("add", 0, 1, reg=False) + rc.exit_()
            + rc.call(12) + rc.mov(0, 99) + rc.exit_())
    vm = Vm(code)

    def tail_call(*args: int) -> int:
        raise TailCall(target)

    vm.register_helper(12, tail_call)
    assert vm.run() == 6
