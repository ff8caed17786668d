"""The quick-start demo: assemble a small program, show it in both
assembler syntaxes, run it in the VM with and without bounds checking, and
check the result against the same computation in Python."""

from __future__ import annotations

from libbpf_compat import isa
from libbpf_compat.vm import Vm

#: FNV-1a (64-bit) over the memory passed in: r1 = pointer, r2 = length.
FNV1A = """\
    lddw %r0, 0xcbf29ce484222325
    lddw %r4, 0x100000001b3
    jeq %r2, 0, done
loop:
    ldxb %r3, [%r1]
    xor %r0, %r3
    mul %r0, %r4
    add %r1, 1
    sub %r2, 1
    jne %r2, 0, loop
done:
    exit
"""

MESSAGE = b"hello, eBPF without a kernel"


def fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & ((1 << 64) - 1)
    return h


def main() -> int:
    code = isa.assemble(FNV1A)
    print(f"assembled {len(code) // 8} instruction slots:")
    print(isa.disassemble(code, syntax="kernel").rstrip())
    vm = Vm(code)
    checked = Vm(code, bounds_check=True)
    result = vm.run(MESSAGE)
    timing = vm.run_repeat(MESSAGE, 100_000)
    print(f"\nfnv1a({MESSAGE.decode()!r}) = {result:#018x}")
    print(f"bounds-checked run agrees: {checked.run(MESSAGE) == result}")
    print(f"Python computes {fnv1a(MESSAGE):#018x}; "
          f"{'match' if fnv1a(MESSAGE) == result else 'MISMATCH'}")
    print(f"{timing.duration_ns:.0f} ns per run over {len(MESSAGE)} bytes")
    return 0 if fnv1a(MESSAGE) == result else 1
