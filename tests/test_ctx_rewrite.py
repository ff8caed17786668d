"""Rewriting context accesses from a program's ABI layout to the native
hook context: which accesses are found, how they are mapped, and what is
refused (EACCES) as the kernel's context checks would."""

from __future__ import annotations

import errno

import pytest

from libbpf_compat import isa
from libbpf_compat.abi.ctx_rewrite import rewrite_context_accesses
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.contexts import XDP_LINUX, XDP_NATIVE, XDP_WINDOWS


def rewrite(text: str) -> str:
    code = isa.assemble(text, syntax="kernel")
    out = rewrite_context_accesses(code, XDP_LINUX, XDP_NATIVE, "test")
    return isa.disassemble(out, syntax="kernel")


def refused(text: str) -> LibbpfError:
    with pytest.raises(LibbpfError) as info:
        rewrite(text)
    assert info.value.errno == errno.EACCES
    return info.value


def test_pointer_fields_become_64_bit_loads_and_scalars_move() -> None:
    out = rewrite("""
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = *(u32 *)(r1 + 12)
        r5 = *(u16 *)(r1 + 16)
        r0 = 0
        exit
    """)
    assert out.splitlines()[:4] == [
        "r2 = *(u64 *)(r1 + 0)", "r3 = *(u64 *)(r1 + 8)",
        "r4 = *(u32 *)(r1 + 24)", "r5 = *(u16 *)(r1 + 28)"]


def test_copies_spills_and_fills_are_followed() -> None:
    out = rewrite("""
        r6 = r1
        *(u64 *)(r10 - 8) = r6
        r1 = 0
        r7 = *(u64 *)(r10 - 8)
        r2 = *(u32 *)(r7 + 4)
        r3 = *(u32 *)(r6 + 0)
        r0 = 0
        exit
    """).splitlines()
    assert out[4] == "r2 = *(u64 *)(r7 + 8)"
    assert out[5] == "r3 = *(u64 *)(r6 + 0)"


def test_non_context_memory_is_left_alone() -> None:
    text = """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r2 + 4)
        *(u32 *)(r10 - 4) = r3
        r0 = *(u32 *)(r10 - 4)
        exit
    """
    out = rewrite(text).splitlines()
    assert out[1:4] == ["r3 = *(u32 *)(r2 + 4)", "*(u32 *)(r10 - 4) = r3",
                        "r0 = *(u32 *)(r10 - 4)"]


def test_calls_clobber_argument_registers_and_callees_get_the_context() -> None:
    out = rewrite("""
        r6 = r1
        call 5
        r2 = *(u32 *)(r6 + 4)
        r1 = r6
        call pc+2
        r0 = 0
        exit
        r0 = *(u32 *)(r1 + 0)
        exit
    """).splitlines()
    assert out[2] == "r2 = *(u64 *)(r6 + 8)"
    assert out[7] == "r0 = *(u64 *)(r1 + 0)"


@pytest.mark.parametrize(("text", "words"), [
    ("r2 = *(u16 *)(r1 + 0)\nr0 = 0\nexit", "read whole"),
    ("r2 = *(u32 *)(r1 + 24)\nr0 = 0\nexit", "invalid access"),
    ("*(u32 *)(r1 + 12) = 1\nr0 = 0\nexit", "read-only"),
    ("r1 += 4\nr0 = *(u32 *)(r1 + 0)\nexit", "arithmetic"),
    ("if r2 == 0 goto +1\nr1 = 0\nr0 = *(u32 *)(r1 + 0)\nexit", "some paths"),
])
def test_refusals(text: str, words: str) -> None:
    assert words in str(refused(text))


def test_same_layout_is_untouched_and_windows_maps_to_native_offsets() -> None:
    code = isa.assemble("r2 = *(u64 *)(r1 + 8)\nr0 = *(u32 *)(r1 + 24)\nexit", syntax="kernel")
    assert rewrite_context_accesses(code, XDP_NATIVE, XDP_NATIVE) == code
    assert rewrite_context_accesses(code, XDP_WINDOWS, XDP_NATIVE) == code
