"""compat_matrix.md, generated from the project's own registries.

    python -m libbpf_compat.compat_matrix          # print it
    python -m libbpf_compat.compat_matrix --write  # rewrite compat_matrix.md

The instruction-set table comes from the ISA form catalogue, and each row's
interpreter status from loading a sample of the form in the VM, so the table
says what the code does. tests/test_compat_matrix.py checks the committed
file is current.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from libbpf_compat import isa
from libbpf_compat.abi import windows
from libbpf_compat.helpers.c_decls import C_DECLS
from libbpf_compat.helpers.ids import HELPER_IDS
from libbpf_compat.helpers.native import C_HELPER_NAMES
from libbpf_compat.isa import forms as fm
from libbpf_compat.mapstore import SUPPORTED_MAP_TYPES
from libbpf_compat.uapi import BpfMapType
from libbpf_compat.vm import Vm, VmError

MATRIX = Path(__file__).resolve().parent.parent / "compat_matrix.md"

#: Operand values for a sample of each form; jumps and calls target the exit after it.
SAMPLE_OPERANDS = {"dst": 1, "src": 2, "off": 4, "imm": 3, "imm_hi": 0, "imm64": 5,
                   "target_off": 0, "target_imm": 0}

GROUP_TITLES = {
    fm.ALU: "ALU and ALU64 arithmetic (immediate and register; sdiv/smod)",
    fm.NEG: "negation",
    fm.MOVSX: "sign-extending moves (movsx)",
    fm.END: "byte swaps (le, be, bswap)",
    fm.LDDW: "64-bit immediate load (lddw) and its pseudo sources",
    fm.LDABS: "legacy packet loads, absolute (LD_ABS)",
    fm.LDIND: "legacy packet loads, indirect (LD_IND)",
    fm.LDX: "memory loads (zero- and sign-extending)",
    fm.ST: "stores of an immediate",
    fm.STX: "stores of a register",
    fm.ATOMIC: "atomics (add/or/and/xor, fetch, xchg, cmpxchg)",
    fm.JA: "unconditional jumps (ja, ja32/gotol)",
    fm.JCOND: "conditional jumps (JMP and JMP32, immediate and register)",
    fm.CALL: "calls (helper, local, kfunc)",
    fm.CALLX: "callx (helper id in a register)",
    fm.EXIT: "exit",
}


def sample_program(form: isa.Form) -> list[isa.Instruction]:
    """An instance of ``form`` followed by exit."""
    return [form.build(SAMPLE_OPERANDS), isa.Instruction(0x95)]


def interpreter_status(form: isa.Form) -> str:
    """What the VM does with the form: executes it, or why it refuses it."""
    if form.nonstandard:
        return f"refused: not RFC 9669 ({form.nonstandard})"
    try:
        Vm(isa.encode(sample_program(form)))
    except VmError as exc:
        reason = str(exc.strerror).split(": ", 1)[-1]
        if "pseudo source" in reason:
            return "needs the object loader (map/BTF reference; the raw VM refuses it)"
        return f"refused: {reason}"
    if form.group == fm.CALL and form.op != "local":
        return "executes (helper or kfunc registered by the host)"
    return "executes"


def _isa_rows() -> Iterable[str]:
    rows: dict[tuple[str, str], list[isa.Form]] = {}
    for form in isa.FORMS:
        rows.setdefault((form.group, interpreter_status(form)), []).append(form)
    for (group, status), forms in rows.items():
        spellings = ", ".join(
            f"`{isa.disassemble_instruction(sample_program(f)[0], 'conformance')}`"
            if f.group in (fm.LDDW, fm.CALL) else f"`{f.name}`" for f in forms)
        yield f"| {GROUP_TITLES[group]} | {len(forms)} | {spellings} | {status} |"


def _helper_rows() -> Iterable[str]:
    """Every helper eBPF for Windows defines, the project's headers declare
    or the project implements, with both IDs and whether it is implemented."""
    implemented = set(C_HELPER_NAMES)
    listed = implemented | set(C_DECLS)
    for helper in HELPER_IDS:
        if helper.windows is None and helper.name not in listed:
            continue
        linux = "-" if helper.linux is None else str(helper.linux)
        if helper.windows is None:
            windows = "-"
        elif helper.windows_prog_type is not None:
            windows = f"{helper.windows:#x} (program type {helper.windows_prog_type})"
        else:
            windows = str(helper.windows)
        status = "implemented (C)" if helper.name in implemented else "missing"
        yield f"| bpf_{helper.name} | {linux} | {windows} | {status} |"


#: How a supported map type differs from Linux's, where it does.
MAP_TYPE_NOTES = {
    BpfMapType.BPF_MAP_TYPE_LRU_HASH: "evicts one element at a time (Linux evicts in batches)",
    BpfMapType.BPF_MAP_TYPE_LRU_PERCPU_HASH: "evicts one element at a time",
    BpfMapType.BPF_MAP_TYPE_BLOOM_FILTER: "other hash functions: other false positives",
    BpfMapType.BPF_MAP_TYPE_RINGBUF: "no record wraps the ring end (a discarded filler "
                                     "record precedes it); consumers poll",
    BpfMapType.BPF_MAP_TYPE_HASH: "iteration order differs (other hash function)",
}


def _map_type_rows() -> Iterable[str]:
    windows_number = {internal: number for number, internal in windows.MAP_TYPES.items()}
    for map_type in BpfMapType:
        if map_type == BpfMapType.BPF_MAP_TYPE_UNSPEC:
            continue
        supported = map_type in SUPPORTED_MAP_TYPES
        if not supported and map_type not in windows_number:
            continue
        win = windows_number.get(map_type)
        status = "missing"
        if supported:
            note = MAP_TYPE_NOTES.get(map_type)
            status = f"partly supported: {note}" if note else "supported"
        yield f"| {map_type.name} | {int(map_type)} | {'-' if win is None else win} | {status} |"


PLANNED = [
    ("libbpf API functions", "the object API (bpf_object__*, bpf_program__*, bpf_map__*) "
     "arrives with the object-loader issue, the fd-based map API with the map-store issue, "
     "links, test_run and ring/perf buffers with the runtime issue"),
    ("program types and hooks", "none yet: the runtime issue adds XDP, bind, sock_addr, "
     "sock_ops, process and the Linux counterparts"),
]


def render() -> str:
    lines = [
        "# Compatibility matrix",
        "",
        "Generated by `python -m libbpf_compat.compat_matrix --write` from the project's "
        "registries; `tests/test_compat_matrix.py` fails when it is stale.",
        "",
        "## Instruction set (RFC 9669), Linux and eBPF for Windows alike",
        "",
        "Every form is encoded, decoded, validated and spelled in both assembler syntaxes "
        "(`conformance` and `kernel`). The interpreter column is what the VM does with a "
        "sample of the form.",
        "",
        "| instructions | forms | spellings | interpreter |",
        "|---|---|---|---|",
        *_isa_rows(),
        "",
        "## Helpers",
        "",
        "Every helper eBPF for Windows defines and every Linux helper the project's headers "
        "declare or implements; IDs are each platform's own. \"implemented (C)\" means a C "
        "implementation runs in the VM (`libbpf_compat.helpers.native.register_c_helpers`); "
        "wiring helpers to loaded objects and hooks, with ABI renumbering, comes with the "
        "runtime issue. Hosts add their own with `Vm.register_helper` / "
        "`register_native_helper`.",
        "",
        "| helper | Linux ID | Windows ID | status |",
        "|---|---|---|---|",
        *_helper_rows(),
        "",
        "## Map types",
        "",
        "Every map type eBPF for Windows has, and every type the map store implements "
        "(numbers are each platform's own). Supported types behave as Linux's, errno for "
        "errno (tests/test_map_kernel_diff.py compares them with this machine's kernel).",
        "",
        "| map type | Linux | Windows | status |",
        "|---|---|---|---|",
        *_map_type_rows(),
        "",
        "## Not yet provided",
        "",
        "| area | Linux | eBPF for Windows | status |",
        "|---|---|---|---|",
        *(f"| {area} | missing | missing | {why} |" for area, why in PLANNED),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print or rewrite compat_matrix.md.")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        MATRIX.write_text(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
