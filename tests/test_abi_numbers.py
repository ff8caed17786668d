"""The numbering tables of both ABIs: every row of shared/reference/ABI.md
(written out here as the facts the tests check), unknown numbers refused,
and Linux's helper list against the system's linux/bpf.h when present."""

from __future__ import annotations

import errno
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from libbpf_compat.abi import (
    internal_attach_type,
    internal_helper,
    internal_map_flags,
    internal_map_type,
    internal_prog_type,
)
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers import HELPER_IDS, helper_by_internal, helper_by_name
from libbpf_compat.helpers.ids import LINUX_HELPER_NAMES
from libbpf_compat.uapi import BPF_F_NO_PREALLOC
from libbpf_compat.uapi import BpfAttachType as A
from libbpf_compat.uapi import BpfMapType as M
from libbpf_compat.uapi import BpfProgType as P

# (name, Linux id, Windows id) for helpers both platforms have
SHARED_HELPERS = [
    ("map_lookup_elem", 1, 1), ("map_update_elem", 2, 2), ("map_delete_elem", 3, 3),
    ("ktime_get_ns", 5, 9), ("get_prandom_u32", 7, 6), ("get_smp_processor_id", 8, 8),
    ("tail_call", 12, 5), ("get_current_pid_tgid", 14, 19), ("perf_event_output", 25, 32),
    ("csum_diff", 28, 10), ("get_socket_cookie", 46, 26), ("redirect_map", 51, 35),
    ("map_push_elem", 87, 16), ("map_pop_elem", 88, 17), ("map_peek_elem", 89, 18),
    ("ktime_get_boot_ns", 125, 7), ("ringbuf_output", 130, 11),
]
WINDOWS_ONLY_HELPERS = [
    ("map_lookup_and_delete_elem", 4), ("trace_printk2", 12), ("trace_printk5", 15),
    ("get_current_logon_id", 20), ("is_current_admin", 21), ("memcpy_s", 22),
    ("memcmp_s", 23), ("memset", 24), ("memmove_s", 25), ("strncpy_s", 27),
    ("strncat_s", 28), ("strnlen_s", 29), ("ktime_get_boot_ms", 30), ("ktime_get_ms", 31),
    ("get_current_process_start_key", 33), ("get_current_thread_create_time", 34),
]
LINUX_ONLY_HELPERS = [
    ("probe_read", 4), ("trace_printk", 6), ("get_current_uid_gid", 15),
    ("get_current_comm", 16), ("xdp_adjust_meta", 54), ("xdp_adjust_tail", 65),
    ("spin_lock", 93), ("spin_unlock", 94), ("probe_read_user", 112),
    ("probe_read_kernel", 113), ("probe_read_user_str", 114), ("probe_read_kernel_str", 115),
    ("ringbuf_reserve", 131), ("ringbuf_submit", 132), ("ringbuf_discard", 133),
    ("ringbuf_query", 134), ("snprintf", 165), ("loop", 181),
]
# (Linux map type, Windows map type)
MAP_TYPES = [(1, 1), (2, 2), (3, 3), (4, 14), (5, 4), (6, 5), (9, 8), (10, 11), (11, 9),
             (12, 7), (13, 6), (17, 16), (22, 10), (23, 12), (27, 13)]


@pytest.mark.parametrize(("name", "linux", "win"), SHARED_HELPERS)
def test_shared_helpers_map_to_the_linux_id(name: str, linux: int, win: int) -> None:
    assert internal_helper("linux", linux) == linux
    assert internal_helper("windows", win) == linux
    helper = helper_by_name(f"bpf_{name}")
    assert helper is not None and (helper.linux, helper.windows) == (linux, win)


@pytest.mark.parametrize(("name", "win"), WINDOWS_ONLY_HELPERS)
def test_windows_only_helpers_get_reserved_internal_ids(name: str, win: int) -> None:
    internal = internal_helper("windows", win)
    assert internal >= len(LINUX_HELPER_NAMES)
    helper = helper_by_internal(internal)
    assert helper is not None and helper.name == name and helper.linux is None


@pytest.mark.parametrize(("name", "linux"), LINUX_ONLY_HELPERS)
def test_linux_only_helpers(name: str, linux: int) -> None:
    helper = helper_by_name(name)
    assert helper is not None and helper.linux == linux and helper.windows is None


def test_program_type_specific_windows_helpers() -> None:
    sock_addr, sock_ops, process, xdp_test = 3, 4, 6, 1
    redirect = internal_helper("windows", 0x10001, sock_addr)
    flow = internal_helper("windows", 0x10000, sock_ops)
    image = internal_helper("windows", 0x10000, process)
    assert len({redirect, flow, image}) == 3
    assert helper_by_internal(redirect) == helper_by_name("sock_addr_set_redirect_context")
    assert internal_helper("windows", 0x10000, xdp_test) == 44  # bpf_xdp_adjust_head
    with pytest.raises(LibbpfError) as info:
        internal_helper("windows", 0x10001)  # which program type?
    assert info.value.errno == errno.ENOENT


def test_internal_ids_are_unique() -> None:
    assert len({h.internal for h in HELPER_IDS}) == len(HELPER_IDS)
    assert len({h.name for h in HELPER_IDS}) == len(HELPER_IDS)


@pytest.mark.parametrize(("linux", "win"), MAP_TYPES)
def test_map_types(linux: int, win: int) -> None:
    assert internal_map_type("windows", win) == linux
    assert internal_map_type("linux", linux) == linux


def test_program_and_attach_types() -> None:
    assert internal_prog_type("windows", 1) == P.BPF_PROG_TYPE_XDP
    assert internal_prog_type("windows", 3) == P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR
    assert internal_prog_type("windows", 4) == P.BPF_PROG_TYPE_SOCK_OPS
    windows_only = {internal_prog_type("windows", t) for t in (2, 6, 999)}
    assert len(windows_only) == 3 and not windows_only & {int(p) for p in P}
    assert internal_attach_type("windows", 3) == A.BPF_CGROUP_INET4_CONNECT
    assert internal_attach_type("windows", 14) == A.BPF_CGROUP_INET4_BIND
    assert internal_attach_type("windows", 1) == A.BPF_XDP
    assert internal_attach_type("windows", 5) not in {int(a) for a in A}


@pytest.mark.parametrize(("call", "value"), [
    (internal_map_type, 15), (internal_map_type, 99), (internal_prog_type, 5),
    (internal_attach_type, 9), (internal_helper, 36), (internal_helper, 0),
])
def test_unknown_windows_numbers_are_refused(call: Callable[[str, int], int],
                                            value: int) -> None:
    with pytest.raises(LibbpfError, match=f"{value:#x}|{value}"):
        call("windows", value)


def test_unknown_abi_is_refused() -> None:
    with pytest.raises(LibbpfError) as info:
        internal_map_type("macos", 1)
    assert info.value.errno == errno.EINVAL


def test_linux_helper_names_match_the_system_header() -> None:
    header = Path("/usr/include/linux/bpf.h")
    if not header.exists():
        pytest.skip("no /usr/include/linux/bpf.h on this machine to compare with")
    names = re.findall(r"^\s*FN\((\w+)", header.read_text(), re.M)
    if not names:
        names = [n for n, _ in re.findall(r"^\s*FN\((\w+),\s*(\d+)", header.read_text(), re.M)]
    count = min(len(names), len(LINUX_HELPER_NAMES))
    assert count > 200
    assert list(LINUX_HELPER_NAMES[:count]) == names[:count]


def test_windows_lpm_tries_need_no_preallocation_flag() -> None:
    """eBPF for Windows has no BPF_F_NO_PREALLOC; its LPM tries are what
    Linux calls unpreallocated, so the flag is implied, and Linux's rule stays."""
    lpm = int(M.BPF_MAP_TYPE_LPM_TRIE)
    assert internal_map_flags("windows", lpm, 0) == BPF_F_NO_PREALLOC
    assert internal_map_flags("linux", lpm, 0) == 0
    assert internal_map_flags("windows", int(M.BPF_MAP_TYPE_HASH), 0) == 0
