"""Hook context layouts: what a program of each ABI sees as its context,
and the native context the runtime builds for the hook. A program's context
loads are rewritten at load from its ABI's layout to the native one (as the
Linux kernel rewrites ``struct xdp_md`` loads into pointer loads)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.btf import Btf
from libbpf_compat.uapi import BpfProgType as P

#: Raw BTF of the internal ABI's hook context types (context_types.c).
CONTEXT_TYPES_BTF = Path(__file__).with_name("context_types.btf")


@cache
def context_types_btf() -> Btf:
    """The BTF of the hook context types: the default CO-RE target."""
    return Btf.from_file(CONTEXT_TYPES_BTF)


@dataclass(frozen=True)
class CtxField:
    """One field of a context layout. ``pointer`` fields hold addresses
    (the native layout stores them as 64-bit values)."""

    name: str
    offset: int
    size: int
    pointer: bool = False
    writable: bool = False


@dataclass(frozen=True)
class CtxLayout:
    """A context's name, size and fields. ``packet`` names the two pointer fields
    bounding its data region (start, end) when the names alone do not say it: None
    means every pointer field loads a packet pointer (``*_end`` the end, ``*meta*``
    the metadata start)."""

    name: str
    size: int
    fields: tuple[CtxField, ...]
    packet: tuple[str, ...] | None = None

    def field(self, name: str) -> CtxField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def field_at(self, offset: int, size: int) -> tuple[CtxField, int] | None:
        """The field an access of ``size`` bytes at ``offset`` falls in, and
        the offset within it; None when it straddles fields or hits padding."""
        for f in self.fields:
            if f.offset <= offset and offset + size <= f.offset + f.size:
                return f, offset - f.offset
        return None


#: The native XDP context the runtime builds: the eBPF-for-Windows layout
#: (pointers first), extended with Linux's queue fields.
XDP_NATIVE = CtxLayout("lbc_xdp_ctx", 40, (
    CtxField("data", 0, 8, pointer=True),
    CtxField("data_end", 8, 8, pointer=True),
    CtxField("data_meta", 16, 8, pointer=True),
    CtxField("ingress_ifindex", 24, 4),
    CtxField("rx_queue_index", 28, 4),
    CtxField("egress_ifindex", 32, 4),
))

#: Linux ``struct xdp_md``: 32-bit fields the kernel turns into pointers.
XDP_LINUX = CtxLayout("struct xdp_md", 24, (
    CtxField("data", 0, 4, pointer=True),
    CtxField("data_end", 4, 4, pointer=True),
    CtxField("data_meta", 8, 4, pointer=True),
    CtxField("ingress_ifindex", 12, 4),
    CtxField("rx_queue_index", 16, 4),
    CtxField("egress_ifindex", 20, 4),
))

#: eBPF for Windows ``xdp_md_t`` (ABI.md): already the native layout's prefix.
XDP_WINDOWS = CtxLayout("xdp_md_t", 32, (
    CtxField("data", 0, 8, pointer=True),
    CtxField("data_end", 8, 8, pointer=True),
    CtxField("data_meta", 16, 8, pointer=True),
    CtxField("ingress_ifindex", 24, 4),
))

#: eBPF for Windows ``bind_md_t`` (ABI.md): app_id_start / app_id_end bound
#: the application id, a read-only packet-like region; the program may
#: rewrite socket_address (with the REDIRECT verdict).
BIND_WINDOWS = CtxLayout("bind_md_t", 56, (
    CtxField("app_id_start", 0, 8, pointer=True),
    CtxField("app_id_end", 8, 8, pointer=True),
    CtxField("process_id", 16, 8),
    CtxField("socket_address", 24, 16, writable=True),
    CtxField("socket_address_length", 40, 1),
    CtxField("operation", 44, 4),
    CtxField("protocol", 48, 1),
))

#: The native bind context: the eBPF-for-Windows layout itself (bind is a
#: Windows-only hook). A separate name so that accesses are still checked.
BIND_NATIVE = CtxLayout("lbc_bind_ctx", 56, BIND_WINDOWS.fields)

#: The native sock_addr context: every field either ABI has, each once.
#: user_ip4 and user_ip6 share storage (as Windows' union and the kernel's
#: sockaddr do), so do msg_src_ip4 and msg_src_ip6. Ports are u32 holding a
#: network-order u16 in their low bytes. Families are the address family in
#: the program's ABI numbering (the hook fills them per program).
SOCK_ADDR_NATIVE = CtxLayout("lbc_sock_addr_ctx", 72, (
    CtxField("user_family", 0, 4),
    CtxField("family", 4, 4),
    CtxField("user_ip4", 8, 4, writable=True),
    CtxField("user_ip6", 8, 16, writable=True),
    CtxField("user_port", 24, 4, writable=True),
    CtxField("type", 28, 4),
    CtxField("protocol", 32, 4),
    CtxField("msg_src_ip4", 36, 4, writable=True),
    CtxField("msg_src_ip6", 36, 16, writable=True),
    CtxField("msg_src_port", 52, 4),
    CtxField("compartment_id", 56, 4),
    CtxField("interface_luid", 64, 8),
))

#: Linux ``struct bpf_sock_addr`` (ABI.md). Writable as the kernel allows:
#: the user address and port (connect, bind, sendmsg, recvmsg) and the
#: sendmsg source address. ``sk`` is not offered by this hook.
SOCK_ADDR_LINUX = CtxLayout("struct bpf_sock_addr", 72, (
    CtxField("user_family", 0, 4),
    CtxField("user_ip4", 4, 4, writable=True),
    CtxField("user_ip6", 8, 16, writable=True),
    CtxField("user_port", 24, 4, writable=True),
    CtxField("family", 28, 4),
    CtxField("type", 32, 4),
    CtxField("protocol", 36, 4),
    CtxField("msg_src_ip4", 40, 4, writable=True),
    CtxField("msg_src_ip6", 44, 16, writable=True),
))

#: eBPF for Windows ``bpf_sock_addr_t`` (ABI.md): unions of the v4 and v6
#: addresses (the v4 member listed first, so 4-byte accesses at the union's
#: start name it); the destination address and port are writable (connect
#: redirection), the rest read-only.
SOCK_ADDR_WINDOWS = CtxLayout("bpf_sock_addr_t", 64, (
    CtxField("family", 0, 4),
    CtxField("msg_src_ip4", 4, 4),
    CtxField("msg_src_ip6", 4, 16),
    CtxField("msg_src_port", 20, 2),
    CtxField("user_ip4", 24, 4, writable=True),
    CtxField("user_ip6", 24, 16, writable=True),
    CtxField("user_port", 40, 2, writable=True),
    CtxField("protocol", 44, 4),
    CtxField("compartment_id", 48, 4),
    CtxField("interface_luid", 56, 8),
))

#: The u32 TCP fields of Linux ``struct bpf_sock_ops`` in its order (``state``, between
#: bpf_sock_ops_cb_flags and rtt_min there, aside): the native context holds them in
#: this order from offset 88, then bytes_received and bytes_acked (u64).
SOCK_OPS_TCP_U32 = (
    "snd_cwnd", "srtt_us", "bpf_sock_ops_cb_flags", "rtt_min", "snd_ssthresh", "rcv_nxt",
    "snd_nxt", "snd_una", "mss_cache", "ecn_flags", "rate_delivered", "rate_interval_us",
    "packets_out", "retrans_out", "total_retrans", "segs_in", "data_segs_in", "segs_out",
    "data_segs_out", "lost_out", "sacked_out", "sk_txhash")

#: The native sock_ops context: every field either ABI has, each once. The
#: v4 and v6 addresses share storage; ports are u32 filled per program as
#: its ABI holds them (Linux: remote_port the network-order u16 in the upper
#: half, local_port in host order; Windows: both the network-order u16 in
#: the low half); ``op`` and ``family`` are in the program's ABI numbering.
#: ``args`` is Linux's args/reply union (the program may write its reply).
SOCK_OPS_NATIVE = CtxLayout("lbc_sock_ops_ctx", 192, (
    CtxField("op", 0, 4),
    CtxField("family", 4, 4),
    CtxField("local_ip4", 8, 4),
    CtxField("local_ip6", 8, 16),
    CtxField("local_port", 24, 4),
    CtxField("remote_ip4", 28, 4),
    CtxField("remote_ip6", 28, 16),
    CtxField("remote_port", 44, 4),
    CtxField("protocol", 48, 4),
    CtxField("compartment_id", 52, 4),
    CtxField("interface_luid", 56, 8),
    CtxField("args", 64, 16, writable=True),
    CtxField("is_fullsock", 80, 4),
    CtxField("state", 84, 4),
    *(CtxField(name, 88 + 4 * i, 4, writable=name == "sk_txhash")
      for i, name in enumerate(SOCK_OPS_TCP_U32)),
    CtxField("bytes_received", 176, 8),
    CtxField("bytes_acked", 184, 8),
))

#: Linux ``struct bpf_sock_ops`` (the fields this hook offers, at the
#: kernel's offsets): op, the args/reply union (writable, as the kernel
#: lets a program write its reply), family, addresses, ports, is_fullsock,
#: state and the TCP fields (what the host's
#: :class:`~libbpf_compat.hooks.sock_ops.TcpStats` says; 0 without them),
#: ``sk_txhash`` writable as in Linux. The pointer fields (sk, skb_data,
#: skb_data_end), skb_len and skb_tcp_flags fail at load.
SOCK_OPS_LINUX = CtxLayout("struct bpf_sock_ops", 216, (
    CtxField("op", 0, 4),
    CtxField("args", 4, 16, writable=True),
    CtxField("family", 20, 4),
    CtxField("remote_ip4", 24, 4),
    CtxField("local_ip4", 28, 4),
    CtxField("remote_ip6", 32, 16),
    CtxField("local_ip6", 48, 16),
    CtxField("remote_port", 64, 4),
    CtxField("local_port", 68, 4),
    CtxField("is_fullsock", 72, 4),
    CtxField("snd_cwnd", 76, 4),
    CtxField("srtt_us", 80, 4),
    CtxField("bpf_sock_ops_cb_flags", 84, 4),
    CtxField("state", 88, 4),
    *(CtxField(name, 92 + 4 * i, 4, writable=name == "sk_txhash")
      for i, name in enumerate(SOCK_OPS_TCP_U32[3:])),
    CtxField("bytes_received", 168, 8),
    CtxField("bytes_acked", 176, 8),
))

#: eBPF for Windows ``bpf_sock_ops_t`` (ABI.md): read-only.
SOCK_OPS_WINDOWS = CtxLayout("bpf_sock_ops_t", 64, (
    CtxField("op", 0, 4),
    CtxField("family", 4, 4),
    CtxField("local_ip4", 8, 4),
    CtxField("local_ip6", 8, 16),
    CtxField("local_port", 24, 4),
    CtxField("remote_ip4", 28, 4),
    CtxField("remote_ip6", 28, 16),
    CtxField("remote_port", 44, 4),
    CtxField("protocol", 48, 1),
    CtxField("compartment_id", 52, 4),
    CtxField("interface_luid", 56, 8),
))

#: eBPF for Windows ``process_md_t`` (ABI.md): command_start / command_end
#: bound the command line, a read-only region.
PROCESS_WINDOWS = CtxLayout("process_md_t", 56, (
    CtxField("command_start", 0, 8, pointer=True),
    CtxField("command_end", 8, 8, pointer=True),
    CtxField("process_id", 16, 8),
    CtxField("parent_process_id", 24, 8),
    CtxField("creating_process_id", 32, 8),
    CtxField("creating_thread_id", 40, 8),
    CtxField("operation", 48, 4),
))

#: The native process context: the Windows layout (a Windows-only hook).
PROCESS_NATIVE = CtxLayout("lbc_process_ctx", 56, PROCESS_WINDOWS.fields)


# The skb program types' contexts (hooks/skb.py runs them) ---------------------------------

#: ``struct __sk_buff`` fields this project offers: (name, offset, size).
_SKB_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("len", 0, 4), ("pkt_type", 4, 4), ("mark", 8, 4), ("queue_mapping", 12, 4),
    ("protocol", 16, 4), ("vlan_present", 20, 4), ("vlan_tci", 24, 4), ("vlan_proto", 28, 4),
    ("priority", 32, 4), ("ingress_ifindex", 36, 4), ("ifindex", 40, 4), ("tc_index", 44, 4),
    ("cb", 48, 20), ("hash", 68, 4), ("tc_classid", 72, 4), ("data", 76, 4),
    ("data_end", 80, 4), ("napi_id", 84, 4), ("family", 88, 4), ("remote_ip4", 92, 4),
    ("local_ip4", 96, 4), ("remote_ip6", 100, 16), ("local_ip6", 116, 16),
    ("remote_port", 132, 4), ("local_port", 136, 4), ("data_meta", 140, 4),
    ("tstamp", 152, 8), ("wire_len", 160, 4), ("gso_segs", 164, 4), ("gso_size", 176, 4),
    ("tstamp_type", 180, 1), ("hwtstamp", 184, 8),
)
_POINTERS = ("data", "data_end", "data_meta")
SKB_SIZE = 192
_NATIVE_POINTER_AT = {"data": 192, "data_end": 200, "data_meta": 208}

#: The native skb context: ``__sk_buff``'s scalar fields at their offsets,
#: the packet pointers as 64-bit values after them.
SKB_NATIVE = CtxLayout("lbc_skb_ctx", 216, tuple(
    CtxField(name, _NATIVE_POINTER_AT[name], 8, pointer=True) if name in _POINTERS
    else CtxField(name, offset, size)
    for name, offset, size in _SKB_FIELDS))


def _skb_layout(hidden: Iterable[str], writable: Iterable[str]) -> CtxLayout:
    hide, write = frozenset(hidden), frozenset(writable)
    return CtxLayout("struct __sk_buff", SKB_SIZE, tuple(
        CtxField(name, offset, size, pointer=name in _POINTERS, writable=name in write)
        for name, offset, size in _SKB_FIELDS if name not in hide))


_SOCKET_FIELDS = ("family", "remote_ip4", "local_ip4", "remote_ip6", "local_ip6",
                  "remote_port", "local_port")
#: ``struct __sk_buff`` as a socket filter may touch it.
SKB_SOCKET_FILTER = _skb_layout(
    ("tc_classid", *_POINTERS, *_SOCKET_FIELDS, "tstamp", "wire_len", "hwtstamp",
     "tstamp_type"), ("cb",))
#: ``struct __sk_buff`` as a tc (SCHED_CLS) program may touch it.
SKB_TC = _skb_layout(_SOCKET_FIELDS, ("mark", "queue_mapping", "priority", "tc_index", "cb",
                          "tc_classid", "tstamp"))
#: ``struct __sk_buff`` as a cgroup_skb program may touch it.
SKB_CGROUP = _skb_layout(("tc_classid", "data_meta", "wire_len"),
                         ("mark", "priority", "cb", "tstamp"))

#: Program type -> the layout its programs see.
SKB_LAYOUTS: dict[int, CtxLayout] = {
    P.BPF_PROG_TYPE_SOCKET_FILTER: SKB_SOCKET_FILTER,
    P.BPF_PROG_TYPE_SCHED_CLS: SKB_TC,
    P.BPF_PROG_TYPE_CGROUP_SKB: SKB_CGROUP,
}

#: ``struct __sk_buff`` as the Linux-only skb types see it (lwt, sk_skb, flow
#: dissector): every field readable, the tc writable ones writable.
SKB_LINUX = _skb_layout((), ("mark", "priority", "tc_index", "cb", "tc_classid", "tstamp"))


# The tracing program types' contexts (hooks/tracing.py runs them) -------------------------

#: x86-64 ``struct pt_regs`` register names, in order (8 bytes each).
PT_REGS_NAMES = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax",
                 "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss")
PT_REGS_SIZE = 8 * len(PT_REGS_NAMES)
#: Raw tracepoints take at most MAX_BPF_FUNC_ARGS arguments.
MAX_RAW_TP_ARGS = 12
#: The largest tracepoint record (PERF_MAX_TRACE_SIZE).
MAX_TRACE_SIZE = 2048

_REG_FIELDS = tuple(CtxField(n, 8 * i, 8) for i, n in enumerate(PT_REGS_NAMES))
#: ``struct pt_regs`` (x86-64) as kprobe programs see it.
PT_REGS = CtxLayout("struct pt_regs", PT_REGS_SIZE, _REG_FIELDS)
KPROBE_NATIVE = CtxLayout("lbc_kprobe_ctx", PT_REGS_SIZE, _REG_FIELDS)
_PERF_FIELDS = (*_REG_FIELDS, CtxField("sample_period", PT_REGS_SIZE, 8),
                CtxField("addr", PT_REGS_SIZE + 8, 8))
#: ``struct bpf_perf_event_data``.
PERF_EVENT_DATA = CtxLayout("struct bpf_perf_event_data", PT_REGS_SIZE + 16, _PERF_FIELDS)
PERF_EVENT_NATIVE = CtxLayout("lbc_perf_event_ctx", PT_REGS_SIZE + 16, _PERF_FIELDS)
_ARG_FIELDS = tuple(CtxField(f"args{i}", 8 * i, 8) for i in range(MAX_RAW_TP_ARGS))
#: ``struct bpf_raw_tracepoint_args``: u64 args[].
RAW_TP_ARGS = CtxLayout("struct bpf_raw_tracepoint_args", 8 * MAX_RAW_TP_ARGS, _ARG_FIELDS)
RAW_TP_NATIVE = CtxLayout("lbc_raw_tp_ctx", 8 * MAX_RAW_TP_ARGS, _ARG_FIELDS)
_RECORD = (CtxField("record", 0, MAX_TRACE_SIZE),)
#: A tracepoint's raw record.
TRACEPOINT_RECORD = CtxLayout("tracepoint record", MAX_TRACE_SIZE, _RECORD)
TRACEPOINT_NATIVE = CtxLayout("lbc_tracepoint_ctx", MAX_TRACE_SIZE, _RECORD)

#: Program type -> (the layout its programs see, the native layout).
TRACING_LAYOUTS: dict[int, tuple[CtxLayout, CtxLayout]] = {
    P.BPF_PROG_TYPE_KPROBE: (PT_REGS, KPROBE_NATIVE),
    P.BPF_PROG_TYPE_PERF_EVENT: (PERF_EVENT_DATA, PERF_EVENT_NATIVE),
    P.BPF_PROG_TYPE_RAW_TRACEPOINT: (RAW_TP_ARGS, RAW_TP_NATIVE),
    P.BPF_PROG_TYPE_TRACEPOINT: (TRACEPOINT_RECORD, TRACEPOINT_NATIVE),
}


# Contexts of Linux program types no hook here runs: the verifier checks their
# programs against these (sizes and offsets of the kernel's UAPI structs, x86-64),
# and the loader keeps the VM's bounds checks on for them.
_W = True

#: Linux ``struct bpf_sock`` (cgroup sock programs): three fields are writable.
SOCK_LINUX = CtxLayout("struct bpf_sock", 80, (
    CtxField("bound_dev_if", 0, 4, writable=_W), CtxField("family", 4, 4),
    CtxField("type", 8, 4), CtxField("protocol", 12, 4), CtxField("mark", 16, 4, writable=_W),
    CtxField("priority", 20, 4, writable=_W), CtxField("src_ip4", 24, 4),
    CtxField("src_ip6", 28, 16), CtxField("src_port", 44, 4), CtxField("dst_port", 48, 4),
    CtxField("dst_ip4", 52, 4), CtxField("dst_ip6", 56, 16), CtxField("state", 72, 4),
    CtxField("rx_queue_mapping", 76, 4),
))

#: Linux ``struct sk_msg_md``: data and data_end are 64-bit pointers.
SK_MSG_LINUX = CtxLayout("struct sk_msg_md", 80, (
    CtxField("data", 0, 8, pointer=True), CtxField("data_end", 8, 8, pointer=True),
    CtxField("family", 16, 4), CtxField("remote_ip4", 20, 4), CtxField("local_ip4", 24, 4),
    CtxField("remote_ip6", 28, 16), CtxField("local_ip6", 44, 16),
    CtxField("remote_port", 60, 4), CtxField("local_port", 64, 4), CtxField("size", 68, 4),
))

#: Linux ``struct bpf_sysctl``.
SYSCTL_LINUX = CtxLayout("struct bpf_sysctl", 8, (
    CtxField("write", 0, 4), CtxField("file_pos", 4, 4, writable=_W)))

#: Linux ``struct bpf_sockopt``: optval and optval_end bound the option's bytes.
SOCKOPT_LINUX = CtxLayout("struct bpf_sockopt", 40, (
    CtxField("optval", 8, 8, pointer=True), CtxField("optval_end", 16, 8, pointer=True),
    CtxField("level", 24, 4, writable=_W), CtxField("optname", 28, 4, writable=_W),
    CtxField("optlen", 32, 4, writable=_W), CtxField("retval", 36, 4, writable=_W),
))

#: Linux ``struct bpf_cgroup_dev_ctx``.
CGROUP_DEV_LINUX = CtxLayout("struct bpf_cgroup_dev_ctx", 12, (
    CtxField("access_type", 0, 4), CtxField("major", 4, 4), CtxField("minor", 8, 4)))

#: (program type, ABI) -> the context layout a program of that type sees, for the
#: types a hook here runs (the loader rewrites their context accesses to the native
#: layout), and program type -> the native context its hook builds. Host-registered
#: program types (hooks/registry.py) have theirs in the registry.
HOOK_CONTEXTS: dict[tuple[int, str], CtxLayout] = {
    (P.BPF_PROG_TYPE_XDP, "linux"): XDP_LINUX,
    (P.BPF_PROG_TYPE_XDP, "windows"): XDP_WINDOWS,
    (windows_abi.INTERNAL_PROG_BIND, "windows"): BIND_WINDOWS,
    (P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "linux"): SOCK_ADDR_LINUX,
    (P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "windows"): SOCK_ADDR_WINDOWS,
    (P.BPF_PROG_TYPE_SOCK_OPS, "linux"): SOCK_OPS_LINUX,
    (P.BPF_PROG_TYPE_SOCK_OPS, "windows"): SOCK_OPS_WINDOWS,
    (windows_abi.INTERNAL_PROG_PROCESS, "windows"): PROCESS_WINDOWS,
    **{(t, abi): layout for t, layout in SKB_LAYOUTS.items() for abi in ("linux", "windows")},
    **{(t, abi): layouts[0] for t, layouts in TRACING_LAYOUTS.items()
       for abi in ("linux", "windows")},
}
NATIVE_CONTEXTS: dict[int, CtxLayout] = {
    P.BPF_PROG_TYPE_XDP: XDP_NATIVE,
    windows_abi.INTERNAL_PROG_BIND: BIND_NATIVE,
    P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR: SOCK_ADDR_NATIVE,
    P.BPF_PROG_TYPE_SOCK_OPS: SOCK_OPS_NATIVE,
    windows_abi.INTERNAL_PROG_PROCESS: PROCESS_NATIVE,
    **dict.fromkeys(SKB_LAYOUTS, SKB_NATIVE),
    **{t: layouts[1] for t, layouts in TRACING_LAYOUTS.items()},
}

#: Linux program type -> its context, for the types no hook here runs.
LINUX_ONLY_CONTEXTS: dict[int, CtxLayout] = {
    P.BPF_PROG_TYPE_SCHED_ACT: SKB_TC,
    **{t: SKB_LINUX for t in (
        P.BPF_PROG_TYPE_LWT_IN, P.BPF_PROG_TYPE_LWT_OUT, P.BPF_PROG_TYPE_LWT_XMIT,
        P.BPF_PROG_TYPE_LWT_SEG6LOCAL, P.BPF_PROG_TYPE_SK_SKB,
        P.BPF_PROG_TYPE_FLOW_DISSECTOR)},
    P.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE: RAW_TP_ARGS,
    P.BPF_PROG_TYPE_TRACING: RAW_TP_ARGS,
    P.BPF_PROG_TYPE_LSM: RAW_TP_ARGS,
    P.BPF_PROG_TYPE_CGROUP_SOCK: SOCK_LINUX,
    P.BPF_PROG_TYPE_SK_MSG: SK_MSG_LINUX,
    P.BPF_PROG_TYPE_CGROUP_SYSCTL: SYSCTL_LINUX,
    P.BPF_PROG_TYPE_CGROUP_SOCKOPT: SOCKOPT_LINUX,
    P.BPF_PROG_TYPE_CGROUP_DEVICE: CGROUP_DEV_LINUX,
}


def hook_contexts(prog_type: int, abi: str) -> tuple[CtxLayout, CtxLayout] | None:
    """(the layout a program of ``prog_type`` compiled for ``abi`` sees, the native
    layout its hook builds) for the types a hook here runs -- built-in or registered
    from the host (hooks/registry.py) -- or None."""
    layout = HOOK_CONTEXTS.get((prog_type, abi))
    if layout is not None:
        return layout, NATIVE_CONTEXTS[prog_type]
    from libbpf_compat.hooks import registry  # it builds on these layouts

    spec = registry.registered_type(prog_type)
    if spec is None:
        return None
    # only the two fields bounding the data region load packet pointers; any other
    # pointer field is an opaque number to the program
    data = spec.data or ()
    return replace(spec.context, packet=data), spec.native


def program_context(prog_type: int, abi: str) -> tuple[CtxLayout | None, bool]:
    """The context a program of ``prog_type`` compiled for ``abi`` sees, and whether a
    hook here runs that type (True) or the layout is Linux's for checking only."""
    hooked = hook_contexts(prog_type, abi)
    if hooked is not None:
        return hooked[0], True
    if abi == "linux":
        return LINUX_ONLY_CONTEXTS.get(prog_type), False
    return None, False
