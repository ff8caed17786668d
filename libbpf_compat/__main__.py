"""Command line: ``python -m libbpf_compat [--include] [example|demo|asm|disasm|run|verify] ...``.

With no command it runs the main job: the XDP firewall example over the
capture shipped with it (``example xdp_firewall`` with no arguments)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from libbpf_compat import isa
from libbpf_compat.errors import LibbpfError
from libbpf_compat.example_tools import EXAMPLES, MAIN_EXAMPLE
from libbpf_compat.vm import Vm


def _read_code(path: str) -> bytes:
    data = Path(path).read_bytes() if path != "-" else sys.stdin.buffer.read()
    try:  # hex text is accepted as well as raw bytes
        return bytes.fromhex(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return data


def _verify(args: argparse.Namespace) -> int:
    from libbpf_compat.elf.log import libbpf_set_print
    from libbpf_compat.uapi import BpfProgType
    from libbpf_compat.verify import verify_object

    default_type = None
    if args.type:
        try:
            default_type = int(BpfProgType["BPF_PROG_TYPE_" + args.type.upper()])
        except KeyError:
            raise LibbpfError(22, f"unknown program type {args.type!r}") from None
    previous = libbpf_set_print(None)
    try:
        report = verify_object(args.file, section=args.section, program=args.program,
                               log_level=max(args.log_level, 1), abi=args.abi,
                               default_type=default_type)
    finally:
        libbpf_set_print(previous)
    print(report)
    for p in report.programs:
        if args.log_level >= 2 or (args.log_level == 1 and not p.ok):
            print(f"--- log of {p.name} ---\n{p.log}", end="")
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="libbpf-compat", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    p_ex = sub.add_parser("example", help="run an example tool (with no command: the XDP "
                                          "firewall on its shipped capture)")
    p_ex.add_argument("name", choices=sorted(EXAMPLES))
    p_ex.add_argument("args", nargs=argparse.REMAINDER, help="the example's own arguments")
    sub.add_parser("demo", help="assemble, disassemble and run a small program")
    p_asm = sub.add_parser("asm", help="assemble a file ('-' for stdin); prints hex")
    p_dis = sub.add_parser("disasm", help="disassemble raw or hex bytecode")
    p_run = sub.add_parser("run", help="run raw or hex bytecode on memory given in hex")
    for p in (p_asm, p_dis):
        p.add_argument("--syntax", choices=["conformance", "kernel"], default="conformance")
    for p in (p_asm, p_dis, p_run):
        p.add_argument("file")
    p_run.add_argument("--mem", default="", help="memory for r1/r2, as hex")
    p_run.add_argument("--bounds-check", action="store_true")
    p_verify = sub.add_parser("verify", help="verify the programs of an object file; exit "
                                             "status 1 when one is rejected")
    p_verify.add_argument("file")
    p_verify.add_argument("--section", help="only the programs of this section")
    p_verify.add_argument("--program", help="only the program of this name")
    p_verify.add_argument("--abi", choices=["linux", "windows"], help="the object's ABI "
                                                                      "(default: detect)")
    p_verify.add_argument("--type", help="program type of programs whose section names "
                                         "none (libbpf's name: xdp, sched_cls, kprobe, …)")
    p_verify.add_argument("--log-level", type=int, default=0, choices=[0, 1, 2],
                          help="1: print the log of rejected programs; 2: every program's "
                               "log with the state at each instruction")
    parser.add_argument("--include", action="store_true",
                        help="print the directory of the BPF C headers (for clang -I) and exit")
    args = parser.parse_args(argv)
    if args.include:
        from libbpf_compat.include_gen import INCLUDE_DIR

        print(INCLUDE_DIR)
        return 0
    try:
        if args.command == "asm":
            text = Path(args.file).read_text() if args.file != "-" else sys.stdin.read()
            print(isa.assemble(text, syntax=args.syntax).hex())
        elif args.command == "disasm":
            print(isa.disassemble(_read_code(args.file), syntax=args.syntax))
        elif args.command == "verify":
            return _verify(args)
        elif args.command == "run":
            vm = Vm(_read_code(args.file), bounds_check=args.bounds_check)
            print(f"{vm.run(bytes.fromhex(args.mem)):#x}")
        elif args.command == "demo":
            from libbpf_compat.demo import main as demo

            return demo()
        else:
            from libbpf_compat import example_tools

            if args.command == "example":
                return example_tools.run(args.name, args.args)
            return example_tools.run(MAIN_EXAMPLE, [])
    except LibbpfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
