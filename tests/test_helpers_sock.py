"""bpf_get_socket_cookie on the sock_addr and sock_ops hooks (the host's
cookie for its socket, or a new one per request) and eBPF-for-Windows'
bpf_sock_addr_set_redirect_context, whose bytes come back in the connect
result."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.sock_addr import SockAddrHook
from libbpf_compat.hooks.sock_ops import SockOpsHook
from libbpf_compat.libbpf_maps import bpf_map_lookup_elem
from libbpf_compat.object import BpfObject

FIXTURES = Path(__file__).parent / "fixtures" / "helpers"
ABIS = ("linux", "windows")


def loaded(abi: str) -> BpfObject:
    obj = lb.bpf_object__open_file(FIXTURES / f"sock_cookie.{abi}.o")
    obj.load()
    return obj


def cell(obj: BpfObject, map_name: str, key: int) -> int:
    raw = bpf_map_lookup_elem(lb.bpf_object__find_map_fd_by_name(obj, map_name),
                              struct.pack("<I", key))
    return int(struct.unpack("<q", raw)[0])


def program(obj: BpfObject, name: str):  # type: ignore[no-untyped-def]
    prog = obj.find_program_by_name(name)
    assert prog is not None
    return prog


@pytest.mark.parametrize("abi", ABIS)
def test_socket_cookie_from_the_hooks(abi: str) -> None:
    obj = loaded(abi)
    addr_hook, ops_hook = SockAddrHook(), SockOpsHook()
    addr_hook.attach(program(obj, "cookie_connect4"))
    ops_hook.attach(program(obj, "cookie_sock_ops"))
    result = addr_hook.connect("10.0.0.1", 443, socket_cookie=0x1234_5678_9ABC)
    assert result.socket_cookie == cell(obj, "cookies", 0) == 0x1234_5678_9ABC
    ops_hook.established("10.0.0.2", 5000, "10.0.0.1", 443, socket_cookie=0x1234_5678_9ABC)
    assert cell(obj, "cookies", 1) == 0x1234_5678_9ABC
    # without the host's cookie each request is a new socket with its own cookie
    first = addr_hook.connect("10.0.0.1", 443).socket_cookie
    assert first == cell(obj, "cookies", 0) and first != 0
    second = addr_hook.connect("10.0.0.1", 443).socket_cookie
    assert second not in (0, first)
    with pytest.raises(LibbpfError) as info:
        addr_hook.connect("10.0.0.1", 443, socket_cookie=0)
    assert info.value.errno == errno.EINVAL
    obj.close()


def test_redirect_context_comes_back_from_a_windows_connect() -> None:
    obj = loaded("windows")
    hook = SockAddrHook()
    hook.attach(program(obj, "cookie_connect4"))
    assert hook.connect("10.0.0.1", 443).redirect_context is None
    result = hook.connect("10.0.0.1", 8080)
    assert result.redirect_context == b"proxy:42"
    assert [cell(obj, "results", i) for i in range(3)] == [0, -errno.EINVAL, -errno.E2BIG]
    obj.close()


def test_redirect_context_is_for_connects_only() -> None:
    obj = loaded("windows")
    hook = SockAddrHook()
    hook.attach(program(obj, "context_on_accept"))
    result = hook.recv_accept("10.0.0.1", 8080)
    assert result.redirect_context is None
    assert cell(obj, "results", 3) == -errno.EINVAL
    obj.close()
