"""Linux's TCP fields of ``struct bpf_sock_ops`` on the sock_ops hook: what the host's
TcpStats says reaches a program (sent back through a ring buffer), 0 without them;
sk_txhash is writable and bpf_sock_ops_cb_flags_set sets the connection's callback
flags for later events; the verifier (and the Linux kernel, where bpf() is allowed)
accepts the reads and refuses writes to read-only fields."""

from __future__ import annotations

import dataclasses
import errno
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import libbpf as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers import helper_by_name
from libbpf_compat.hooks.contexts import SOCK_OPS_LINUX, SOCK_OPS_NATIVE, SOCK_OPS_WINDOWS
from libbpf_compat.hooks.sock_ops import BPF_TCP_CLOSE, SockOpsHook, TcpStats
from libbpf_compat.object import BpfObject, Program
from libbpf_compat.ringbuf import ring_buffer, ring_buffer__consume, ring_buffer__new

FIXTURE = Path(__file__).parent / "fixtures" / "hooks" / "sock_ops_tcp.o"
#: struct tcp_sample of sock_ops_tcp.c: op, is_fullsock, state, cb_flags, the u32 TCP
#: fields from snd_cwnd to sk_txhash, pad, bytes_received, bytes_acked
SAMPLE = struct.Struct("<4I21IIQQ")
SAMPLE_FIELDS = ("op", "is_fullsock", "state", "cb_flags", "snd_cwnd", "srtt_us", "rtt_min",
                 "snd_ssthresh", "rcv_nxt", "snd_nxt", "snd_una", "mss_cache", "ecn_flags",
                 "rate_delivered", "rate_interval_us", "packets_out", "retrans_out",
                 "total_retrans", "segs_in", "data_segs_in", "segs_out", "data_segs_out",
                 "lost_out", "sacked_out", "sk_txhash", "pad", "bytes_received",
                 "bytes_acked")
BPF_SOCK_OPS_RTT_CB_FLAG = 1 << 3
BPF_SOCK_OPS_STATE_CB_FLAG = 1 << 2
ACTIVE_ESTABLISHED_CB = 4
STATE_CB = 10

#: every stat distinct, the u64 ones past 32 bits
STATS = TcpStats(**{f.name: (0x1_0000_0000 + i if f.name.startswith("bytes_") else 1000 + i)
                    for i, f in enumerate(dataclasses.fields(TcpStats))})


def open_only(*names: str) -> BpfObject:
    obj = lb.bpf_object__open_file(FIXTURE)
    for p in obj.programs:
        p.autoload = p.name in names
    return obj


@pytest.fixture
def obj() -> Iterator[BpfObject]:
    o = open_only("tcp_sample", "set_cb_flags", "rehash")
    o.load()
    yield o
    o.close()


def program(obj: BpfObject, name: str) -> Program:
    prog = obj.find_program_by_name(name)
    assert prog is not None
    return prog


class Samples:
    def __init__(self, obj: BpfObject) -> None:
        self.seen: list[dict[str, int]] = []
        self.ring: ring_buffer = ring_buffer__new(obj.find_map_fd_by_name("samples"),
                                                  self._sample, None)

    def _sample(self, ctx: object, data: bytes, size: int) -> int:
        self.seen.append(dict(zip(SAMPLE_FIELDS, SAMPLE.unpack(bytes(data[:SAMPLE.size])),
                                  strict=True)))
        return 0

    def take(self) -> list[dict[str, int]]:
        ring_buffer__consume(self.ring)
        out, self.seen = self.seen, []
        return out


def configure(obj: BpfObject, flags: int, enable: bool = True) -> None:
    fd = obj.find_map_fd_by_name("config")
    lb.bpf_map_update_elem(fd, struct.pack("<I", 0), struct.pack("<I", flags & 0xFFFFFFFF))
    lb.bpf_map_update_elem(fd, struct.pack("<I", 1), struct.pack("<I", int(enable)))


def last_set_result(obj: BpfObject) -> int:
    fd = obj.find_map_fd_by_name("set_result")
    return int(struct.unpack("<q", lb.bpf_map_lookup_elem(fd, struct.pack("<I", 0)))[0])


def test_layouts_follow_linux_uapi() -> None:
    # offsets of include/uapi/linux/bpf.h; the Windows layout has none of them
    expected = {"is_fullsock": 72, "snd_cwnd": 76, "srtt_us": 80, "bpf_sock_ops_cb_flags": 84,
                "state": 88, "rtt_min": 92, "snd_ssthresh": 96, "rcv_nxt": 100,
                "snd_nxt": 104, "snd_una": 108, "mss_cache": 112, "ecn_flags": 116,
                "rate_delivered": 120, "rate_interval_us": 124, "packets_out": 128,
                "retrans_out": 132, "total_retrans": 136, "segs_in": 140,
                "data_segs_in": 144, "segs_out": 148, "data_segs_out": 152,
                "lost_out": 156, "sacked_out": 160, "sk_txhash": 164,
                "bytes_received": 168, "bytes_acked": 176}
    for name, offset in expected.items():
        f = SOCK_OPS_LINUX.field(name)
        assert f.offset == offset
        assert f.size == (8 if name.startswith("bytes_") else 4)
        assert f.writable == (name == "sk_txhash")
        assert SOCK_OPS_NATIVE.field(name).size == f.size
        with pytest.raises(KeyError):
            SOCK_OPS_WINDOWS.field(name)
    assert SOCK_OPS_WINDOWS.size == 64


def test_host_stats_reach_the_program(obj: BpfObject) -> None:
    hook = SockOpsHook()
    hook.attach(program(obj, "tcp_sample"))
    samples = Samples(obj)
    result = hook.established("10.0.0.2", 40000, "10.0.0.1", 443, tcp=STATS)
    (seen,) = samples.take()
    for f in dataclasses.fields(TcpStats):
        assert seen[f.name] == getattr(STATS, f.name), f.name
    assert seen["op"] == ACTIVE_ESTABLISHED_CB and seen["is_fullsock"] == 1
    assert seen["cb_flags"] == 0 and result.cb_flags == 0
    assert result.sk_txhash == STATS.sk_txhash
    # without stats every TCP field reads 0
    hook.established("10.0.0.2", 40001, "10.0.0.1", 443)
    (seen,) = samples.take()
    assert all(seen[f.name] == 0 for f in dataclasses.fields(TcpStats))
    # a deleted connection: its last stats with state CLOSE
    closing = dataclasses.replace(STATS, srtt_us=12345 << 3)
    hook.deleted("10.0.0.2", 40000, "10.0.0.1", 443, tcp=closing)
    (seen,) = samples.take()
    assert seen["op"] == STATE_CB and seen["state"] == BPF_TCP_CLOSE
    assert seen["srtt_us"] >> 3 == 12345


def test_cb_flags_persist_for_the_connection(obj: BpfObject) -> None:
    hook = SockOpsHook()
    hook.attach(program(obj, "set_cb_flags"))
    hook.attach(program(obj, "tcp_sample"))
    samples = Samples(obj)
    configure(obj, BPF_SOCK_OPS_STATE_CB_FLAG | BPF_SOCK_OPS_RTT_CB_FLAG)
    first = hook.established("10.0.0.2", 40000, "10.0.0.1", 443, socket_cookie=77, tcp=STATS)
    want = BPF_SOCK_OPS_STATE_CB_FLAG | BPF_SOCK_OPS_RTT_CB_FLAG
    assert last_set_result(obj) == 0
    # the next program of the same event already reads them
    assert samples.take()[0]["cb_flags"] == want and first.cb_flags == want
    assert hook.cb_flags(77) == want
    # a later event of that connection (set_cb_flags only acts on established ones)
    configure(obj, 0, enable=False)
    later = hook.deleted("10.0.0.2", 40000, "10.0.0.1", 443, socket_cookie=77)
    assert samples.take()[0]["cb_flags"] == want and later.cb_flags == want
    # deleted: the connection's flags are gone
    assert hook.cb_flags(77) == 0
    # another connection does not see them
    hook.established("10.0.0.2", 40001, "10.0.0.1", 443, socket_cookie=78)
    assert samples.take()[0]["cb_flags"] == 0


def test_cb_flags_set_returns_the_bits_it_cannot_set(obj: BpfObject) -> None:
    # as Linux: the known bits are set, the unknown ones returned (an int)
    hook = SockOpsHook()
    hook.attach(program(obj, "set_cb_flags"))
    configure(obj, 0x180 | BPF_SOCK_OPS_RTT_CB_FLAG)
    result = hook.established("10.0.0.2", 40000, "10.0.0.1", 443, socket_cookie=5)
    assert last_set_result(obj) == 0x180
    assert result.cb_flags == BPF_SOCK_OPS_RTT_CB_FLAG
    configure(obj, -1)
    result = hook.established("10.0.0.2", 40000, "10.0.0.1", 443, socket_cookie=5)
    assert last_set_result(obj) == -0x80 and result.cb_flags == 0x7F
    # clearing them
    configure(obj, 0)
    result = hook.established("10.0.0.2", 40000, "10.0.0.1", 443, socket_cookie=5)
    assert last_set_result(obj) == 0 and result.cb_flags == 0 and hook.cb_flags(5) == 0


def test_cb_flags_set_is_a_sock_ops_helper() -> None:
    helper = helper_by_name("bpf_sock_ops_cb_flags_set")
    assert helper is not None and helper.linux == 59


def test_sk_txhash_is_writable(obj: BpfObject) -> None:
    hook = SockOpsHook()
    hook.attach(program(obj, "rehash"))
    hook.attach(program(obj, "tcp_sample"))
    samples = Samples(obj)
    result = hook.established("10.0.0.2", 40000, "10.0.0.1", 443, tcp=STATS)
    assert samples.take()[0]["sk_txhash"] == STATS.sk_txhash ^ 0x5A5A5A5A
    assert result.sk_txhash == STATS.sk_txhash ^ 0x5A5A5A5A


def test_bad_stats() -> None:
    with pytest.raises(LibbpfError) as info:
        TcpStats(srtt_us=1 << 32)
    assert info.value.errno == errno.EINVAL and "srtt_us" in str(info.value)
    with pytest.raises(LibbpfError) as info:
        TcpStats(bytes_acked=-1)
    assert info.value.errno == errno.EINVAL and "bytes_acked" in str(info.value)
    hook = SockOpsHook()
    with pytest.raises(LibbpfError) as info:
        hook.established("10.0.0.2", 1, "10.0.0.1", 2,
                         tcp={"srtt_us": 1})  # type: ignore[arg-type]
    assert info.value.errno == errno.EINVAL and "TcpStats" in str(info.value)


@pytest.mark.parametrize(("name", "offset"), [("write_srtt", 80), ("write_cb_flags", 84)])
def test_writes_to_read_only_fields_are_refused(name: str, offset: int) -> None:
    obj = open_only(name)
    try:
        with pytest.raises(LibbpfError) as info:
            obj.load()
        assert info.value.errno == errno.EACCES
        assert f"offset+{offset}" in str(info.value) and "write" in str(info.value)
    finally:
        obj.close()


def test_the_kernel_agrees() -> None:
    kernel = pytest.importorskip("benchmarks.kernel_libbpf")
    why = kernel.unavailable()
    if why is not None:
        pytest.skip(why)
    for name in ("tcp_sample", "set_cb_flags", "rehash"):
        assert kernel.kernel_verify(str(FIXTURE), name).loaded, name
    for name in ("write_srtt", "write_cb_flags"):
        verdict = kernel.kernel_verify(str(FIXTURE), name)
        assert not verdict.loaded and "invalid bpf_context access" in verdict.log, name
