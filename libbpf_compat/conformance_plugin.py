"""A bpf_conformance plugin for this VM.

    python -m libbpf_compat.conformance_plugin [--no-bounds-check] [MEMORY_HEX]

The program arrives on standard input as hex bytes (whitespace allowed), the
memory as the optional argument; r0 is printed in hex and the exit status is
0. A program the loader refuses or that stops with an error prints the
error and exits 1, so the upstream runner can drive this VM unchanged.
"""

from __future__ import annotations

import argparse
import sys

from libbpf_compat.conformance import conformance_vm
from libbpf_compat.errors import LibbpfError


def _hex_bytes(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex("".join(text.split()))
    except ValueError as exc:
        raise LibbpfError(22, f"{what} is not hex: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m libbpf_compat.conformance_plugin",
                                     description="Run an eBPF program given as hex on stdin.")
    parser.add_argument("memory", nargs="?", default="", help="the memory r1 points to, as hex")
    parser.add_argument("--no-bounds-check", action="store_true",
                        help="run without per-access bounds checks")
    args = parser.parse_args(argv)
    try:
        code = _hex_bytes(sys.stdin.read(), "the program")
        mem = _hex_bytes(args.memory, "the memory")
        vm = conformance_vm(code, bounds_check=not args.no_bounds_check)
        result = vm.run(mem)
    except LibbpfError as exc:
        print(exc.strerror)
        return 1
    print(f"{result:x}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
