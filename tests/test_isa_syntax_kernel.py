"""The kernel-verifier / llvm-objdump syntax: spellings, PREVAIL forms, labels, errors."""

from __future__ import annotations

import errno

import pytest

from libbpf_compat.isa import AssemblerError, Instruction, assemble, decode, disassemble


def kasm(text: str) -> bytes:
    return assemble(text, "kernel")


# (text, bytes): llvm-objdump's and PREVAIL's spellings.
EXAMPLES = [
    ("r0 = *(u32 *)(r1 + 4)", "61 10 04 00 00 00 00 00"),
    ("w0 = *(u32 *)(r1 + 4)", "61 10 04 00 00 00 00 00"),  # llvm with alu32
    ("r0 = *(s16 *)(r1 + 4)", "89 10 04 00 00 00 00 00"),
    ("r0 = *(u8 *)(r1 - 4)", "71 10 fc ff 00 00 00 00"),
    ("r0 = *( u8 * )( r1 - 0x4 )", "71 10 fc ff 00 00 00 00"),
    ("*(u64 *)(r10 - 8) = r1", "7b 1a f8 ff 00 00 00 00"),
    ("*(u32 *)(r10 - 8) = w1", "63 1a f8 ff 00 00 00 00"),
    ("*(u32 *)(r10 - 8) = 5", "62 0a f8 ff 05 00 00 00"),
    ("if r1 > 0x10 goto +2", "25 01 02 00 10 00 00 00"),
    ("if r1 & 0x4 goto +1", "45 01 01 00 04 00 00 00"),
    ("if r1 &== 0x4 goto +1", "45 01 01 00 04 00 00 00"),
    ("if w1 s< -3 goto -1", "c6 01 ff ff fd ff ff ff"),
    ("if w1 < r2 goto +0", "ae 21 00 00 00 00 00 00"),
    ("if r1 != 16 goto +3 <LBB0_2>", "55 01 03 00 10 00 00 00"),
    ("if r1 != 16 goto pc+3", "55 01 03 00 10 00 00 00"),
    ("goto +1", "05 00 01 00 00 00 00 00"),
    ("goto -1 <.text+0x110>", "05 00 ff ff 00 00 00 00"),
    ("gotol +1", "06 00 00 00 01 00 00 00"),
    ("w0 = 1", "b4 00 00 00 01 00 00 00"),
    ("r0 = r1", "bf 10 00 00 00 00 00 00"),
    ("r1=r2", "bf 21 00 00 00 00 00 00"),
    ("w0 = w1", "bc 10 00 00 00 00 00 00"),
    ("w0 = r1", "bc 10 00 00 00 00 00 00"),  # PREVAIL: the dst letter decides
    ("w1 <<= r2", "6c 21 00 00 00 00 00 00"),
    ("w0 %= 4096655360", "94 00 00 00 00 00 2e f4"),
    ("r0 s8= r1", "bf 10 08 00 00 00 00 00"),
    ("w0 s16= r1", "bc 10 10 00 00 00 00 00"),
    ("w2 s32= r2", "bc 22 20 00 00 00 00 00"),  # PREVAIL only; validate() refuses it
    ("r0 = (s8)r1", "bf 10 08 00 00 00 00 00"),
    ("w0 = (s16)w1", "bc 10 10 00 00 00 00 00"),
    ("r0 += 1", "07 00 00 00 01 00 00 00"),
    ("r0 s/= r1", "3f 10 01 00 00 00 00 00"),
    ("r0 s%= 3", "97 00 01 00 03 00 00 00"),
    ("r0 s>>= 3", "c7 00 00 00 03 00 00 00"),
    ("r0 >>>= 3", "c7 00 00 00 03 00 00 00"),
    ("r0 = -r0", "87 00 00 00 00 00 00 00"),
    ("w0 = -w0", "84 00 00 00 00 00 00 00"),
    ("w1 = - w1", "84 01 00 00 00 00 00 00"),
    ("r0 = be16 r0", "dc 00 00 00 10 00 00 00"),
    ("r0 = le64 r0", "d4 00 00 00 40 00 00 00"),
    ("r0 = bswap16 r0", "d7 00 00 00 10 00 00 00"),
    ("r0 = swap16 r0", "d7 00 00 00 10 00 00 00"),
    (
        "r1 = 0x1122334455667788 ll",
        "18 01 00 00 88 77 66 55 00 00 00 00 44 33 22 11",
    ),
    ("r1 = -9223372036854775807ll", "18 01 00 00 01 00 00 00 00 00 00 00 00 00 00 80"),
    ("r1 = 18446744073709551615ll", "18 01 00 00 ff ff ff ff 00 00 00 00 ff ff ff ff"),
    ("r1 = map_fd 3", "18 11 00 00 03 00 00 00 00 00 00 00 00 00 00 00"),
    ("r2 = map_val(1) + 8", "18 22 00 00 01 00 00 00 00 00 00 00 08 00 00 00"),
    ("r1 = variable_addr(7)", "18 31 00 00 07 00 00 00 00 00 00 00 00 00 00 00"),
    ("r1 = code_addr(+1)", "18 41 00 00 01 00 00 00 00 00 00 00 00 00 00 00"),
    ("r1 = map_by_idx(99)", "18 51 00 00 63 00 00 00 00 00 00 00 00 00 00 00"),
    ("r2 = mva(map_by_idx(0)) + 4", "18 62 00 00 00 00 00 00 00 00 00 00 04 00 00 00"),
    ("ld_pseudo r1, 1, 3", "18 11 00 00 03 00 00 00 00 00 00 00 00 00 00 00"),
    ("r0 = *(u8 *)skb[4]", "30 00 00 00 04 00 00 00"),
    ("r0 = *(u16 *)skb[r1]", "48 10 00 00 00 00 00 00"),
    ("r0 = *(u32 *)skb[r7 + 4]", "40 70 00 00 04 00 00 00"),
    ("lock *(u64 *)(r10 - 8) += r1", "db 1a f8 ff 00 00 00 00"),
    ("lock *(u32 *)(r2 + 4) += r1 fetch", "c3 12 04 00 01 00 00 00"),
    ("lock *(u64 *)(r2 + 4) |= r1 fetch", "db 12 04 00 41 00 00 00"),
    ("lock *(u32 *)(r2 + 4) &= r1", "c3 12 04 00 50 00 00 00"),
    ("lock *(u32 *)(r2 + 4) x= r1", "c3 12 04 00 e1 00 00 00"),
    ("lock *(u64 *)(r2 + 4) cx= r1", "db 12 04 00 f1 00 00 00"),
    ("r1 = atomic_fetch_add((u64 *)(r0 + 0), r1)", "db 10 00 00 01 00 00 00"),
    ("w1 = atomic_fetch_xor((u32 *)(r0 + 0), w1)", "c3 10 00 00 a1 00 00 00"),
    ("r1 = xchg_64(r0 + 0, r1)", "db 10 00 00 e1 00 00 00"),
    ("w1 = xchg32_32(r0 + 0, w1)", "c3 10 00 00 e1 00 00 00"),
    ("r0 = cmpxchg_64(r1 + 0, r0, r2)", "db 21 00 00 f1 00 00 00"),
    ("w0 = cmpxchg32_32(r1 + 0, w0, w2)", "c3 21 00 00 f1 00 00 00"),
    ("call 1", "85 00 00 00 01 00 00 00"),
    ("call 1; bpf_map_lookup_elem", "85 00 00 00 01 00 00 00"),
    ("call pc+2", "85 10 00 00 02 00 00 00"),
    ("call_btf 5", "85 20 00 00 05 00 00 00"),
    ("callx r2", "8d 02 00 00 00 00 00 00"),
    ("callx r8; bpf_get_stack", "8d 08 00 00 00 00 00 00"),
    ("exit", "95 00 00 00 00 00 00 00"),
    ("exit;", "95 00 00 00 00 00 00 00"),
    ("r0 = 1; comment", "b7 00 00 00 01 00 00 00"),
    ("r0 = 1 // comment", "b7 00 00 00 01 00 00 00"),
    ("r10 = 1", "b7 0a 00 00 01 00 00 00"),  # assemblable; validate() refuses it
    ("  12:\tr0 = 1", "b7 00 00 00 01 00 00 00"),  # PREVAIL's printed pc
    (
        "       5:\t55 01 03 00 10 00 00 00\tif r1 != 16 goto +3 <.text+0x48>",
        "55 01 03 00 10 00 00 00",
    ),  # a line of llvm-objdump -d
    (".insn 0x07, 1, 0, 1, 1", "07 01 01 00 01 00 00 00"),
]


@pytest.mark.parametrize(("text", "hexcode"), EXAMPLES)
def test_example(text: str, hexcode: str) -> None:
    assert kasm(text) == bytes.fromhex(hexcode)


def test_prevail_blocks_and_labels() -> None:
    code = kasm(
        """
        <start>:
            if w1 s< -3 goto <out>
            call <sub>
            r0 = 1
        <out>: exit
        sub:
            goto out
        """
    )
    assert decode(code) == [
        Instruction(0xC6, 1, 0, 2, -3),
        Instruction(0x85, 0, 1, 0, 2),
        Instruction(0xB7, 0, 0, 0, 1),
        Instruction(0x95),
        Instruction(0x05, off=-2),
    ]


def test_objdump_label_lines() -> None:
    code = kasm("0000000000000000 <prog>:\n  goto <prog>\n")
    assert decode(code) == [Instruction(0x05, off=-1)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("assume r1 > 3", "'assume' is a verifier assumption"),
        ("if r1 &!= 0 goto +1", "'&!=' is PREVAIL's negated jset"),
        ("r1 += r16", "invalid register 'r16'"),
        ("r1 = -r2", "both dst registers of this instruction must be the same"),
        ("r1 = be16 r2", "both dst registers"),
        ("r1 = xchg_64(r0 + 0, r2)", "both src registers"),
        ("r1 = 0x100000000", "immediate 4294967296 is out of range"),
        ("r1 = -2147483649", "immediate -2147483649 is out of range"),
        ("r1 = 18446744073709551616 ll", "64-bit immediate"),
        ("r1 = *(u32 *)(r2 + 32768)", "offset 32768 is out of range"),
        ("r1 = *(u24 *)(r2 + 0)", "unrecognized instruction"),
        ("r1 +=", "unrecognized instruction"),
        ("r1 @= 3", "unrecognized instruction"),
        ("foo", "unrecognized instruction"),
        ("call foo", "unrecognized instruction"),
        ("w1 = (s32)w2 ll", "unrecognized instruction"),
        ("goto <nowhere>", "undefined label 'nowhere'"),
        ("goto +32768", "target offset 32768 is out of range"),
        ("gotol -2147483649", "target offset -2147483649 is out of range"),
        ("<a>:\n<a>:\nexit", "duplicate label 'a'"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(AssemblerError) as info:
        kasm(text)
    assert info.value.errno == errno.EINVAL
    assert message in str(info.value)


def test_error_names_line_and_text() -> None:
    with pytest.raises(AssemblerError) as info:
        kasm("r0 = 1\nassume r0 == 1\nexit")
    assert info.value.line == 2
    assert "line 2:" in str(info.value)
    assert "'assume r0 == 1'" in str(info.value)


def test_disassembly_follows_llvm_objdump() -> None:
    code = kasm(
        "r1 = -1 ll\nw0 = -5\nif w1 s< -3 goto +1\nr0 = *(u32 *)(r1 + 0)\n"
        "r1 = atomic_fetch_and((u64 *)(r10 - 8), r1)\ncall pc-5\nexit"
    )
    assert disassemble(code, "kernel") == (
        "r1 = -1 ll\nw0 = -5\nif w1 s< -3 goto +1\nr0 = *(u32 *)(r1 + 0)\n"
        "r1 = atomic_fetch_and((u64 *)(r10 - 8), r1)\ncall pc-5\nexit\n"
    )


def test_disassembly_with_labels() -> None:
    code = kasm("if r1 == 0 goto +2\ncall pc+1\nexit\nr0 = code_addr(-4)\nexit")
    text = disassemble(code, "kernel", labels=True)
    assert text == (
        "<L0>:\nif r1 == 0 goto <L3>\ncall <L3>\nexit\n<L3>:\nr0 = code_addr(<L0>)\nexit\n"
    )
    assert kasm(text) == code


def test_invalid_instruction_disassembles_as_insn() -> None:
    code = bytes.fromhex("95 00 00 00 01 00 00 00")
    text = disassemble(code, "kernel")
    assert (
        text == ".insn 0x95, 0, 0, 0, 1  ; opcode 0x95 (exit) has a non-zero unused immediate "
        "field (1)\n"
    )
    assert kasm(text) == code
