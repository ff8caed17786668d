"""Callbacks (bpf_loop, bpf_for_each_map_elem) and spin locks in the verifier.

The object programs are tests/fixtures/callbacks/callbacks.c (each ``*_ok`` one safe,
every other one with the fault its name says); the assembled ones are verified under
the fuzzer's pre-state (maps 1-3 as :data:`libbpf_compat.verifier.fuzz.MAPS`), the safe
ones also run in the bounds-checked VM with the runtime's bpf_loop.
"""

from __future__ import annotations

import errno
import random
import struct
from dataclasses import replace
from pathlib import Path

import pytest

from libbpf_compat import isa
from libbpf_compat import libbpf as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers.native import register_c_helpers
from libbpf_compat.isa import Instruction
from libbpf_compat.isa import opcodes as op
from libbpf_compat.object import BpfObject, bpf_object_open_opts
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from libbpf_compat.verifier import fuzz
from libbpf_compat.verifier.analysis import analyze, initial_state
from libbpf_compat.verifier.cases import parse_pre
from libbpf_compat.verifier.transfer import MapShape, Options
from libbpf_compat.vm import Vm

FIXTURE = Path(__file__).parent / "fixtures" / "callbacks" / "callbacks.o"

#: program -> (the message's start, the C source line the log shows)
UNSAFE = {
    "loop_out_of_buffer": ("Upper bound must be at most total_stack_size",
                           "b->slot[index] = 1;"),
    "loop_bad_return": ("At callback return r0 must be in [0, 1] (r0 is in [2, 2])",
                        "return 2;"),
    "for_each_key_write": ("A callback's map key is read-only", "*key = 1;"),
    "lock_then_call": ("function calls are not allowed while holding a lock",
                       "bpf_ktime_get_ns()"),
    "lock_kept_on_a_path": ("bpf_spin_unlock is missing", "}"),
    "lock_not_the_lock": ("r1 must point at the struct bpf_spin_lock of a map value "
                          "(offset 16, the lock is at 8)", "bpf_spin_lock("),
    "unlock_without_lock": ("bpf_spin_unlock without taking a lock",
                            "bpf_spin_unlock(&v->lock);"),
}


def only(name: str) -> BpfObject:
    obj = lb.bpf_object__open_file(FIXTURE, bpf_object_open_opts())
    for prog in obj.programs:
        prog.set_autoload(prog.name == name)
    return obj


def run(obj: BpfObject, name: str) -> int:
    prog = obj.find_program_by_name(name)
    assert prog is not None and prog.vm is not None
    assert prog.vm.bounds_check is False  # verified: no bounds checks
    opts = bpf_test_run_opts(data_in=bytes(16))
    bpf_prog_test_run_opts(prog.get_fd(), opts)
    return opts.retval


def test_a_loop_callback_summing_into_its_callers_buffer_loads_and_runs() -> None:
    with only("loop_ok") as obj:
        obj.load()
        assert run(obj, "loop_ok") == 2  # XDP_PASS: the slots sum to 0 + 1 + ... + 9


def test_a_for_each_callback_reading_keys_and_writing_values_runs() -> None:
    with only("for_each_ok") as obj:
        obj.load()
        assert run(obj, "for_each_ok") == sum(range(8))  # values 0, keys 0..7
        assert run(obj, "for_each_ok") == sum(range(8)) + 8  # each value is 1 now


def test_a_locked_update_loads_and_runs() -> None:
    with only("lock_ok") as obj:
        obj.load()
        for _ in range(3):
            assert run(obj, "lock_ok") == 2
        values = obj.find_map_by_name("values")
        assert values is not None
        raw = values.lookup_elem(struct.pack("<I", 0), 4, 24)
        count, _lock, total = struct.unpack("<QQQ", raw)
        assert (count, total) == (3, 1 + 2 + 3)


@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_an_unsafe_callback_or_lock_is_refused_with_its_reason(name: str) -> None:
    message, source = UNSAFE[name]
    with only(name) as obj:
        with pytest.raises(LibbpfError) as info:
            obj.load()
        assert info.value.errno == errno.EACCES
        assert message in str(info.value)
        prog = obj.find_program_by_name(name)
        assert prog is not None
        assert source in prog.verifier_log and message in prog.verifier_log


# Assembled programs --------------------------------------------------------------------------


def program(text: str) -> list[Instruction]:
    return isa.decode(isa.assemble(text, "kernel"))


def failures(text: str, options: Options | None = None) -> list[str]:
    options = options or fuzz.options()
    result = analyze(fuzz.slots(program(text)), {},
                     initial_state(parse_pre(fuzz.pre_state())), options)
    return [str(m) for m in result.messages if "unreachable" not in m.text]


def loop(count: int | str, ctx: str, body: str, after: str = "") -> str:
    """main: an 8-byte counter at r10 - 8 and zeroes at r10 - 16, bpf_loop(count,
    <cb>, ctx, 0), then ``after``, returning 0; <cb>: ``body``."""
    return "\n".join([
        "*(u64 *)(r10 - 8) = 0", "*(u64 *)(r10 - 16) = 0", f"r1 = {count}",
        "r2 = code_addr(<cb>)", f"r3 = {ctx}", "r4 = 0", "call 181", after, "r0 = 0", "exit",
        "<cb>:", body, "exit"])


SUM = "r3 = *(u64 *)(r2 + 0)\nr3 += r1\n*(u64 *)(r2 + 0) = r3\nr0 = 0"


def test_a_summing_callback_is_accepted_and_its_result_is_the_sum() -> None:
    text = loop(10, "r10\nr3 += -8", SUM, "r0 = *(u64 *)(r10 - 8)\nexit")
    assert failures(text) == []
    vm = Vm(resolved(program(text)), bounds_check=True)
    register_c_helpers(vm)
    assert vm.run() == 45


def resolved(insns: list[Instruction]) -> bytes:
    """The code as a loader gives it to the VM: a function's address is its slot."""
    out = []
    for slot, insn in zip(isa.slot_indices(insns), insns, strict=True):
        if insn.is_lddw and insn.src == op.PSEUDO_FUNC:
            insn = Instruction.lddw(insn.dst, slot + 1 + insn.imm)
        out.append(insn)
    return isa.encode(out)


def test_accepted_callback_programs_never_trip_a_bounds_check() -> None:
    """A short campaign of generated bpf_loop callback programs, run bounds-checked."""
    rng = random.Random(20261126)
    accepted = 0
    for _ in range(150):
        gen = fuzz.Generator(rng)
        gen.emit("r6 = r1", "r7 = *(u32 *)(r6 + 0)", "r8 = *(u32 *)(r6 + 4)", "r0 = 0")
        gen.loop_callback()
        gen.emit("r0 = 0", "exit")
        insns = program("\n".join(gen.lines + gen.tail))
        if not fuzz.accepted(fuzz.verify(insns)):
            continue
        accepted += 1
        outcome = fuzz.execute(insns, rng, 4)
        assert outcome.violation is None, (outcome.violation, fuzz.listing(insns))
    assert accepted >= 15


@pytest.mark.parametrize(("count", "ok"), [(528, True), (529, False)])
def test_the_index_is_below_the_loop_count(count: int, ok: bool) -> None:
    # the callback's frame is the 512 bytes below its caller's, whose top is the
    # stack's (as one stack here: the fuzzer's pre-state)
    body = "r3 = r10\nr3 += -16\nr3 += r1\n*(u8 *)(r3 + 0) = 1\nr0 = 0"
    found = failures(loop(count, "0", body))
    assert (found == []) is ok, found
    if not ok:
        assert "Upper bound must be at most total_stack_size" in found[0]


UNSAFE_ASSEMBLED = {
    "writes past its context": (loop(3, "r10\nr3 += -8", "*(u64 *)(r2 + 8) = r1\nr0 = 0"),
                                "Upper bound must be at most total_stack_size"),
    "returns 2": (loop(3, "r10\nr3 += -8", "r0 = 2"),
                  "At callback return r0 must be in [0, 1] (r0 is in [2, 2])"),
    "returns the index": (loop(3, "0", "r0 = r1"),
                          "At callback return r0 must be in [0, 1] (r0 is in [0, 2])"),
    "returns a pointer": (loop(3, "0", "r0 = r10"),
                          "At callback return r0 must be in [0, 1] (r0 is not a number)"),
    "uses an uninitialised slot of its caller": (
        loop(3, "r10\nr3 += -8", "r3 = *(u64 *)(r2 - 16)\nr0 = *(u8 *)(r3 + 0)\nr0 = 0"),
        "Invalid type (r3.type in"),
    "function address is a number": (loop(3, "0", "r0 = 0").replace(
        "r2 = code_addr(<cb>)", "r2 = 7"),
        "Invalid type (r2.type == a static function's address)"),
    "function address moved": (loop(3, "0", "r0 = 0").replace(
        "r2 = code_addr(<cb>)", "r2 = code_addr(<cb>)\nr2 += 1"),
        "Invalid type (r2.type in {number, ctx, stack, packet, shared})"),
    "called through callx": (loop(3, "r10\nr3 += -8", "*(u64 *)(r2 + 8) = r1\nr0 = 0")
                             .replace("call 181", "r5 = 181\ncallx r5"),
                             "Upper bound must be at most total_stack_size"),
    "calls itself": (loop(3, "0", "r1 = 1\nr2 = code_addr(<cb>)\nr3 = 0\nr4 = 0\ncall 181"
                              "\nr0 = 0"), "illegal recursion"),
    # after the helper, a slot the callback may write holds what it held before too
    "caller trusts a pointer the callback may have stored": (
        loop(3, "r10\nr3 += -8", "*(u64 *)(r2 + 0) = r10\nr0 = 0",
             "r2 = *(u64 *)(r10 - 8)\nr0 = *(u8 *)(r2 - 1)"), "Invalid type (r2.type in"),
    # the callback's frame is gone when it returns
    "caller uses the callback's frame": (
        loop(3, "r10\nr3 += -8", "*(u64 *)(r10 - 8) = 1\n*(u64 *)(r2 + 0) = r10\nr0 = 0",
             "r2 = *(u64 *)(r10 - 8)\nr0 = *(u64 *)(r2 - 8)"), "Invalid type (r2.type in"),
}


@pytest.mark.parametrize("name", sorted(UNSAFE_ASSEMBLED))
def test_an_unsafe_callback_is_refused(name: str) -> None:
    text, message = UNSAFE_ASSEMBLED[name]
    found = failures(text)
    assert any(message in f for f in found), found


def test_the_callers_slots_hold_what_any_number_of_calls_leave() -> None:
    """0, 1 or more calls: the counter may be any sum, the other slot still holds its
    zero."""
    state = analyze(fuzz.slots(program(loop(4, "r10\nr3 += -8", SUM, "r9 = 0"))), {},
                    initial_state(parse_pre(fuzz.pre_state())), fuzz.options())
    assert state.exit_state is not None
    cells = state.exit_state.stack.cells
    top = 4096
    assert cells[(top - 16, 8)].value.s.singleton == 0
    assert cells[(top - 8, 8)].is_number  # any sum (widened)


FOR_EACH = """*(u64 *)(r10 - 8) = 0
r1 = map_fd 3
r2 = code_addr(<cb>)
r3 = r10
r3 += -8
r4 = 0
call 164
r0 = 0
exit
<cb>:
{body}
exit"""


@pytest.mark.parametrize(("body", "message"), [
    # map 3: an 8-byte key, a 16-byte value
    ("r0 = *(u64 *)(r2 + 0)\nr5 = *(u64 *)(r3 + 8)\n*(u64 *)(r3 + 0) = r0\n"
     "r5 = *(u64 *)(r4 + 0)\nr0 = 0", None),
    ("r0 = *(u64 *)(r2 + 4)\nr0 = 0", "Upper bound must be at most r2.key_size"),
    ("*(u8 *)(r2 + 0) = 1\nr0 = 0", "A callback's map key is read-only"),
    ("r0 = *(u64 *)(r3 + 12)\nr0 = 0", "Upper bound must be at most r3.shared_region_size"),
    # a nested walk reuses the key's buffer: the outer key is gone after it
    ("r6 = r2\nr2 = code_addr(<cb>)\nr3 = 0\nr4 = 0\ncall 164\nr0 = *(u8 *)(r6 + 0)\nr0 = 0",
     "illegal recursion"),
])
def test_a_for_each_callback_gets_the_key_value_and_context(body: str,
                                                            message: str | None) -> None:
    found = failures(FOR_EACH.format(body=body))
    if message is None:
        assert found == []
    else:
        assert any(message in f for f in found), found


def test_an_outer_walks_key_is_gone_after_an_inner_walk() -> None:
    text = FOR_EACH.format(body="r6 = r2\nr1 = map_fd 1\nr2 = code_addr(<inner>)\nr3 = 0\n"
                                "r4 = 0\ncall 164\nr0 = *(u8 *)(r6 + 0)\nr0 = 0")
    text += "\n<inner>:\nr0 = 0\nexit"
    found = failures(text)
    assert any("Invalid type (r6.type in" in f for f in found), found
    # read before the inner walk, the key is fine
    ok = text.replace("r0 = *(u8 *)(r6 + 0)\n", "").replace("r6 = r2\n",
                                                             "r6 = *(u64 *)(r2 + 0)\n")
    assert failures(ok) == []


# Spin locks --------------------------------------------------------------------------------


def lock_options() -> Options:
    """Map 1: a value of 16 bytes whose struct bpf_spin_lock is at 4."""
    return replace(fuzz.options(), maps={**fuzz.MAPS, 1: MapShape(4, 16, 4)})


LOOKUP = """*(u32 *)(r10 - 4) = 0
r1 = map_fd {fd}
r2 = r10
r2 += -4
call 1
if r0 == 0 goto <out>
r6 = r0
"""


def locked(body: str, fd: int = 1) -> str:
    return LOOKUP.format(fd=fd) + body + "\n<out>:\nr0 = 0\nexit"


LOCK = "r1 = r6\nr1 += 4\ncall 93"
UNLOCK = "r1 = r6\nr1 += 4\ncall 94"


@pytest.mark.parametrize(("body", "message"), [
    (f"{LOCK}\nr0 = *(u64 *)(r6 + 8)\n{UNLOCK}", None),
    (f"{LOCK}\nr0 = *(u64 *)(r6 + 8)", "bpf_spin_unlock is missing"),
    (f"{LOCK}\nif r7 == 0 goto <out>\n{UNLOCK}", "bpf_spin_unlock is missing"),
    (f"{LOCK}\ncall 5\n{UNLOCK}", "function calls are not allowed while holding a lock"),
    (f"{LOCK}\n{LOCK}\n{UNLOCK}", "function calls are not allowed while holding a lock"),
    (f"{UNLOCK}", "bpf_spin_unlock without taking a lock"),
    (f"r7 = *(u64 *)(r6 + 8)\nif r7 == 0 goto <skip>\n{LOCK}\n<skip>:\n{UNLOCK}",
     "bpf_spin_unlock without taking a lock"),
    ("r1 = r6\ncall 93", "r1 must point at the struct bpf_spin_lock of a map value "
                         "(offset 0, the lock is at 4)"),
    (f"{LOCK}\nr0 = *(u8 *)skb[0]\n{UNLOCK}", "BPF_LD_[ABS|IND] cannot be used"),
    # the lock word is the helpers' alone; the bytes around it are the program's
    ("*(u32 *)(r6 + 4) = 0", "bpf_spin_lock cannot be accessed directly by load/store"),
    ("r0 = *(u64 *)(r6 + 0)", "bpf_spin_lock cannot be accessed directly by load/store"),
    ("r0 = *(u32 *)(r6 + 0)\n*(u64 *)(r6 + 8) = r0", None),
])
def test_a_spin_lock_is_released_on_every_path_and_nothing_is_called_meanwhile(
        body: str, message: str | None) -> None:
    found = failures(locked(body), lock_options())
    if message is None:
        assert found == []
    else:
        assert any(message in f for f in found), found


def test_a_lock_needs_a_map_with_one_and_a_non_null_value() -> None:
    found = failures(locked(f"{LOCK}\n{UNLOCK}", fd=2), lock_options())
    assert any("its map has no struct bpf_spin_lock" in f for f in found), found
    unchecked = LOOKUP.format(fd=1).replace("if r0 == 0 goto <out>\n", "")
    at_zero = replace(fuzz.options(), maps={**fuzz.MAPS, 1: MapShape(4, 16, 0)})
    found = failures(unchecked + "r1 = r6\ncall 93\nr1 = r6\ncall 94\n<out>:\nr0 = 0\nexit",
                     at_zero)
    assert any("Possible null access (r1 as a spin lock)" in f for f in found), found
