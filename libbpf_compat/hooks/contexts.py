"""Hook context layouts: what a program of each ABI sees as its context,
and the native context the runtime builds for the hook. A program's context
loads are rewritten at load from its ABI's layout to the native one (as the
Linux kernel rewrites ``struct xdp_md`` loads into pointer loads)."""

from __future__ import annotations

from dataclasses import dataclass
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
    name: str
    size: int
    fields: tuple[CtxField, ...]

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

#: The native sock_ops context: every field either ABI has, each once. The
#: v4 and v6 addresses share storage; ports are u32 filled per program as
#: its ABI holds them (Linux: remote_port the network-order u16 in the upper
#: half, local_port in host order; Windows: both the network-order u16 in
#: the low half); ``op`` and ``family`` are in the program's ABI numbering.
#: ``args`` is Linux's args/reply union (the program may write its reply).
SOCK_OPS_NATIVE = CtxLayout("lbc_sock_ops_ctx", 88, (
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
))

#: Linux ``struct bpf_sock_ops`` (the fields this hook offers, at the
#: kernel's offsets): op, the args/reply union (writable, as the kernel
#: lets a program write its reply), family, addresses, ports, is_fullsock
#: and state. Other fields (snd_cwnd, sk, …) fail at load.
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
    CtxField("state", 88, 4),
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


# Contexts of Linux program types no hook here runs: the verifier checks their
# programs against these (sizes and offsets of the kernel's UAPI structs, x86-64),
# and the loader keeps the VM's bounds checks on for them.
_W = True

#: Linux ``struct __sk_buff`` (socket filters, tc, cgroup skb, lwt, sk_skb, flow dissector).
SKB_LINUX = CtxLayout("struct __sk_buff", 192, (
    CtxField("len", 0, 4), CtxField("pkt_type", 4, 4), CtxField("mark", 8, 4, writable=_W),
    CtxField("queue_mapping", 12, 4), CtxField("protocol", 16, 4),
    CtxField("vlan_present", 20, 4), CtxField("vlan_tci", 24, 4),
    CtxField("vlan_proto", 28, 4), CtxField("priority", 32, 4, writable=_W),
    CtxField("ingress_ifindex", 36, 4), CtxField("ifindex", 40, 4),
    CtxField("tc_index", 44, 4, writable=_W), CtxField("cb", 48, 20, writable=_W),
    CtxField("hash", 68, 4), CtxField("tc_classid", 72, 4, writable=_W),
    CtxField("data", 76, 4, pointer=True), CtxField("data_end", 80, 4, pointer=True),
    CtxField("napi_id", 84, 4), CtxField("family", 88, 4), CtxField("remote_ip4", 92, 4),
    CtxField("local_ip4", 96, 4), CtxField("remote_ip6", 100, 16),
    CtxField("local_ip6", 116, 16), CtxField("remote_port", 132, 4),
    CtxField("local_port", 136, 4), CtxField("data_meta", 140, 4, pointer=True),
    CtxField("tstamp", 152, 8, writable=_W), CtxField("wire_len", 160, 4),
    CtxField("gso_segs", 164, 4), CtxField("gso_size", 176, 4),
    CtxField("tstamp_type", 180, 1), CtxField("hwtstamp", 184, 8),
))

#: ``struct __sk_buff`` as a socket filter sees it: no direct packet access (data,
#: data_end and data_meta are refused), only cb[] writable.
SKB_FILTER_LINUX = CtxLayout("struct __sk_buff", 192, tuple(
    CtxField(f.name, f.offset, f.size, writable=f.name == "cb")
    for f in SKB_LINUX.fields if not f.pointer))

#: Linux ``struct pt_regs`` (x86-64): kprobes read the registers, never write them.
PT_REGS_LINUX = CtxLayout("struct pt_regs", 168, (CtxField("regs", 0, 168),))

#: Linux ``struct bpf_perf_event_data``: the registers, sample_period and addr.
PERF_EVENT_LINUX = CtxLayout("struct bpf_perf_event_data", 184, (
    CtxField("regs", 0, 168), CtxField("sample_period", 168, 8), CtxField("addr", 176, 8)))

#: A tracepoint's record: its size is the tracepoint's; the kernel's bound for any
#: is PERF_MAX_TRACE_SIZE (2048 bytes).
TRACEPOINT_LINUX = CtxLayout("tracepoint record", 2048, (CtxField("record", 0, 2048),))

#: Raw tracepoints and BTF tracing (fentry, fexit, lsm): up to 12 u64 arguments.
RAW_TRACEPOINT_LINUX = CtxLayout("u64 args[12]", 96, (CtxField("args", 0, 96),))

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
#: layout), and program type -> the native context its hook builds.
HOOK_CONTEXTS: dict[tuple[int, str], CtxLayout] = {
    (P.BPF_PROG_TYPE_XDP, "linux"): XDP_LINUX,
    (P.BPF_PROG_TYPE_XDP, "windows"): XDP_WINDOWS,
    (windows_abi.INTERNAL_PROG_BIND, "windows"): BIND_WINDOWS,
    (P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "linux"): SOCK_ADDR_LINUX,
    (P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "windows"): SOCK_ADDR_WINDOWS,
    (P.BPF_PROG_TYPE_SOCK_OPS, "linux"): SOCK_OPS_LINUX,
    (P.BPF_PROG_TYPE_SOCK_OPS, "windows"): SOCK_OPS_WINDOWS,
    (windows_abi.INTERNAL_PROG_PROCESS, "windows"): PROCESS_WINDOWS,
}
NATIVE_CONTEXTS: dict[int, CtxLayout] = {
    P.BPF_PROG_TYPE_XDP: XDP_NATIVE,
    windows_abi.INTERNAL_PROG_BIND: BIND_NATIVE,
    P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR: SOCK_ADDR_NATIVE,
    P.BPF_PROG_TYPE_SOCK_OPS: SOCK_OPS_NATIVE,
    windows_abi.INTERNAL_PROG_PROCESS: PROCESS_NATIVE,
}

#: Linux program type -> its context, for the types no hook here runs.
LINUX_ONLY_CONTEXTS: dict[int, CtxLayout] = {
    P.BPF_PROG_TYPE_SOCKET_FILTER: SKB_FILTER_LINUX,
    **{t: SKB_LINUX for t in (
        P.BPF_PROG_TYPE_SCHED_CLS, P.BPF_PROG_TYPE_SCHED_ACT,
        P.BPF_PROG_TYPE_CGROUP_SKB, P.BPF_PROG_TYPE_LWT_IN, P.BPF_PROG_TYPE_LWT_OUT,
        P.BPF_PROG_TYPE_LWT_XMIT, P.BPF_PROG_TYPE_LWT_SEG6LOCAL, P.BPF_PROG_TYPE_SK_SKB,
        P.BPF_PROG_TYPE_FLOW_DISSECTOR)},
    P.BPF_PROG_TYPE_KPROBE: PT_REGS_LINUX,
    P.BPF_PROG_TYPE_PERF_EVENT: PERF_EVENT_LINUX,
    P.BPF_PROG_TYPE_TRACEPOINT: TRACEPOINT_LINUX,
    P.BPF_PROG_TYPE_RAW_TRACEPOINT: RAW_TRACEPOINT_LINUX,
    P.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE: RAW_TRACEPOINT_LINUX,
    P.BPF_PROG_TYPE_TRACING: RAW_TRACEPOINT_LINUX,
    P.BPF_PROG_TYPE_LSM: RAW_TRACEPOINT_LINUX,
    P.BPF_PROG_TYPE_CGROUP_SOCK: SOCK_LINUX,
    P.BPF_PROG_TYPE_SK_MSG: SK_MSG_LINUX,
    P.BPF_PROG_TYPE_CGROUP_SYSCTL: SYSCTL_LINUX,
    P.BPF_PROG_TYPE_CGROUP_SOCKOPT: SOCKOPT_LINUX,
    P.BPF_PROG_TYPE_CGROUP_DEVICE: CGROUP_DEV_LINUX,
}


def program_context(prog_type: int, abi: str) -> tuple[CtxLayout | None, bool]:
    """The context a program of ``prog_type`` compiled for ``abi`` sees, and whether a
    hook here runs that type (True) or the layout is Linux's for checking only."""
    layout = HOOK_CONTEXTS.get((prog_type, abi))
    if layout is not None:
        return layout, True
    if abi == "linux":
        return LINUX_ONLY_CONTEXTS.get(prog_type), False
    return None, False
