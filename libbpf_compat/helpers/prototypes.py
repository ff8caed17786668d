"""Helper prototypes: what each argument register must hold and what r0 holds after.

The verifier reads these to check a call (``call N`` and ``callx rN``) and to type
its result; they are keyed by internal helper id (see :mod:`.ids`). Argument kinds
follow the helpers' documented C signatures (``bpf_helper_defs.h`` on Linux,
``ebpf_helpers.h`` on Windows): a memory argument is paired with the argument that
gives its size, which comes right after it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from libbpf_compat.abi.windows import INTERNAL_PROG_PROCESS, INTERNAL_PROG_SAMPLE
from libbpf_compat.helpers.ids import helper_by_name
from libbpf_compat.uapi import BpfProgType as P


class Arg(enum.Enum):
    """What one argument register must hold."""

    ANYTHING = "anything"  # any initialised value, not checked further
    SCALAR = "scalar"  # a number
    CONST_MAP_PTR = "const_map_ptr"  # a map (from ``lddw rN, map_fd``)
    PROG_ARRAY_PTR = "prog_array_ptr"  # a map of programs (tail calls)
    PTR_TO_MAP_KEY = "ptr_to_map_key"  # key_size readable bytes of the map in r1
    PTR_TO_MAP_VALUE = "ptr_to_map_value"  # value_size readable bytes of the map in r1
    PTR_TO_UNINIT_MAP_VALUE = "ptr_to_uninit_map_value"  # value_size writable bytes
    PTR_TO_MEM = "ptr_to_mem"  # readable memory; its size is the next argument
    PTR_TO_MEM_OR_NULL = "ptr_to_mem_or_null"  # the same, or 0 (with size 0)
    PTR_TO_UNINIT_MEM = "ptr_to_uninit_mem"  # writable memory; its size is the next argument
    CONST_SIZE = "const_size"  # the size of the memory before it: > 0
    CONST_SIZE_OR_ZERO = "const_size_or_zero"  # the size of the memory before it: >= 0
    PTR_TO_CTX = "ptr_to_ctx"  # the program's context
    PTR_TO_SOCKET = "ptr_to_socket"  # a socket from a lookup
    PTR_TO_ALLOC_MEM = "ptr_to_alloc_mem"  # a ring buffer record from ringbuf_reserve
    PTR_TO_FUNC = "ptr_to_func"  # a static function of the program (lddw of its address)
    PTR_TO_SPIN_LOCK = "ptr_to_spin_lock"  # the struct bpf_spin_lock of a map value

    @property
    def is_memory(self) -> bool:
        return self in (Arg.PTR_TO_MEM, Arg.PTR_TO_MEM_OR_NULL, Arg.PTR_TO_UNINIT_MEM)

    @property
    def is_size(self) -> bool:
        return self in (Arg.CONST_SIZE, Arg.CONST_SIZE_OR_ZERO)

    @property
    def is_map_region(self) -> bool:
        return self in (Arg.PTR_TO_MAP_KEY, Arg.PTR_TO_MAP_VALUE,
                        Arg.PTR_TO_UNINIT_MAP_VALUE)


class Ret(enum.Enum):
    """What r0 holds after the call."""

    INTEGER = "integer"
    VOID = "void"  # r0 is a number nobody should read
    MAP_VALUE_OR_NULL = "map_value_or_null"  # value_size bytes of the map in r1, or 0
    SOCKET_OR_NULL = "socket_or_null"
    ALLOC_MEM_OR_NULL = "alloc_mem_or_null"  # a ring buffer record of r2 bytes, or 0


@dataclass(frozen=True)
class Prototype:
    name: str
    ret: Ret
    args: tuple[Arg, ...]  # r1, r2, … in order


A = Arg
_MAP_KEY = (A.CONST_MAP_PTR, A.PTR_TO_MAP_KEY)
_PROBE_READ = (A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING)
_SK_LOOKUP = (A.PTR_TO_CTX, A.PTR_TO_MEM, A.CONST_SIZE, A.ANYTHING, A.ANYTHING)

#: name -> (return, arguments). Names as in :mod:`.ids` (without ``bpf_``).
_TABLE: dict[str, tuple[Ret, tuple[Arg, ...]]] = {
    # Maps
    "map_lookup_elem": (Ret.MAP_VALUE_OR_NULL, _MAP_KEY),
    "map_update_elem": (Ret.INTEGER, (*_MAP_KEY, A.PTR_TO_MAP_VALUE, A.ANYTHING)),
    "map_delete_elem": (Ret.INTEGER, _MAP_KEY),
    "map_lookup_and_delete_elem": (Ret.MAP_VALUE_OR_NULL, _MAP_KEY),
    "map_lookup_percpu_elem": (Ret.MAP_VALUE_OR_NULL, (*_MAP_KEY, A.ANYTHING)),
    "map_push_elem": (Ret.INTEGER, (A.CONST_MAP_PTR, A.PTR_TO_MAP_VALUE, A.ANYTHING)),
    "map_pop_elem": (Ret.INTEGER, (A.CONST_MAP_PTR, A.PTR_TO_UNINIT_MAP_VALUE)),
    "map_peek_elem": (Ret.INTEGER, (A.CONST_MAP_PTR, A.PTR_TO_UNINIT_MAP_VALUE)),
    "tail_call": (Ret.INTEGER, (A.PTR_TO_CTX, A.PROG_ARRAY_PTR, A.ANYTHING)),
    "redirect_map": (Ret.INTEGER, (A.CONST_MAP_PTR, A.ANYTHING, A.ANYTHING)),
    "get_stackid": (Ret.INTEGER, (A.PTR_TO_CTX, A.CONST_MAP_PTR, A.ANYTHING)),
    # Ring buffers and perf events
    "ringbuf_output": (Ret.INTEGER, (A.CONST_MAP_PTR, A.PTR_TO_MEM, A.CONST_SIZE_OR_ZERO,
                                     A.ANYTHING)),
    "ringbuf_reserve": (Ret.ALLOC_MEM_OR_NULL, (A.CONST_MAP_PTR, A.SCALAR, A.ANYTHING)),
    "ringbuf_submit": (Ret.VOID, (A.PTR_TO_ALLOC_MEM, A.ANYTHING)),
    "ringbuf_discard": (Ret.VOID, (A.PTR_TO_ALLOC_MEM, A.ANYTHING)),
    "ringbuf_query": (Ret.INTEGER, (A.CONST_MAP_PTR, A.ANYTHING)),
    "perf_event_output": (Ret.INTEGER, (A.PTR_TO_CTX, A.CONST_MAP_PTR, A.ANYTHING,
                                        A.PTR_TO_MEM, A.CONST_SIZE_OR_ZERO)),
    "perf_event_read": (Ret.INTEGER, (A.CONST_MAP_PTR, A.ANYTHING)),
    # Tracing
    "probe_read": (Ret.INTEGER, _PROBE_READ),
    "probe_read_str": (Ret.INTEGER, _PROBE_READ),
    "probe_read_user": (Ret.INTEGER, _PROBE_READ),
    "probe_read_kernel": (Ret.INTEGER, _PROBE_READ),
    "probe_read_user_str": (Ret.INTEGER, _PROBE_READ),
    "probe_read_kernel_str": (Ret.INTEGER, _PROBE_READ),
    "trace_printk": (Ret.INTEGER, (A.PTR_TO_MEM, A.CONST_SIZE, A.ANYTHING, A.ANYTHING,
                                   A.ANYTHING)),
    "get_stack": (Ret.INTEGER, (A.PTR_TO_CTX, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO,
                                A.ANYTHING)),
    "get_current_comm": (Ret.INTEGER, (A.PTR_TO_UNINIT_MEM, A.CONST_SIZE)),
    # Time, randomness, the current task
    "ktime_get_ns": (Ret.INTEGER, ()),
    "ktime_get_boot_ns": (Ret.INTEGER, ()),
    "ktime_get_coarse_ns": (Ret.INTEGER, ()),
    "ktime_get_tai_ns": (Ret.INTEGER, ()),
    "jiffies64": (Ret.INTEGER, ()),
    "get_prandom_u32": (Ret.INTEGER, ()),
    "get_smp_processor_id": (Ret.INTEGER, ()),
    "get_numa_node_id": (Ret.INTEGER, ()),
    "get_current_pid_tgid": (Ret.INTEGER, ()),
    "get_current_uid_gid": (Ret.INTEGER, ()),
    "get_current_cgroup_id": (Ret.INTEGER, ()),
    "get_current_task": (Ret.INTEGER, ()),
    # Packets and sockets
    "csum_diff": (Ret.INTEGER, (A.PTR_TO_MEM_OR_NULL, A.CONST_SIZE_OR_ZERO,
                                A.PTR_TO_MEM_OR_NULL, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    "redirect": (Ret.INTEGER, (A.ANYTHING, A.ANYTHING)),
    "loop": (Ret.INTEGER, (A.SCALAR, A.PTR_TO_FUNC, A.ANYTHING, A.SCALAR)),
    "for_each_map_elem": (Ret.INTEGER, (A.CONST_MAP_PTR, A.PTR_TO_FUNC, A.ANYTHING, A.SCALAR)),
    "spin_lock": (Ret.VOID, (A.PTR_TO_SPIN_LOCK,)),
    "spin_unlock": (Ret.VOID, (A.PTR_TO_SPIN_LOCK,)),
    # a zero size is the helper's EINVAL, not the verifier's
    "sock_addr_set_redirect_context": (Ret.INTEGER, (A.PTR_TO_CTX, A.PTR_TO_MEM,
                                                     A.CONST_SIZE_OR_ZERO)),
    "sock_addr_get_network_context": (Ret.INTEGER, (A.PTR_TO_CTX, A.PTR_TO_UNINIT_MEM,
                                                    A.CONST_SIZE)),
    "sock_ops_get_flow_id": (Ret.INTEGER, (A.PTR_TO_CTX,)),
    "sock_ops_cb_flags_set": (Ret.INTEGER, (A.PTR_TO_CTX, A.ANYTHING)),
    "xdp_adjust_head": (Ret.INTEGER, (A.PTR_TO_CTX, A.ANYTHING)),
    "xdp_adjust_tail": (Ret.INTEGER, (A.PTR_TO_CTX, A.ANYTHING)),
    "xdp_adjust_meta": (Ret.INTEGER, (A.PTR_TO_CTX, A.ANYTHING)),
    "skb_load_bytes": (Ret.INTEGER, (A.PTR_TO_CTX, A.ANYTHING, A.PTR_TO_UNINIT_MEM,
                                     A.CONST_SIZE)),
    "skb_store_bytes": (Ret.INTEGER, (A.PTR_TO_CTX, A.ANYTHING, A.PTR_TO_MEM, A.CONST_SIZE,
                                      A.ANYTHING)),
    "l3_csum_replace": (Ret.INTEGER, (A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING, A.ANYTHING,
                                      A.ANYTHING)),
    "l4_csum_replace": (Ret.INTEGER, (A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING, A.ANYTHING,
                                      A.ANYTHING)),
    "skb_change_tail": (Ret.INTEGER, (A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING)),
    "skb_change_head": (Ret.INTEGER, (A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING)),
    "skb_change_proto": (Ret.INTEGER, (A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING)),
    "skb_change_type": (Ret.INTEGER, (A.PTR_TO_CTX, A.ANYTHING)),
    "get_hash_recalc": (Ret.INTEGER, (A.PTR_TO_CTX,)),
    "get_socket_cookie": (Ret.INTEGER, (A.PTR_TO_CTX,)),
    "get_cgroup_classid": (Ret.INTEGER, (A.PTR_TO_CTX,)),
    "sk_lookup_tcp": (Ret.SOCKET_OR_NULL, _SK_LOOKUP),
    "sk_lookup_udp": (Ret.SOCKET_OR_NULL, _SK_LOOKUP),
    "skc_lookup_tcp": (Ret.SOCKET_OR_NULL, _SK_LOOKUP),
    "sk_release": (Ret.INTEGER, (A.PTR_TO_SOCKET,)),
    "process_get_image_path": (Ret.INTEGER, (A.PTR_TO_CTX, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE)),
    # eBPF for Windows' sample extension (SAMPLE programs)
    # eBPF for Windows' own helpers (ABI.md): (destination, its size, source, its size)
    "memcpy_s": (Ret.INTEGER, (A.PTR_TO_UNINIT_MEM, A.CONST_SIZE, A.PTR_TO_MEM,
                               A.CONST_SIZE_OR_ZERO)),
    "memmove_s": (Ret.INTEGER, (A.PTR_TO_UNINIT_MEM, A.CONST_SIZE, A.PTR_TO_MEM,
                                A.CONST_SIZE_OR_ZERO)),
    "memcmp_s": (Ret.INTEGER, (A.PTR_TO_MEM, A.CONST_SIZE, A.PTR_TO_MEM, A.CONST_SIZE)),
    "memset": (Ret.INTEGER, (A.PTR_TO_UNINIT_MEM, A.CONST_SIZE, A.ANYTHING)),
    "strncpy_s": (Ret.INTEGER, (A.PTR_TO_UNINIT_MEM, A.CONST_SIZE, A.PTR_TO_MEM,
                                A.CONST_SIZE_OR_ZERO)),
    "strncat_s": (Ret.INTEGER, (A.PTR_TO_MEM, A.CONST_SIZE, A.PTR_TO_MEM,
                                A.CONST_SIZE_OR_ZERO)),
    "strnlen_s": (Ret.INTEGER, (A.PTR_TO_MEM, A.CONST_SIZE_OR_ZERO)),
    "trace_printk2": (Ret.INTEGER, (A.PTR_TO_MEM, A.CONST_SIZE)),
    "trace_printk3": (Ret.INTEGER, (A.PTR_TO_MEM, A.CONST_SIZE, A.ANYTHING)),
    "trace_printk4": (Ret.INTEGER, (A.PTR_TO_MEM, A.CONST_SIZE, A.ANYTHING, A.ANYTHING)),
    "trace_printk5": (Ret.INTEGER, (A.PTR_TO_MEM, A.CONST_SIZE, A.ANYTHING, A.ANYTHING,
                                    A.ANYTHING)),
    "ktime_get_ms": (Ret.INTEGER, ()),
    "ktime_get_boot_ms": (Ret.INTEGER, ()),
    "get_current_logon_id": (Ret.INTEGER, (A.ANYTHING,)),  # the ctx, unread
    "is_current_admin": (Ret.INTEGER, (A.ANYTHING,)),
    "get_current_process_start_key": (Ret.INTEGER, ()),
    "get_current_thread_create_time": (Ret.INTEGER, ()),
    "sample_ebpf_extension_helper_function1": (Ret.INTEGER, (A.PTR_TO_CTX,)),
    "sample_ebpf_extension_find": (Ret.INTEGER, (A.PTR_TO_MEM, A.CONST_SIZE, A.PTR_TO_MEM,
                                                 A.CONST_SIZE)),
    "sample_ebpf_extension_replace": (Ret.INTEGER, (A.PTR_TO_UNINIT_MEM, A.CONST_SIZE,
                                                    A.ANYTHING, A.PTR_TO_MEM, A.CONST_SIZE)),
}


_TC = frozenset({P.BPF_PROG_TYPE_SCHED_CLS, P.BPF_PROG_TYPE_SCHED_ACT})
_SAMPLE = frozenset({INTERNAL_PROG_SAMPLE})
#: Program types whose packet is an skb a program may read with skb_load_bytes.
_SKB_READERS = frozenset({
    P.BPF_PROG_TYPE_SOCKET_FILTER, P.BPF_PROG_TYPE_SCHED_CLS, P.BPF_PROG_TYPE_SCHED_ACT,
    P.BPF_PROG_TYPE_CGROUP_SKB, P.BPF_PROG_TYPE_LWT_IN, P.BPF_PROG_TYPE_LWT_OUT,
    P.BPF_PROG_TYPE_LWT_XMIT, P.BPF_PROG_TYPE_LWT_SEG6LOCAL, P.BPF_PROG_TYPE_SK_SKB,
    P.BPF_PROG_TYPE_SK_REUSEPORT, P.BPF_PROG_TYPE_FLOW_DISSECTOR})

#: Helpers only some program types may call (Linux's rules): name -> the
#: (internal) program types allowed. Helpers not listed are allowed for
#: every program type but those in _DENIED.
_ONLY: dict[str, frozenset[int]] = {
    "xdp_adjust_head": frozenset({P.BPF_PROG_TYPE_XDP}),
    "xdp_adjust_tail": frozenset({P.BPF_PROG_TYPE_XDP}),
    "xdp_adjust_meta": frozenset({P.BPF_PROG_TYPE_XDP}),
    "redirect_map": frozenset({P.BPF_PROG_TYPE_XDP}),
    "redirect": frozenset({P.BPF_PROG_TYPE_XDP, P.BPF_PROG_TYPE_SCHED_CLS,
                           P.BPF_PROG_TYPE_SCHED_ACT, P.BPF_PROG_TYPE_LWT_XMIT}),
    "sock_addr_set_redirect_context": frozenset({P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR}),
    "sock_addr_get_network_context": frozenset({P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR}),
    "sock_ops_get_flow_id": frozenset({P.BPF_PROG_TYPE_SOCK_OPS}),
    "sock_ops_cb_flags_set": frozenset({P.BPF_PROG_TYPE_SOCK_OPS}),
    "skb_load_bytes": _SKB_READERS,
    "skb_store_bytes": _TC | {P.BPF_PROG_TYPE_LWT_XMIT, P.BPF_PROG_TYPE_SK_SKB},
    "l3_csum_replace": _TC | {P.BPF_PROG_TYPE_LWT_XMIT},
    "l4_csum_replace": _TC | {P.BPF_PROG_TYPE_LWT_XMIT},
    "skb_change_tail": _TC | {P.BPF_PROG_TYPE_SK_SKB},
    "skb_change_head": _TC | {P.BPF_PROG_TYPE_LWT_XMIT, P.BPF_PROG_TYPE_SK_SKB},
    "skb_change_proto": _TC,
    "skb_change_type": _TC,
    "process_get_image_path": frozenset({INTERNAL_PROG_PROCESS}),
    "sample_ebpf_extension_helper_function1": _SAMPLE,
    "sample_ebpf_extension_find": _SAMPLE,
    "sample_ebpf_extension_replace": _SAMPLE,
    "get_socket_cookie": frozenset({
        P.BPF_PROG_TYPE_SOCKET_FILTER, P.BPF_PROG_TYPE_SCHED_CLS, P.BPF_PROG_TYPE_SCHED_ACT,
        P.BPF_PROG_TYPE_CGROUP_SKB, P.BPF_PROG_TYPE_CGROUP_SOCK,
        P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, P.BPF_PROG_TYPE_SOCK_OPS, P.BPF_PROG_TYPE_SK_SKB,
        P.BPF_PROG_TYPE_SK_MSG, P.BPF_PROG_TYPE_SK_REUSEPORT, P.BPF_PROG_TYPE_TRACING,
        P.BPF_PROG_TYPE_LSM}),
    # Linux's sockmap family: each only where its func_proto offers it
    "sock_map_update": frozenset({P.BPF_PROG_TYPE_SOCK_OPS}),
    "sock_hash_update": frozenset({P.BPF_PROG_TYPE_SOCK_OPS}),
    "sk_redirect_map": frozenset({P.BPF_PROG_TYPE_SK_SKB}),
    "sk_redirect_hash": frozenset({P.BPF_PROG_TYPE_SK_SKB}),
    "msg_redirect_map": frozenset({P.BPF_PROG_TYPE_SK_MSG}),
    "msg_redirect_hash": frozenset({P.BPF_PROG_TYPE_SK_MSG}),
    "msg_apply_bytes": frozenset({P.BPF_PROG_TYPE_SK_MSG}),
    "msg_cork_bytes": frozenset({P.BPF_PROG_TYPE_SK_MSG}),
    "msg_pull_data": frozenset({P.BPF_PROG_TYPE_SK_MSG}),
    "override_return": frozenset({P.BPF_PROG_TYPE_KPROBE}),
    "perf_prog_read_value": frozenset({P.BPF_PROG_TYPE_PERF_EVENT}),
}
_TRACING = frozenset({P.BPF_PROG_TYPE_KPROBE, P.BPF_PROG_TYPE_TRACEPOINT,
                      P.BPF_PROG_TYPE_PERF_EVENT, P.BPF_PROG_TYPE_RAW_TRACEPOINT,
                      P.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE})
#: Helpers some program types may not call: name -> those program types.
_DENIED: dict[str, frozenset[int]] = {
    "spin_lock": _TRACING,  # "tracing progs cannot use bpf_spin_lock yet"
    "spin_unlock": _TRACING,
}


def _build_prog_types() -> dict[int, tuple[frozenset[int] | None, frozenset[int]]]:
    table: dict[int, tuple[frozenset[int] | None, frozenset[int]]] = {}
    for name in {*_ONLY, *_DENIED}:
        helper = helper_by_name(name)
        if helper is None:  # a name the ID registry lacks is a bug in these tables
            raise KeyError(f"program types for unknown helper {name!r}")
        table[helper.internal] = (_ONLY.get(name), _DENIED.get(name, frozenset()))
    return table


#: Internal helper id -> (the only program types allowed or None for all,
#: program types denied).
PROG_TYPE_RULES: dict[int, tuple[frozenset[int] | None, frozenset[int]]] = _build_prog_types()


def helper_allowed(helper_id: int, prog_type: int) -> bool:
    """May a program of (internal) ``prog_type`` call helper ``helper_id``?"""
    only, denied = PROG_TYPE_RULES.get(helper_id, (None, frozenset()))
    return prog_type not in denied and (only is None or prog_type in only)


def _build() -> dict[int, Prototype]:
    table: dict[int, Prototype] = {}
    for name, (ret, args) in _TABLE.items():
        helper = helper_by_name(name)
        if helper is None:  # a name the ID registry lacks is a bug in this table
            raise KeyError(f"prototype for unknown helper {name!r}")
        table[helper.internal] = Prototype(name, ret, args)
    return table


#: Internal helper id -> prototype.
PROTOTYPES: dict[int, Prototype] = _build()


def prototype(helper_id: int) -> Prototype | None:
    """The prototype of the helper with internal id ``helper_id``, or None."""
    return PROTOTYPES.get(helper_id)


@dataclass(frozen=True)
class SocketField:
    """A readable field of ``struct bpf_sock`` (the object the socket lookups return)."""

    name: str
    offset: int
    size: int
    narrow: bool  # loads of 1 or 2 aligned bytes inside one 4-byte word are allowed


#: ``struct bpf_sock`` (uapi/linux/bpf.h) as a lookup's result may be read; type,
#: protocol, mark and priority (8..23) are left out: ``skc_lookup_tcp`` returns a
#: ``sock_common``, which lacks them, and one socket type stands for both here.
SOCKET_FIELDS: tuple[SocketField, ...] = (
    SocketField("bound_dev_if", 0, 4, False),
    SocketField("family", 4, 4, True),
    SocketField("src_ip4", 24, 4, True),
    SocketField("src_ip6", 28, 16, True),
    SocketField("src_port", 44, 4, True),
    SocketField("dst_port", 48, 2, True),
    SocketField("dst_ip4", 52, 4, True),
    SocketField("dst_ip6", 56, 16, True),
    SocketField("state", 72, 4, False),
    SocketField("rx_queue_mapping", 76, 4, True),
)


def socket_access_ok(offset: int, width: int) -> bool:
    """May a program load ``width`` bytes at ``offset`` of a socket?"""
    if offset == 48 and width == 4:  # dst_port read as the 32-bit field it once was
        return True
    for f in SOCKET_FIELDS:
        if f.offset <= offset < f.offset + f.size:
            if width not in (1, 2, 4) or offset % width or offset + width > f.offset + f.size:
                return False
            word = f.offset + (offset - f.offset) // 4 * 4
            if offset + width > word + 4:
                return False
            return f.narrow or (width == 4 and offset == word)
    return False


#: Helpers that may move or resize the packet (Linux's bpf_helper_changes_pkt_data):
#: packet pointers taken before a call to one of them are stale after it.
CHANGES_PACKET_DATA = frozenset({
    "skb_vlan_push", "skb_vlan_pop", "skb_store_bytes", "skb_change_proto",
    "skb_change_type", "skb_adjust_room", "skb_change_tail", "skb_change_head",
    "skb_pull_data", "clone_redirect", "l3_csum_replace", "l4_csum_replace",
    "xdp_adjust_head", "xdp_adjust_meta", "xdp_adjust_tail", "msg_pull_data",
    "msg_push_data", "msg_pop_data", "lwt_push_encap", "lwt_seg6_store_bytes",
    "lwt_seg6_adjust_srh", "lwt_seg6_action", "store_hdr_opt",
})


def size_argument(proto: Prototype, index: int) -> int | None:
    """For the memory argument at ``index`` (0 for r1), the index of its size argument."""
    nxt = index + 1
    if proto.args[index].is_memory and nxt < len(proto.args) and proto.args[nxt].is_size:
        return nxt
    return None


__all__ = [
    "CHANGES_PACKET_DATA",
    "PROG_TYPE_RULES",
    "PROTOTYPES",
    "SOCKET_FIELDS",
    "Arg",
    "Prototype",
    "Ret",
    "SocketField",
    "helper_allowed",
    "prototype",
    "size_argument",
    "socket_access_ok",
]
