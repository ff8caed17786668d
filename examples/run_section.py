"""Run one raw-convention program (r1 = memory, r2 = its length) from a
clang-built eBPF object, e.g. the benchmark programs:

    python examples/run_section.py benchmarks/raw_bench.o raw/fnv1a --mem-file README.md

Programs here must be self-contained (no maps, no relocations): the object
loader that resolves those arrives with libbpf_compat's object API.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from elftools.elf.elffile import ELFFile

from libbpf_compat import isa
from libbpf_compat.vm import Vm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("object", type=Path)
    parser.add_argument("section")
    parser.add_argument("--mem-file", type=Path, help="file whose bytes r1 points to")
    parser.add_argument("--show", action="store_true", help="print the disassembly first")
    args = parser.parse_args()
    with args.object.open("rb") as f:
        section = ELFFile(f).get_section_by_name(args.section)
        if section is None:
            parser.error(f"{args.object} has no section {args.section!r}")
        code = bytes(section.data())
    if args.show:
        print(isa.disassemble(code, syntax="kernel"))
    mem = args.mem_file.read_bytes() if args.mem_file else b""
    vm = Vm(code, bounds_check=True)
    vm.count_instructions = True
    result = vm.run_repeat(mem, 1)
    print(f"r0 = {result.retval} ({result.retval:#x}), {result.insn_count} instructions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
