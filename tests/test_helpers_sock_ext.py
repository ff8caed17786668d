"""eBPF-for-Windows' socket program-type helpers on the sock_addr and
sock_ops hooks: bpf_sock_addr_get_network_context (what the host says of
the request's interface, per attach point) and bpf_sock_ops_get_flow_id
(the connection's flow id), from a clang-built Windows-ABI object."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers.ids import helper_by_name, internal_helper_id
from libbpf_compat.helpers.prototypes import helper_allowed
from libbpf_compat.hooks.sock_addr import NetworkContext, SockAddrHook
from libbpf_compat.hooks.sock_ops import SockOpsHook
from libbpf_compat.libbpf_maps import bpf_map_lookup_elem
from libbpf_compat.object import BpfObject
from libbpf_compat.uapi import BpfProgType

FIXTURE = Path(__file__).parent / "fixtures" / "helpers" / "sock_windows_ext.o"
ALL_ONES_32 = 0xFFFF_FFFF
ALL_ONES_64 = 0xFFFF_FFFF_FFFF_FFFF
FAILED = ALL_ONES_64  # -1, eBPF for Windows' generic error


def loaded() -> BpfObject:
    obj = lb.bpf_object__open_file(FIXTURE)
    obj.load()
    return obj


def cells(obj: BpfObject, map_name: str, base: int, count: int) -> list[int]:
    fd = lb.bpf_object__find_map_fd_by_name(obj, map_name)
    return [struct.unpack("<Q", bpf_map_lookup_elem(fd, struct.pack("<I", base + i)))[0]
            for i in range(count)]


def program(obj: BpfObject, name: str):  # type: ignore[no-untyped-def]
    prog = obj.find_program_by_name(name)
    assert prog is not None
    return prog


def test_ids_and_program_types() -> None:
    net = helper_by_name("bpf_sock_addr_get_network_context")
    flow = helper_by_name("bpf_sock_ops_get_flow_id")
    assert net is not None and flow is not None
    assert (net.linux, net.windows, net.windows_prog_type) == (None, 0x10002, 3)
    assert (flow.linux, flow.windows, flow.windows_prog_type) == (None, 0x10000, 4)
    assert internal_helper_id("windows", 0x10002, 3) == net.internal
    assert internal_helper_id("windows", 0x10000, 4) == flow.internal
    assert helper_allowed(net.internal, BpfProgType.BPF_PROG_TYPE_CGROUP_SOCK_ADDR)
    assert not helper_allowed(net.internal, BpfProgType.BPF_PROG_TYPE_SOCK_OPS)
    assert helper_allowed(flow.internal, BpfProgType.BPF_PROG_TYPE_SOCK_OPS)
    assert not helper_allowed(flow.internal, BpfProgType.BPF_PROG_TYPE_XDP)


def test_sockmap_helpers_only_where_linux_offers_them() -> None:
    """As Linux's func_protos: bpf_sock_map_update from sock_ops only, the msg helpers
    from sk_msg, bpf_override_return from kprobes (an XDP program calling
    bpf_sock_map_update is refused: "program of this type cannot use helper")."""
    allowed = {
        "sock_map_update": BpfProgType.BPF_PROG_TYPE_SOCK_OPS,
        "sock_hash_update": BpfProgType.BPF_PROG_TYPE_SOCK_OPS,
        "sk_redirect_map": BpfProgType.BPF_PROG_TYPE_SK_SKB,
        "msg_redirect_map": BpfProgType.BPF_PROG_TYPE_SK_MSG,
        "msg_apply_bytes": BpfProgType.BPF_PROG_TYPE_SK_MSG,
        "override_return": BpfProgType.BPF_PROG_TYPE_KPROBE,
        "perf_prog_read_value": BpfProgType.BPF_PROG_TYPE_PERF_EVENT,
    }
    for name, prog_type in allowed.items():
        helper = helper_by_name(name)
        assert helper is not None
        assert helper_allowed(helper.internal, prog_type), name
        for other in (BpfProgType.BPF_PROG_TYPE_XDP, BpfProgType.BPF_PROG_TYPE_SCHED_CLS,
                      BpfProgType.BPF_PROG_TYPE_TRACEPOINT):
            assert not helper_allowed(helper.internal, other), (name, other)


def test_network_context_per_attach_point() -> None:
    obj = loaded()
    hook = SockAddrHook()
    for name in ("net_authorize4", "net_accept4", "net_bind4", "net_connect4"):
        hook.attach(program(obj, name))
    wifi = NetworkContext(interface_type=71, tunnel_type=0, next_hop_interface_luid=0x77,
                          sub_interface_index=3)
    # connect_authorization knows all four fields; a Wi-Fi interface is refused
    assert not hook.connect_authorization("10.0.0.1", 443, network_context=wifi).allowed
    assert cells(obj, "net", 0, 8) == [0, 1, 71, 0, 0x77, 3, FAILED, 0]
    # the defaults: Ethernet, no tunnel, the next hop on the request's interface
    assert hook.connect_authorization("10.0.0.1", 443, interface_luid=0x1234).allowed
    assert cells(obj, "net", 0, 6) == [0, 1, 6, 0, 0x1234, 0]
    # recv_accept lacks the next hop, bind the next hop and the sub-interface
    tunnel = NetworkContext(interface_type=131, tunnel_type=19, next_hop_interface_luid=5,
                            sub_interface_index=9)
    assert hook.recv_accept("10.0.0.2", 5000, network_context=tunnel).allowed
    assert cells(obj, "net", 8, 8) == [0, 1, 131, 19, ALL_ONES_64, 9, FAILED, 0]
    assert hook.bind("0.0.0.0", 8000, network_context=tunnel).allowed
    assert cells(obj, "net", 16, 8) == [0, 1, 131, 19, ALL_ONES_64, ALL_ONES_32, FAILED, 0]
    # connect (the redirect layer, before route selection) has none
    assert hook.connect("10.0.0.1", 443, network_context=wifi).allowed
    assert cells(obj, "net", 24, 8) == [FAILED, 0, 0, 0, 0, 0, FAILED, 0]


def test_network_context_bad_input() -> None:
    hook = SockAddrHook()
    with pytest.raises(LibbpfError) as info:
        hook.connect_authorization("10.0.0.1", 443,
                                   network_context=NetworkContext(interface_type=-1))
    assert info.value.errno == errno.EINVAL and "interface_type" in str(info.value)
    with pytest.raises(LibbpfError) as info:
        hook.connect_authorization("10.0.0.1", 443, network_context=(6, 0))
    assert info.value.errno == errno.EINVAL and "network_context" in str(info.value)


def test_flow_id_from_sock_ops() -> None:
    obj = loaded()
    hook = SockOpsHook()
    hook.attach(program(obj, "flow_sock_ops"))
    result = hook.established("10.0.0.2", 5000, "10.0.0.1", 443, flow_id=0xF10_0000_0042)
    assert result.flow_id == cells(obj, "flows", 0, 1)[0] == 0xF10_0000_0042
    hook.deleted("10.0.0.2", 5000, "10.0.0.1", 443, flow_id=0xF10_0000_0042)
    assert cells(obj, "flows", 1, 1)[0] == 0xF10_0000_0042
    # without the host's flow id: the socket's cookie, one per connection
    first = hook.established("10.0.0.2", 5001, "10.0.0.1", 443, socket_cookie=99)
    assert first.flow_id == cells(obj, "flows", 0, 1)[0] == 99
    fresh = hook.established("10.0.0.2", 5002, "10.0.0.1", 443)
    assert fresh.flow_id == cells(obj, "flows", 0, 1)[0] not in (0, 99)
    # a connection without a flow
    hook.established("10.0.0.2", 5003, "10.0.0.1", 443, flow_id=0)
    assert cells(obj, "flows", 0, 1)[0] == 0
    with pytest.raises(LibbpfError) as info:
        hook.established("10.0.0.2", 5000, "10.0.0.1", 443, flow_id=-1)
    assert info.value.errno == errno.EINVAL and "flow id" in str(info.value)
