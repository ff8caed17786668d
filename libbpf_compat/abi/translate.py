"""Translating a program's platform numbers to the internal (Linux) ABI.

An object is built against Linux headers ("linux") or eBPF-for-Windows
headers ("windows"); the loader renumbers its map types, program and attach
types and helper calls with these functions. Unknown numbers raise
LibbpfError naming the number and the ABI.
"""

from __future__ import annotations

import errno
from typing import Literal

from libbpf_compat.abi import windows
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers.ids import internal_helper_id
from libbpf_compat.uapi import BPF_F_NO_PREALLOC, BpfAttachType, BpfMapType, BpfProgType

Abi = Literal["linux", "windows"]
ABIS: tuple[Abi, ...] = ("linux", "windows")


def check_abi(abi: str) -> Abi:
    if abi == "linux":
        return "linux"
    if abi == "windows":
        return "windows"
    raise LibbpfError(errno.EINVAL, f"unknown ABI {abi!r}: expected 'linux' or 'windows'")


def _internal(abi: str, value: int, linux_values: set[int], windows_table: dict[int, int],
              what: str) -> int:
    if check_abi(abi) == "linux":
        if value in linux_values:
            return value
    elif value in windows_table:
        return windows_table[value]
    raise LibbpfError(errno.EINVAL, f"unknown {abi} {what} {value}")


_LINUX_MAP_TYPES = {int(m) for m in BpfMapType}
_LINUX_PROG_TYPES = {int(p) for p in BpfProgType}
_LINUX_ATTACH_TYPES = {int(a) for a in BpfAttachType}
_WINDOWS_ATTACH = {number: internal for number, (_, internal) in windows.ATTACH_TYPES.items()}


def internal_map_type(abi: str, map_type: int) -> int:
    return _internal(abi, map_type, _LINUX_MAP_TYPES, windows.MAP_TYPES, "map type")


def internal_map_flags(abi: str, map_type: int, map_flags: int) -> int:
    """Map flags in the internal ABI for a map of internal type ``map_type``.
    eBPF for Windows has no preallocation flag: its LPM tries are allocated
    on demand, which Linux spells BPF_F_NO_PREALLOC (and requires)."""
    if check_abi(abi) == "windows" and map_type == BpfMapType.BPF_MAP_TYPE_LPM_TRIE:
        return map_flags | BPF_F_NO_PREALLOC
    return map_flags


def internal_prog_type(abi: str, prog_type: int) -> int:
    return _internal(abi, prog_type, _LINUX_PROG_TYPES, windows.PROG_TYPES, "program type")


def internal_attach_type(abi: str, attach_type: int) -> int:
    return _internal(abi, attach_type, _LINUX_ATTACH_TYPES, _WINDOWS_ATTACH, "attach type")


def internal_helper(abi: str, helper_id: int, windows_prog_type: int | None = None) -> int:
    """The internal ID of helper ``helper_id`` as a program of ``abi`` numbers it."""
    return internal_helper_id(check_abi(abi), helper_id, windows_prog_type)
