"""Program types from ELF section names: libbpf's Linux table and eBPF-for-Windows names.

``section_def(name)`` finds the definition a section name selects, as libbpf
matches ``SEC()`` names: an entry ending in ``+`` matches the name alone or
followed by ``/`` and anything (``kprobe/do_sys_open``); other entries
match exactly. Windows-only names (``bind``, ``cgroup/recv_accept4``,
``process``…) give the internal numbers of :mod:`libbpf_compat.abi.windows`.

The libbpf name functions (``libbpf_prog_type_by_name``…) are here too.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from libbpf_compat.abi import windows as win
from libbpf_compat.errors import LibbpfError
from libbpf_compat.uapi import BpfAttachType as A
from libbpf_compat.uapi import BpfMapType, BpfProgType
from libbpf_compat.uapi import BpfProgType as P

# Attach types newer than the uapi enum in this package (linux/bpf.h values).
BPF_NETFILTER = 45
BPF_TCX_INGRESS = 46
BPF_TCX_EGRESS = 47
BPF_TRACE_UPROBE_MULTI = 48

_ATTACH_NAMES_EXTRA = {
    BPF_NETFILTER: "netfilter",
    BPF_TCX_INGRESS: "tcx_ingress",
    BPF_TCX_EGRESS: "tcx_egress",
    BPF_TRACE_UPROBE_MULTI: "trace_uprobe_multi",
}


@dataclass(frozen=True)
class SectionDef:
    """One entry of the section table.

    ``attachable``: libbpf_attach_type_by_name accepts the name (libbpf's
    SEC_ATTACHABLE). ``windows_only``: only eBPF for Windows has this name.
    """

    pattern: str
    prog_type: int
    attach_type: int
    attachable: bool = False
    windows_only: bool = False

    def matches(self, name: str) -> bool:
        if self.pattern.endswith("+"):
            prefix = self.pattern[:-1]
            return name == prefix or name.startswith(prefix + "/")
        return name == self.pattern


def _d(pattern: str, prog: int, attach: int = 0, attachable: bool = False) -> SectionDef:
    return SectionDef(pattern, int(prog), int(attach), attachable)


def _w(pattern: str, prog: int, attach: int) -> SectionDef:
    return SectionDef(pattern, prog, attach, True, True)


_BASE = win.WINDOWS_ONLY_BASE

# Windows-only names come first: "cgroup/recv_accept4" must not fall to a Linux prefix.
SECTION_DEFS: tuple[SectionDef, ...] = (
    _w("bind", win.INTERNAL_PROG_BIND, _BASE + 2),
    _w("cgroup/recv_accept4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, _BASE + 5),
    _w("cgroup/recv_accept6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, _BASE + 6),
    _w("cgroup/connect_authorization4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, _BASE + 12),
    _w("cgroup/connect_authorization6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, _BASE + 13),
    _w("cgroup/listen4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, _BASE + 16),
    _w("cgroup/listen6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, _BASE + 17),
    _w("process", win.INTERNAL_PROG_PROCESS, _BASE + 11),
    _w("sample", win.INTERNAL_PROG_SAMPLE, _BASE + 8),
    _w("xdp_test", P.BPF_PROG_TYPE_XDP, A.BPF_XDP),
    # libbpf's table (Linux).
    _d("socket", P.BPF_PROG_TYPE_SOCKET_FILTER),
    _d("sk_reuseport/migrate", P.BPF_PROG_TYPE_SK_REUSEPORT,
       A.BPF_SK_REUSEPORT_SELECT_OR_MIGRATE, True),
    _d("sk_reuseport", P.BPF_PROG_TYPE_SK_REUSEPORT, A.BPF_SK_REUSEPORT_SELECT, True),
    _d("kprobe+", P.BPF_PROG_TYPE_KPROBE),
    _d("uprobe+", P.BPF_PROG_TYPE_KPROBE),
    _d("uprobe.s+", P.BPF_PROG_TYPE_KPROBE),
    _d("kretprobe+", P.BPF_PROG_TYPE_KPROBE),
    _d("uretprobe+", P.BPF_PROG_TYPE_KPROBE),
    _d("uretprobe.s+", P.BPF_PROG_TYPE_KPROBE),
    _d("kprobe.multi+", P.BPF_PROG_TYPE_KPROBE, A.BPF_TRACE_KPROBE_MULTI),
    _d("kretprobe.multi+", P.BPF_PROG_TYPE_KPROBE, A.BPF_TRACE_KPROBE_MULTI),
    _d("uprobe.multi+", P.BPF_PROG_TYPE_KPROBE, BPF_TRACE_UPROBE_MULTI),
    _d("uretprobe.multi+", P.BPF_PROG_TYPE_KPROBE, BPF_TRACE_UPROBE_MULTI),
    _d("ksyscall+", P.BPF_PROG_TYPE_KPROBE),
    _d("kretsyscall+", P.BPF_PROG_TYPE_KPROBE),
    _d("usdt+", P.BPF_PROG_TYPE_KPROBE),
    _d("tc/ingress", P.BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_INGRESS),
    _d("tc/egress", P.BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_EGRESS),
    _d("tcx/ingress", P.BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_INGRESS),
    _d("tcx/egress", P.BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_EGRESS),
    _d("tc", P.BPF_PROG_TYPE_SCHED_CLS),
    _d("classifier", P.BPF_PROG_TYPE_SCHED_CLS),
    _d("action", P.BPF_PROG_TYPE_SCHED_ACT),
    _d("tracepoint+", P.BPF_PROG_TYPE_TRACEPOINT),
    _d("tp+", P.BPF_PROG_TYPE_TRACEPOINT),
    _d("raw_tracepoint+", P.BPF_PROG_TYPE_RAW_TRACEPOINT),
    _d("raw_tp+", P.BPF_PROG_TYPE_RAW_TRACEPOINT),
    _d("raw_tracepoint.w+", P.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE),
    _d("raw_tp.w+", P.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE),
    _d("tp_btf+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_RAW_TP),
    _d("fentry+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_FENTRY),
    _d("fmod_ret+", P.BPF_PROG_TYPE_TRACING, A.BPF_MODIFY_RETURN),
    _d("fexit+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_FEXIT),
    _d("fentry.s+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_FENTRY),
    _d("fmod_ret.s+", P.BPF_PROG_TYPE_TRACING, A.BPF_MODIFY_RETURN),
    _d("fexit.s+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_FEXIT),
    _d("freplace+", P.BPF_PROG_TYPE_EXT),
    _d("lsm+", P.BPF_PROG_TYPE_LSM, A.BPF_LSM_MAC),
    _d("lsm.s+", P.BPF_PROG_TYPE_LSM, A.BPF_LSM_MAC),
    _d("lsm_cgroup+", P.BPF_PROG_TYPE_LSM, A.BPF_LSM_CGROUP),
    _d("iter+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_ITER),
    _d("iter.s+", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_ITER),
    _d("syscall", P.BPF_PROG_TYPE_SYSCALL),
    _d("xdp.frags/devmap", P.BPF_PROG_TYPE_XDP, A.BPF_XDP_DEVMAP),
    _d("xdp/devmap", P.BPF_PROG_TYPE_XDP, A.BPF_XDP_DEVMAP, True),
    _d("xdp.frags/cpumap", P.BPF_PROG_TYPE_XDP, A.BPF_XDP_CPUMAP),
    _d("xdp/cpumap", P.BPF_PROG_TYPE_XDP, A.BPF_XDP_CPUMAP, True),
    _d("xdp.frags", P.BPF_PROG_TYPE_XDP, A.BPF_XDP),
    _d("xdp", P.BPF_PROG_TYPE_XDP, A.BPF_XDP, True),
    _d("perf_event", P.BPF_PROG_TYPE_PERF_EVENT),
    _d("lwt_in", P.BPF_PROG_TYPE_LWT_IN),
    _d("lwt_out", P.BPF_PROG_TYPE_LWT_OUT),
    _d("lwt_xmit", P.BPF_PROG_TYPE_LWT_XMIT),
    _d("lwt_seg6local", P.BPF_PROG_TYPE_LWT_SEG6LOCAL),
    _d("sockops", P.BPF_PROG_TYPE_SOCK_OPS, A.BPF_CGROUP_SOCK_OPS, True),
    _d("sk_skb/stream_parser", P.BPF_PROG_TYPE_SK_SKB, A.BPF_SK_SKB_STREAM_PARSER, True),
    _d("sk_skb/stream_verdict", P.BPF_PROG_TYPE_SK_SKB, A.BPF_SK_SKB_STREAM_VERDICT, True),
    _d("sk_skb", P.BPF_PROG_TYPE_SK_SKB),
    _d("sk_msg", P.BPF_PROG_TYPE_SK_MSG, A.BPF_SK_MSG_VERDICT, True),
    _d("lirc_mode2", P.BPF_PROG_TYPE_LIRC_MODE2, A.BPF_LIRC_MODE2, True),
    _d("flow_dissector", P.BPF_PROG_TYPE_FLOW_DISSECTOR, A.BPF_FLOW_DISSECTOR, True),
    _d("cgroup_skb/ingress", P.BPF_PROG_TYPE_CGROUP_SKB, A.BPF_CGROUP_INET_INGRESS, True),
    _d("cgroup_skb/egress", P.BPF_PROG_TYPE_CGROUP_SKB, A.BPF_CGROUP_INET_EGRESS, True),
    _d("cgroup/skb", P.BPF_PROG_TYPE_CGROUP_SKB),
    _d("cgroup/sock_create", P.BPF_PROG_TYPE_CGROUP_SOCK, A.BPF_CGROUP_INET_SOCK_CREATE, True),
    _d("cgroup/sock_release", P.BPF_PROG_TYPE_CGROUP_SOCK, A.BPF_CGROUP_INET_SOCK_RELEASE,
       True),
    _d("cgroup/sock", P.BPF_PROG_TYPE_CGROUP_SOCK, A.BPF_CGROUP_INET_SOCK_CREATE, True),
    _d("cgroup/post_bind4", P.BPF_PROG_TYPE_CGROUP_SOCK, A.BPF_CGROUP_INET4_POST_BIND, True),
    _d("cgroup/post_bind6", P.BPF_PROG_TYPE_CGROUP_SOCK, A.BPF_CGROUP_INET6_POST_BIND, True),
    _d("cgroup/bind4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET4_BIND, True),
    _d("cgroup/bind6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET6_BIND, True),
    _d("cgroup/connect4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET4_CONNECT, True),
    _d("cgroup/connect6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET6_CONNECT, True),
    _d("cgroup/sendmsg4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_UDP4_SENDMSG, True),
    _d("cgroup/sendmsg6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_UDP6_SENDMSG, True),
    _d("cgroup/recvmsg4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_UDP4_RECVMSG, True),
    _d("cgroup/recvmsg6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_UDP6_RECVMSG, True),
    _d("cgroup/getpeername4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET4_GETPEERNAME,
       True),
    _d("cgroup/getpeername6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET6_GETPEERNAME,
       True),
    _d("cgroup/getsockname4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET4_GETSOCKNAME,
       True),
    _d("cgroup/getsockname6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET6_GETSOCKNAME,
       True),
    _d("cgroup/sysctl", P.BPF_PROG_TYPE_CGROUP_SYSCTL, A.BPF_CGROUP_SYSCTL, True),
    _d("cgroup/getsockopt", P.BPF_PROG_TYPE_CGROUP_SOCKOPT, A.BPF_CGROUP_GETSOCKOPT, True),
    _d("cgroup/setsockopt", P.BPF_PROG_TYPE_CGROUP_SOCKOPT, A.BPF_CGROUP_SETSOCKOPT, True),
    _d("cgroup/dev", P.BPF_PROG_TYPE_CGROUP_DEVICE, A.BPF_CGROUP_DEVICE, True),
    _d("struct_ops+", P.BPF_PROG_TYPE_STRUCT_OPS),
    _d("struct_ops.s+", P.BPF_PROG_TYPE_STRUCT_OPS),
    _d("sk_lookup", P.BPF_PROG_TYPE_SK_LOOKUP, A.BPF_SK_LOOKUP, True),
    _d("netfilter", P.BPF_PROG_TYPE_NETFILTER, BPF_NETFILTER),
)


#: Section names of program types a host registered (hooks.registry),
#: looked up before the built-in table.
_REGISTERED_DEFS: list[SectionDef] = []


def register_section_defs(definitions: list[SectionDef], type_name: str) -> None:
    """Add a registered program type's section names, all or none; EEXIST
    when a name already selects a program type (or would take over names
    that do)."""
    for i, definition in enumerate(definitions):
        probe = definition.pattern.removesuffix("+")
        for existing in (*_REGISTERED_DEFS, *SECTION_DEFS, *definitions[:i]):
            known = existing.pattern.removesuffix("+")
            shadows = definition.pattern.endswith("+") and known.startswith(probe + "/")
            if known == probe or existing.matches(probe) or shadows:
                raise LibbpfError(errno.EEXIST, f"section name {definition.pattern!r} "
                                                f"already selects program type "
                                                f"{existing.prog_type}")
    _REGISTERED_DEFS.extend(definitions)
    for definition in definitions:
        _WINDOWS_PROG_NAMES[definition.prog_type] = type_name


def section_def(name: str) -> SectionDef | None:
    """The table entry ``name`` selects, or None for an unknown section name."""
    for definition in (*_REGISTERED_DEFS, *SECTION_DEFS):
        if definition.matches(name):
            return definition
    return None


def libbpf_prog_type_by_name(name: str) -> tuple[int, int]:
    """``(prog_type, expected_attach_type)`` for a section name; ESRCH if unknown."""
    definition = section_def(name)
    if definition is None:
        raise LibbpfError(errno.ESRCH, f"failed to guess program type from section {name!r}")
    return definition.prog_type, definition.attach_type


def libbpf_attach_type_by_name(name: str) -> int:
    """The attach type of an attachable section name; EINVAL otherwise."""
    definition = section_def(name)
    if definition is None:
        raise LibbpfError(errno.EINVAL, f"failed to guess attach type from section {name!r}")
    if not definition.attachable:
        raise LibbpfError(errno.EINVAL, f"section {name!r} is not attachable")
    return definition.attach_type


_WINDOWS_PROG_NAMES: dict[int, str] = {
    win.INTERNAL_PROG_BIND: "bind",
    win.INTERNAL_PROG_PROCESS: "process",
    win.INTERNAL_PROG_SAMPLE: "sample",
}


def libbpf_bpf_prog_type_str(prog_type: int) -> str | None:
    """libbpf's lowercase name of a program type (``"xdp"``), None if unknown."""
    if prog_type in _WINDOWS_PROG_NAMES:
        return _WINDOWS_PROG_NAMES[prog_type]
    try:
        return BpfProgType(prog_type).name.removeprefix("BPF_PROG_TYPE_").lower()
    except ValueError:
        return None


def libbpf_bpf_map_type_str(map_type: int) -> str | None:
    """libbpf's lowercase name of a map type (``"hash"``), None if unknown."""
    try:
        return BpfMapType(map_type).name.removeprefix("BPF_MAP_TYPE_").lower()
    except ValueError:
        return None


def libbpf_bpf_attach_type_str(attach_type: int) -> str | None:
    """libbpf's lowercase name of an attach type (``"cgroup_inet4_connect"``), None if unknown."""
    if attach_type in _ATTACH_NAMES_EXTRA:
        return _ATTACH_NAMES_EXTRA[attach_type]
    if attach_type >= _BASE:
        entry = win.ATTACH_TYPES.get(attach_type - _BASE)
        return entry[0] if entry else None
    try:
        return A(attach_type).name.removeprefix("BPF_").lower()
    except ValueError:
        return None


__all__ = [
    "SECTION_DEFS",
    "SectionDef",
    "libbpf_attach_type_by_name",
    "libbpf_bpf_attach_type_str",
    "libbpf_bpf_map_type_str",
    "libbpf_bpf_prog_type_str",
    "libbpf_prog_type_by_name",
    "register_section_defs",
    "section_def",
]
