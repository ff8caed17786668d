"""bpf_loop (a helper calling the program's own static function back) and
bpf_spin_lock / bpf_spin_unlock on a map value's lock, from clang-built
objects (tests/fixtures/helpers)."""

from __future__ import annotations

import errno
import struct
import threading
from pathlib import Path

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.libbpf_maps import bpf_map_lookup_elem
from libbpf_compat.object import BpfObject
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from tests.jit_support import follow_mode

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")

FIXTURES = Path(__file__).parent / "fixtures" / "helpers"


def loaded(name: str, verify: bool = True) -> BpfObject:
    """The object loaded; ``spin_lock.o``'s ``lock_forgotten`` (which the verifier
    refuses, as Linux) only when verification is off."""
    obj = lb.bpf_object__open_file(FIXTURES / name, lb.bpf_object_open_opts(verify=verify))
    forgotten = obj.find_program_by_name("lock_forgotten")
    if forgotten is not None and verify:
        lb.bpf_program__set_autoload(forgotten, False)
    obj.load()
    return follow_mode(obj)


def prog_fd(obj: BpfObject, name: str) -> int:
    prog = obj.find_program_by_name(name)
    assert prog is not None
    return lb.bpf_program__fd(prog)


def run_loop(obj: BpfObject, test: int, count: int, stop_at: int = 255,
             flags: int = 0) -> tuple[int, int, int]:
    """(bpf_loop's return value, the sum, the callback calls)."""
    packet = bytes([test, count, stop_at, flags]) + bytes(60)
    opts = bpf_test_run_opts(data_in=packet)
    bpf_prog_test_run_opts(prog_fd(obj, "loop_test"), opts)
    assert opts.retval == 2  # XDP_PASS
    out = lb.bpf_object__find_map_fd_by_name(obj, "out")
    ret, total, calls = (struct.unpack("<q", bpf_map_lookup_elem(out, struct.pack("<I", i)))[0]
                         for i in range(3))
    return ret, total, calls


@pytest.fixture
def loop_obj() -> BpfObject:
    return loaded("loop.o")


def test_loop_calls_back_each_index(loop_obj: BpfObject) -> None:
    assert run_loop(loop_obj, 0, 10) == (10, sum(range(10)), 10)
    assert run_loop(loop_obj, 0, 1) == (1, 0, 1)


def test_loop_of_zero_iterations_calls_nothing(loop_obj: BpfObject) -> None:
    assert run_loop(loop_obj, 0, 0) == (0, 0, 0)


def test_loop_stops_when_the_callback_returns_one(loop_obj: BpfObject) -> None:
    # the call that returns 1 counts, as Linux's bpf_loop returns i + 1
    assert run_loop(loop_obj, 0, 10, stop_at=4) == (5, 0 + 1 + 2 + 3, 5)
    assert run_loop(loop_obj, 0, 10, stop_at=0) == (1, 0, 1)


def test_nested_loops(loop_obj: BpfObject) -> None:
    ret, total, calls = run_loop(loop_obj, 1, 7)
    assert (ret, total, calls) == (7, 21, 7)


def test_loop_flags_must_be_zero(loop_obj: BpfObject) -> None:
    assert run_loop(loop_obj, 2, 5, flags=1) == (-errno.EINVAL, 0, 0)


def test_loop_count_past_the_limit_is_e2big(loop_obj: BpfObject) -> None:
    assert run_loop(loop_obj, 3, 1) == (-errno.E2BIG, 0, 0)
    # exactly 1 << 23 is allowed (the callback stops itself at index 255)
    assert run_loop(loop_obj, 3, 0) == (256, sum(range(255)), 256)


@pytest.mark.parametrize("checked", [True, False])
def test_loop_callback_must_be_an_instruction_of_the_program(checked: bool) -> None:
    from libbpf_compat.helpers.native import register_c_helpers
    from libbpf_compat.isa import assemble
    from libbpf_compat.vm import Vm, VmError

    # r2 = 1000: no function there
    vm = Vm(assemble("mov %r1, 3\nlddw %r2, 1000\nmov %r3, 0\nmov %r4, 0\ncall 181\nexit"),
            bounds_check=checked)
    register_c_helpers(vm)
    with pytest.raises(VmError) as info:
        vm.run()
    assert info.value.errno == errno.EINVAL
    assert "callback function 1000" in str(info.value)


@pytest.mark.parametrize("checked", [True, False])
def test_recursive_callbacks_hit_the_frame_limit(checked: bool) -> None:
    from libbpf_compat.helpers.native import register_c_helpers
    from libbpf_compat.isa import assemble
    from libbpf_compat.vm import Vm, VmError

    # the callback at slot 0 calls bpf_loop on itself again
    vm = Vm(assemble("mov %r1, 1\nlddw %r2, 0\nmov %r3, 0\nmov %r4, 0\ncall 181\nexit"),
            bounds_check=checked)
    register_c_helpers(vm)
    with pytest.raises(VmError) as info:
        vm.run()
    assert info.value.errno == errno.E2BIG


def counter_value(obj: BpfObject) -> int:
    raw = bpf_map_lookup_elem(lb.bpf_object__find_map_fd_by_name(obj, "counters"),
                              struct.pack("<I", 0))
    return int(struct.unpack_from("<Q", raw, 16)[0])


def test_spin_lock_map_gets_the_lock_offset() -> None:
    obj = loaded("spin_lock.o")
    m = obj.find_map_by_name("counters")
    assert m is not None
    assert m.native is not None and m.native.spin_lock_off == 8


def test_spin_lock_keeps_concurrent_increments_exact() -> None:
    obj = loaded("spin_lock.o")
    fd = prog_fd(obj, "locked_add")
    threads, repeat, rounds = 4, 2000, 5

    def work() -> None:
        for _ in range(rounds):
            bpf_prog_test_run_opts(fd, bpf_test_run_opts(data_in=bytes(64), repeat=repeat))

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert counter_value(obj) == threads * repeat * rounds


def test_program_ending_with_the_lock_held_is_refused_by_the_verifier() -> None:
    obj = lb.bpf_object__open_file(FIXTURES / "spin_lock.o")
    with pytest.raises(LibbpfError) as info:
        obj.load()
    assert info.value.errno == errno.EACCES
    assert "lock_forgotten" in str(info.value)
    assert "bpf_spin_unlock is missing" in str(info.value)


def test_program_ending_with_the_lock_held_fails_and_releases_it() -> None:
    obj = loaded("spin_lock.o", verify=False)
    with pytest.raises(LibbpfError) as info:
        bpf_prog_test_run_opts(prog_fd(obj, "lock_forgotten"),
                               bpf_test_run_opts(data_in=bytes(64)))
    assert info.value.errno == errno.EINVAL
    assert "holding a bpf_spin_lock" in str(info.value)
    # the lock was released: a locked increment still goes through
    bpf_prog_test_run_opts(prog_fd(obj, "locked_add"), bpf_test_run_opts(data_in=bytes(64)))
    assert counter_value(obj) == 2
