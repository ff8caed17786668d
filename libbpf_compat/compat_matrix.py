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

from libbpf_compat import isa, libbpf
from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.helpers.c_decls import C_DECLS
from libbpf_compat.helpers.ids import HELPER_IDS
from libbpf_compat.helpers.native import C_HELPER_NAMES
from libbpf_compat.helpers.prototypes import PROG_TYPE_RULES
from libbpf_compat.hooks import sock_addr
from libbpf_compat.isa import forms as fm
from libbpf_compat.mapstore import SUPPORTED_MAP_TYPES
from libbpf_compat.sections import SECTION_DEFS, libbpf_bpf_prog_type_str
from libbpf_compat.test_run import TEST_RUN_PROG_TYPES
from libbpf_compat.uapi import BpfMapType, BpfProgType
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


def _objects(linux: bool, windows: bool) -> str:
    """Which objects something runs for, by the ABIs that have it."""
    if linux and windows:
        return "Linux and eBPF-for-Windows objects"
    return "Linux objects" if linux else "eBPF-for-Windows objects"


def _prog_type_name(prog_type: int) -> str:
    return libbpf_bpf_prog_type_str(prog_type) or str(prog_type)


def _helper_prog_types(internal: int) -> str:
    """The program types that may call a helper (helpers.prototypes' rules)."""
    only, denied = PROG_TYPE_RULES.get(internal, (None, frozenset()))
    if only is not None:
        return ", ".join(sorted(_prog_type_name(t) for t in only))
    if denied:
        return "all but " + ", ".join(sorted(_prog_type_name(t) for t in denied))
    return "all"


def _helper_rows() -> Iterable[str]:
    """Every helper eBPF for Windows defines, the project's headers declare
    or the project implements, by the name C programs call it, with both
    IDs, the program types that may call it and which objects it runs for
    (those whose ABI numbers it)."""
    implemented = set(C_HELPER_NAMES)
    listed = implemented | set(C_DECLS)
    for helper in HELPER_IDS:
        if helper.windows is None and helper.name not in listed:
            continue
        linux = "-" if helper.linux is None else str(helper.linux)
        if helper.windows is None:
            windows = "-"
        elif helper.windows_prog_type is not None:
            windows = (f"{helper.windows:#x} (program type {helper.windows_prog_type}, "
                       f"{_prog_type_name(windows_abi.PROG_TYPES[helper.windows_prog_type])})")
        else:
            windows = str(helper.windows)
        status = "missing"
        if helper.name in implemented:
            status = ("implemented (C), runs for "
                      + _objects(helper.linux is not None, helper.windows is not None))
        yield (f"| {helper.c_name} | {linux} | {windows} | "
               f"{_helper_prog_types(helper.internal)} | {status} |")


#: How a supported map type differs from Linux's, where it does.
MAP_TYPE_NOTES = {
    BpfMapType.BPF_MAP_TYPE_LRU_HASH: "evicts one element at a time (Linux evicts in batches)",
    BpfMapType.BPF_MAP_TYPE_LRU_PERCPU_HASH: "evicts one element at a time",
    BpfMapType.BPF_MAP_TYPE_BLOOM_FILTER: "other hash functions: other false positives",
    BpfMapType.BPF_MAP_TYPE_RINGBUF: "no record wraps the ring end (a discarded filler "
                                     "record precedes it); consumers poll",
    BpfMapType.BPF_MAP_TYPE_HASH: "iteration order differs (other hash function)",
    BpfMapType.BPF_MAP_TYPE_PERF_EVENT_ARRAY: "samples come from programs only (no hardware "
                                              "perf events); consumers poll; not pinnable",
    BpfMapType.BPF_MAP_TYPE_PROG_ARRAY: "a failed tail call returns -ENOENT/-E2BIG (Linux "
                                        "leaves r0 undefined); not pinnable",
    BpfMapType.BPF_MAP_TYPE_ARRAY_OF_MAPS: "not pinnable; replaced inner maps live until the "
                                           "outer map is freed",
    BpfMapType.BPF_MAP_TYPE_HASH_OF_MAPS: "not pinnable; replaced inner maps live until the "
                                          "outer map is freed",
    BpfMapType.BPF_MAP_TYPE_LPM_TRIE: "its node pool is preallocated, so a huge max_entries "
                                      "fails with ENOMEM",
    BpfMapType.BPF_MAP_TYPE_PERCPU_ARRAY: "pinned per-CPU maps: CPU slots are per process",
    BpfMapType.BPF_MAP_TYPE_PERCPU_HASH: "pinned per-CPU maps: CPU slots are per process",
}


def _map_type_rows() -> Iterable[str]:
    windows_number = {internal: number for number, internal in windows_abi.MAP_TYPES.items()}
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


#: libbpf API names eBPF for Windows exports (shared/reference/ABI.md).
WINDOWS_LIBBPF_API = (  # noqa: SIM905 - a word list reads best
    "bpf_map_create bpf_map_lookup_elem bpf_map_update_elem bpf_map_delete_elem "
    "bpf_map_lookup_and_delete_elem bpf_map_get_next_key bpf_map_lookup_batch "
    "bpf_map_update_batch bpf_map_delete_batch bpf_map_lookup_and_delete_batch "
    "bpf_map_get_fd_by_id bpf_map_get_next_id bpf_prog_get_fd_by_id bpf_prog_get_next_id "
    "bpf_link_get_fd_by_id bpf_link_get_next_id bpf_obj_get bpf_obj_pin bpf_obj_get_info_by_fd "
    "bpf_prog_load bpf_prog_attach bpf_prog_detach bpf_prog_detach2 bpf_link_detach "
    "bpf_prog_bind_map bpf_prog_test_run_opts bpf_xdp_attach bpf_xdp_detach bpf_xdp_query_id "
    "bpf_object__open bpf_object__open_file bpf_object__open_mem bpf_object__load "
    "bpf_object__close bpf_object__name bpf_object__next_map bpf_object__next_program "
    "bpf_object__find_map_by_name bpf_object__find_map_fd_by_name "
    "bpf_object__find_program_by_name bpf_object__pin bpf_object__pin_maps "
    "bpf_object__unpin_maps bpf_object__pin_programs bpf_object__unpin_programs "
    "bpf_program__attach bpf_program__attach_xdp bpf_program__autoload "
    "bpf_program__set_autoload bpf_program__fd bpf_program__flags bpf_program__set_flags "
    "bpf_program__expected_attach_type bpf_program__set_expected_attach_type "
    "bpf_program__type bpf_program__set_type bpf_program__insn_cnt bpf_program__log_buf "
    "bpf_program__name bpf_program__section_name bpf_program__pin bpf_program__unpin "
    "bpf_map__fd bpf_map__is_pinned bpf_map__key_size bpf_map__value_size "
    "bpf_map__max_entries bpf_map__name bpf_map__type bpf_map__pin bpf_map__unpin "
    "bpf_link__destroy bpf_link__disconnect bpf_link__fd bpf_link__open bpf_link__pin "
    "bpf_link__unpin libbpf_attach_type_by_name libbpf_prog_type_by_name "
    "libbpf_bpf_attach_type_str libbpf_bpf_link_type_str libbpf_bpf_map_type_str "
    "libbpf_bpf_prog_type_str libbpf_get_error libbpf_num_possible_cpus libbpf_strerror "
    "ring_buffer__new ring_buffer__add ring_buffer__poll ring_buffer__consume "
    "ring_buffer__free perf_buffer__new perf_buffer__poll perf_buffer__consume "
    "perf_buffer__consume_buffer perf_buffer__buffer_cnt perf_buffer__free"
).split()

#: Linux libbpf names real tools use that eBPF for Windows lacks (ABI.md).
LINUX_LIBBPF_API = (  # noqa: SIM905 - a word list reads best
    "bpf_program__attach_cgroup bpf_link_create bpf_map__set_max_entries "
    "bpf_map__set_value_size bpf_map__set_inner_map_fd bpf_map__set_pin_path "
    "bpf_map__lookup_elem bpf_map__update_elem bpf_map__delete_elem bpf_map__get_next_key "
    "bpf_program__attach_tracepoint bpf_program__attach_kprobe bpf_program__attach_uprobe "
    "libbpf_set_print"
).split()


def _api_rows() -> Iterable[str]:
    implemented = set(libbpf.__all__)
    names = sorted(set(WINDOWS_LIBBPF_API) | set(LINUX_LIBBPF_API)
                   | {n for n in implemented if not n[0].isupper()})
    windows = set(WINDOWS_LIBBPF_API)
    for name in names:
        status = "implemented" if name in implemented else "missing"
        yield f"| {name} | yes | {'yes' if name in windows else 'no'} | {status} |"


_TRACING_ATTACH = ("; ctx read-only (writes fail at load with EACCES); fired by the "
                   "simulated event sources of hooks.tracing")
#: Program types with a hook of their own (hooks.skb, hooks.tracing, hooks.registry).
_HOOK_STATUS = {
    BpfProgType.BPF_PROG_TYPE_SOCKET_FILTER: (
        "partly supported: struct __sk_buff rewritten to the native skb context with "
        "Linux's access rules; socket filter hook (bytes to keep / drop); "
        "bpf_prog_test_run_opts as the kernel's (checked against it); LD_ABS/LD_IND"),
    BpfProgType.BPF_PROG_TYPE_SCHED_CLS: (
        "partly supported: struct __sk_buff with direct packet access; tc (tcx) ingress/egress "
        "hook with TC_ACT verdicts, packet and field changes (bpf_program__attach_tcx, "
        "bpf_prog_attach); bpf_prog_test_run_opts as the kernel's (checked against it); the "
        "skb helpers (skb_load_bytes / _store_bytes, l3/l4_csum_replace, skb_change_tail / "
        "_head / _proto / _type, bpf_redirect)"),
    BpfProgType.BPF_PROG_TYPE_CGROUP_SKB: (
        "partly supported: struct __sk_buff (read-only packet); cgroup_skb ingress/egress "
        "hook (allow/drop, congestion notification; bpf_program__attach_cgroup, "
        "bpf_prog_attach); bpf_prog_test_run_opts as the kernel's (checked against it)"),
    BpfProgType.BPF_PROG_TYPE_KPROBE: (
        "partly supported: struct pt_regs (x86-64); kprobe/kretprobe/uprobe/uretprobe "
        "sources (bpf_program__attach_kprobe / _uprobe, auto-attach by section); test_run "
        "ENOTSUPP as Linux" + _TRACING_ATTACH),
    BpfProgType.BPF_PROG_TYPE_TRACEPOINT: (
        "partly supported: raw record bytes (reads past the record refused at attach); "
        "bpf_program__attach_tracepoint and auto-attach; test_run ENOTSUPP as Linux"
        + _TRACING_ATTACH),
    BpfProgType.BPF_PROG_TYPE_RAW_TRACEPOINT: (
        "partly supported: u64 args[] (reads past the arguments refused at attach); "
        "bpf_program__attach_raw_tracepoint and auto-attach; bpf_prog_test_run_opts with "
        "ctx_in as the kernel's (checked against it)" + _TRACING_ATTACH),
    BpfProgType.BPF_PROG_TYPE_PERF_EVENT: (
        "partly supported: struct bpf_perf_event_data; bpf_program__attach_perf_event to a "
        "simulated perf event; test_run ENOTSUPP as Linux" + _TRACING_ATTACH),
    windows_abi.INTERNAL_PROG_SAMPLE: (
        "partly supported: sample_program_context_t (data region, uint32_data, uint16_data, "
        "pid_tgid); its hook (bpf_program__attach) and bpf_prog_test_run_opts; the sample "
        "extension's helpers (sample_ebpf_extension_helper_function1, _find, _replace)"),
}


def _prog_type_rows() -> Iterable[str]:
    sections: dict[int, list[str]] = {}
    for d in SECTION_DEFS:
        sections.setdefault(d.prog_type, []).append(d.pattern)
    windows_number = {internal: number for number, internal in windows_abi.PROG_TYPES.items()}
    for prog_type, patterns in sorted(sections.items()):
        name = libbpf_bpf_prog_type_str(prog_type) or str(prog_type)
        linux = "-" if prog_type >= windows_abi.WINDOWS_ONLY_BASE else str(prog_type)
        win = windows_number.get(prog_type)
        if prog_type == BpfProgType.BPF_PROG_TYPE_XDP:
            status = ("partly supported: loads, runs through bpf_prog_test_run_opts and on the "
                      "XDP hook (attach via bpf_program__attach_xdp / bpf_xdp_attach)")
        elif prog_type == BpfProgType.BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
            status = ("partly supported: loads and runs on the sock_addr hook's attach points "
                      "(connect and bind for both ABIs; recv_accept, connect_authorization and "
                      "listen for eBPF-for-Windows objects; sendmsg and recvmsg for Linux "
                      "objects -- see Hooks; attach via bpf_program__attach_cgroup, or "
                      "bpf_program__attach for eBPF-for-Windows objects) and through "
                      "bpf_prog_test_run_opts")
        elif prog_type == windows_abi.INTERNAL_PROG_BIND:
            status = ("partly supported: loads and runs on the bind hook (attach via "
                      "bpf_program__attach) and through bpf_prog_test_run_opts")
        elif prog_type == BpfProgType.BPF_PROG_TYPE_SOCK_OPS:
            status = ("partly supported: loads and runs on the sock_ops hook (established and "
                      "deleted connections, op codes in the program's ABI numbering, Linux's "
                      "TCP fields from the host's stats; attach "
                      "via bpf_program__attach_cgroup, or bpf_program__attach for "
                      "eBPF-for-Windows objects) and through bpf_prog_test_run_opts")
        elif prog_type == windows_abi.INTERNAL_PROG_PROCESS:
            status = ("partly supported: loads and runs on the process hook (creation and "
                      "deletion; attach via bpf_program__attach) and through "
                      "bpf_prog_test_run_opts")
        elif prog_type in _HOOK_STATUS:
            status = _HOOK_STATUS[prog_type]
        elif prog_type in TEST_RUN_PROG_TYPES:
            status = "partly supported: loads and runs through bpf_prog_test_run_opts; no hook"
        else:
            status = "partly supported: loads (maps, globals, CO-RE); no hook or test_run"
        shown = ", ".join(f"`{p}`" for p in patterns[:4]) + (" …" if len(patterns) > 4 else "")
        objects = _objects(linux != "-", win is not None)
        yield (f"| {name} | {linux} | {'-' if win is None else win} | {shown} | {objects} | "
               f"{status} |")


#: The hooks a host invokes: (hook, what attaches, Linux objects, eBPF-for-Windows
#: objects, how return values are read). sock_addr's attach points come from
#: the hook's own table.
_HOOKS = (
    ("XDP (hooks.xdp)", "interfaces: bpf_program__attach_xdp, bpf_xdp_attach", True, True,
     "Linux ABORTED 0 / DROP 1 / PASS 2 / TX 3 / REDIRECT 4 and Windows PASS 1 / DROP 2 / "
     "TX 3 each in its own numbering; packets one by one or in batches"),
    ("bind (hooks.bind)", "bpf_program__attach", False, True,
     "PERMIT_SOFT 0, DENY 1, REDIRECT 2, PERMIT_HARD 3"),
    ("sock_ops (hooks.sock_ops)", "bpf_program__attach_cgroup, bpf_program__attach", True,
     True, "no verdict: every program runs; op codes in the program's numbering"),
    ("process (hooks.process)", "bpf_program__attach", False, True,
     "0 permits a creation, anything else denies it"),
    ("socket filter (hooks.skb)", "SocketFilterHook.attach (as SO_ATTACH_BPF)", True, False,
     "bytes of the packet to keep (0 drops)"),
    ("tc / tcx (hooks.skb)", "bpf_program__attach_tcx, bpf_prog_attach", True, False,
     "TC_ACT_* (redirect included)"),
    ("cgroup_skb (hooks.skb)", "bpf_program__attach_cgroup, bpf_prog_attach", True, False,
     "1 allows, 0 drops (bit 1: congestion notification)"),
    ("kprobe / uprobe, tracepoint, raw tracepoint, perf event (hooks.tracing)",
     "bpf_program__attach_kprobe / _uprobe / _tracepoint / _raw_tracepoint / _perf_event",
     True, False, "return values reported; events from simulated sources"),
    ("SAMPLE (hooks.registry)", "bpf_program__attach", False, True,
     "the programs' return values"),
    ("host-registered program types (hooks.registry)", "bpf_program__attach", False, True,
     "the host's verdict function; Linux objects too for sections registered with "
     "windows_only=False"),
)


def _hook_rows() -> Iterable[str]:
    windows_attach = {internal for _, internal in windows_abi.ATTACH_TYPES.values()}
    for hook, attach, linux, win, verdicts in _HOOKS:
        yield f"| {hook} | {attach} | {_objects(linux, win)} | {verdicts} |"
        if hook.startswith("XDP"):
            for kind, point in sock_addr.ATTACH_POINTS.items():
                linux_too, win_too = kind < windows_abi.WINDOWS_ONLY_BASE, kind in windows_attach
                how = " / ".join(what for what, ok in (
                    ("bpf_program__attach_cgroup (Linux)", linux_too),
                    ("bpf_program__attach (eBPF for Windows)", win_too)) if ok)
                yield (f"| sock_addr {point.name} (hooks.sock_addr) | {how} | "
                       f"{_objects(linux_too, win_too)} | Linux 1 allows, 0 rejects; Windows "
                       "PROCEED_SOFT 1, PROCEED_HARD 2 (ends the run), REJECT 0 |")


#: (area, Linux, eBPF for Windows, what is missing)
PLANNED = [
    ("hooks for the other Linux program types", "missing", "-",
     "cgroup_sock, lwt_*, sk_skb, sk_msg, sk_lookup, flow_dissector, cgroup_sysctl, "
     "cgroup_sockopt, tracing (fentry/fexit), lsm, struct_ops, netfilter … load but have "
     "no hook (every eBPF-for-Windows program type has one, see Hooks)"),
    ("verifier", "partly", "partly",
     "every program is verified at load (EACCES with a log) and verified programs run "
     "unchecked, as JIT code on x86-64 (bpf_loop and bpf_for_each_map_elem callbacks "
     "and bpf_spin_lock pairing included); every loop must be proven to end (a "
     "register or stack slot moving by a known step towards a bound, at most 100000 "
     "times per loop head)"),
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
        "declare or implements, by the name BPF C programs call it; IDs are each platform's "
        "own, and a program reaches a helper only by its own ABI's ID (so a helper runs for "
        "the objects of the ABIs that number it). \"implemented (C)\" means a C "
        "implementation runs in the VM, registered for every loaded program "
        "(`libbpf_compat.helpers.native.register_c_helpers`); the program types column is "
        "who may call it (a call from another type fails the load with EINVAL). Hosts add "
        "their own with `libbpf_compat.register_helper` (loaded programs, with a prototype "
        "and allowed program types) or `Vm.register_helper` / `register_native_helper` "
        "(one VM).",
        "",
        "| helper | Linux ID | Windows ID | program types | status |",
        "|---|---|---|---|---|",
        *_helper_rows(),
        "",
        "## libbpf API",
        "",
        "Every libbpf function eBPF for Windows exports, the Linux-only ones tools commonly "
        "use, and every libbpf-named function this project provides "
        "(`libbpf_compat.libbpf` re-exports them all).",
        "",
        "| function | Linux libbpf | eBPF for Windows | status |",
        "|---|---|---|---|",
        *_api_rows(),
        "",
        "## Program types",
        "",
        "Program types the object loader knows by section name (libbpf's table and the "
        "eBPF-for-Windows names), with each platform's number. XDP, bind, sock_addr, "
        "sock_ops, process, skb (socket filter, tc, cgroup_skb), tracing and SAMPLE "
        "programs of either ABI have their context accesses rewritten to their hook's "
        "native context. Hosts add program types with `register_program_type`.",
        "",
        "| program type | Linux | Windows | sections | objects | status |",
        "|---|---|---|---|---|---|",
        *_prog_type_rows(),
        "",
        "## Hooks",
        "",
        "The hooks a host invokes from Python, which objects' programs run on them (a "
        "program's ABI is detected per object or forced with the `abi` open option; its "
        "context accesses and return values are translated to the hook's) and how return "
        "values are read.",
        "",
        "| hook | attach | objects | return values |",
        "|---|---|---|---|",
        *_hook_rows(),
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
        *(f"| {area} | {linux} | {win} | {why} |" for area, linux, win, why in PLANNED),
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
