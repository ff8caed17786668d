"""The catalogue of instruction forms: one entry per distinct eBPF instruction.

A :class:`Form` fixes an opcode and the value of every field it does not
take as an operand (``le16`` fixes ``imm`` to 16, ``sdiv`` fixes ``off`` to
1, every unused field is fixed to 0), and names the fields that are its
operands (*roles*).  An instruction belongs to a form when its opcode and all
fixed fields match, so :func:`match_form` also tells whether the fields a
form does not use are zero.  Both assembly syntaxes spell each form; the
validator and the disassemblers look instructions up here.

Roles:

``dst``, ``src``, ``off``, ``imm``, ``imm_hi``
    the instruction field of that name;
``imm64``
    lddw's whole 64-bit immediate (``imm`` and ``imm_hi``), unsigned;
``target_off``, ``target_imm``
    a pc-relative target (jump, local call, function address) held in
    ``off`` or ``imm``: the target slot is ``pc + 1 + value``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType

from libbpf_compat.isa import opcodes as op
from libbpf_compat.isa.instruction import Instruction

ROLE_FIELDS: dict[str, tuple[str, ...]] = {
    "dst": ("dst",),
    "src": ("src",),
    "off": ("off",),
    "imm": ("imm",),
    "imm_hi": ("imm_hi",),
    "imm64": ("imm", "imm_hi"),
    "target_off": ("off",),
    "target_imm": ("imm",),
}

FIELDS = ("dst", "src", "off", "imm", "imm_hi")

TARGET_ROLES = frozenset({"target_off", "target_imm"})

# Form groups.
ALU = "alu"  # binary arithmetic, K or X
NEG = "neg"
MOVSX = "movsx"
END = "end"  # byte swaps: le, be (ALU class), bswap (ALU64 class)
LDDW = "lddw"  # the 64-bit immediate and its pseudo sources
LDABS = "ldabs"
LDIND = "ldind"
LDX = "ldx"  # loads, zero- or sign-extending
ST = "st"
STX = "stx"
ATOMIC = "atomic"
JA = "ja"  # unconditional jumps (ja with off, ja32 with imm)
JCOND = "jcond"
CALL = "call"  # helper, local and kfunc calls
CALLX = "callx"
EXIT = "exit"


@dataclass(frozen=True)
class Form:
    """One instruction form.

    ``op`` is the operation's name within its group (``"add"``, ``"sdiv"``,
    ``"jeq"``, ``"le"``, ``"map_fd"``, ``"fetch_add"``, ``"local"`` …);
    ``wide`` is true for the 64-bit classes (ALU64, JMP) and 64-bit atomics;
    ``bits`` is the memory access width, the byte-swap width or the movsx
    source width (0 where it means nothing); ``register_source`` marks the
    X forms of arithmetic and jumps; ``signed`` marks sign-extending loads.
    ``nonstandard`` says why an encodable form is outside RFC 9669.
    """

    name: str
    group: str
    opcode: int
    roles: tuple[str, ...]
    fixed: tuple[tuple[str, int], ...] = ()
    op: str = ""
    wide: bool = True
    bits: int = 0
    register_source: bool = False
    signed: bool = False
    nonstandard: str | None = None

    @cached_property
    def fixed_fields(self) -> Mapping[str, int]:
        """The value of every field that is not an operand (0 unless fixed otherwise)."""
        used = {name for role in self.roles for name in ROLE_FIELDS[role]}
        values = dict.fromkeys((name for name in FIELDS if name not in used), 0)
        values.update(self.fixed)
        return MappingProxyType(values)

    @property
    def target_role(self) -> str | None:
        """The role holding a pc-relative target, if the form has one."""
        return next((role for role in self.roles if role in TARGET_ROLES), None)

    def mismatches(self, insn: Instruction) -> list[tuple[str, int, int]]:
        """The fixed fields ``insn`` gets wrong, as ``(field, expected, actual)``."""
        return [
            (name, value, getattr(insn, name))
            for name, value in self.fixed_fields.items()
            if getattr(insn, name) != value
        ]

    def matches(self, insn: Instruction) -> bool:
        """Whether ``insn`` is an instance of this form."""
        return insn.opcode == self.opcode and not self.mismatches(insn)

    def build(self, values: Mapping[str, int]) -> Instruction:
        """The instruction of this form with the given operand values (missing ones are 0)."""
        fields = dict(self.fixed_fields)
        for role in self.roles:
            value = values.get(role, 0)
            if role == "imm64":
                bits = value & 0xFFFF_FFFF_FFFF_FFFF
                fields["imm"] = bits & 0xFFFF_FFFF
                fields["imm_hi"] = bits >> 32
            else:
                (name,) = ROLE_FIELDS[role]
                fields[name] = value
        return Instruction(self.opcode, **fields)

    def operands(self, insn: Instruction) -> dict[str, int]:
        """The operand values of ``insn`` by role (``imm64`` unsigned)."""
        return {
            role: insn.imm64 if role == "imm64" else getattr(insn, ROLE_FIELDS[role][0])
            for role in self.roles
        }


def _alu_forms() -> list[Form]:
    forms: list[Form] = []
    for wide, cls, suffix in ((True, op.CLASS_ALU64, "64"), (False, op.CLASS_ALU, "32")):
        binary = [(name, code, 0) for name, code in op.ALU_BINARY]
        binary += [(name, code, op.ALU_SIGNED_OFFSET) for name, code in op.ALU_SIGNED]
        for name, code, offset in binary:
            fixed = (("off", offset),) if offset else ()
            forms.append(
                Form(
                    f"{name}{suffix}_imm",
                    ALU,
                    cls | code | op.SRC_K,
                    ("dst", "imm"),
                    fixed,
                    op=name,
                    wide=wide,
                )
            )
            forms.append(
                Form(
                    f"{name}{suffix}_reg",
                    ALU,
                    cls | code | op.SRC_X,
                    ("dst", "src"),
                    fixed,
                    op=name,
                    wide=wide,
                    register_source=True,
                )
            )
        forms.append(Form(f"neg{suffix}", NEG, cls | op.ALU_NEG, ("dst",), op="neg", wide=wide))
        for bits in (8, 16, 32):
            standard = bits in (op.MOVSX_WIDTHS_64 if wide else op.MOVSX_WIDTHS_32)
            forms.append(
                Form(
                    f"movsx{bits}{suffix}",
                    MOVSX,
                    cls | op.ALU_MOV | op.SRC_X,
                    ("dst", "src"),
                    (("off", bits),),
                    op="movsx",
                    wide=wide,
                    bits=bits,
                    register_source=True,
                    nonstandard=None
                    if standard
                    else "32-bit movsx only sign-extends from 8 or 16 bits",
                )
            )
    for kind, cls, source in (
        ("le", op.CLASS_ALU, op.END_TO_LE),
        ("be", op.CLASS_ALU, op.END_TO_BE),
        ("bswap", op.CLASS_ALU64, op.END_TO_LE),
    ):
        for bits in op.BYTE_SWAP_WIDTHS:
            forms.append(
                Form(
                    f"{kind}{bits}",
                    END,
                    cls | op.ALU_END | source,
                    ("dst",),
                    (("imm", bits),),
                    op=kind,
                    wide=cls == op.CLASS_ALU64,
                    bits=bits,
                )
            )
    return forms


def _load_store_forms() -> list[Form]:
    forms = [Form("lddw", LDDW, op.OPCODE_LDDW, ("dst", "imm64"), op="imm64")]
    for name, source in op.PSEUDO_SOURCES:
        if source == op.PSEUDO_FUNC:
            roles: tuple[str, ...] = ("dst", "target_imm")
        elif source in op.PSEUDO_WITH_OFFSET:
            roles = ("dst", "imm", "imm_hi")
        else:
            roles = ("dst", "imm")
        forms.append(Form(f"lddw_{name}", LDDW, op.OPCODE_LDDW, roles, (("src", source),), op=name))
    for size in op.MEM_SIZES:
        dw = "the legacy packet loads have no 64-bit size" if size.bits == 64 else None
        forms.append(
            Form(
                f"ldabs{size.suffix}",
                LDABS,
                op.CLASS_LD | op.MODE_ABS | size.code,
                ("imm",),
                bits=size.bits,
                nonstandard=dw,
            )
        )
        forms.append(
            Form(
                f"ldind{size.suffix}",
                LDIND,
                op.CLASS_LD | op.MODE_IND | size.code,
                ("src", "imm"),
                bits=size.bits,
                nonstandard=dw,
            )
        )
        forms.append(
            Form(
                f"ldx{size.suffix}",
                LDX,
                op.CLASS_LDX | op.MODE_MEM | size.code,
                ("dst", "src", "off"),
                bits=size.bits,
            )
        )
        if size.bits < 64:
            forms.append(
                Form(
                    f"ldxs{size.suffix}",
                    LDX,
                    op.CLASS_LDX | op.MODE_MEMSX | size.code,
                    ("dst", "src", "off"),
                    bits=size.bits,
                    signed=True,
                )
            )
        forms.append(
            Form(
                f"st{size.suffix}",
                ST,
                op.CLASS_ST | op.MODE_MEM | size.code,
                ("dst", "off", "imm"),
                bits=size.bits,
            )
        )
        forms.append(
            Form(
                f"stx{size.suffix}",
                STX,
                op.CLASS_STX | op.MODE_MEM | size.code,
                ("dst", "src", "off"),
                bits=size.bits,
            )
        )
    return forms


def _atomic_forms() -> list[Form]:
    forms: list[Form] = []
    for size in (op.SIZE_DW, op.SIZE_W):
        wide = size == op.SIZE_DW
        bits = 64 if wide else 32
        opcode = op.CLASS_STX | op.MODE_ATOMIC | size
        kinds = [(name, code) for name, code in op.ATOMIC_ARITH]
        kinds += [(f"fetch_{name}", code | op.ATOMIC_FETCH) for name, code in op.ATOMIC_ARITH]
        kinds += [("xchg", op.ATOMIC_XCHG), ("cmpxchg", op.ATOMIC_CMPXCHG)]
        for name, code in kinds:
            forms.append(
                Form(
                    f"atomic_{name}{bits}",
                    ATOMIC,
                    opcode,
                    ("dst", "src", "off"),
                    (("imm", code),),
                    op=name,
                    wide=wide,
                    bits=bits,
                )
            )
    return forms


def _jump_forms() -> list[Form]:
    forms = [
        Form("ja", JA, op.OPCODE_JA, ("target_off",), op="ja"),
        Form("ja32", JA, op.OPCODE_JA32, ("target_imm",), op="ja32", wide=False),
    ]
    for wide, cls, suffix in ((True, op.CLASS_JMP, ""), (False, op.CLASS_JMP32, "32")):
        for name, code in op.JMP_CONDITIONS:
            forms.append(
                Form(
                    f"{name}{suffix}_imm",
                    JCOND,
                    cls | code | op.SRC_K,
                    ("dst", "imm", "target_off"),
                    op=name,
                    wide=wide,
                )
            )
            forms.append(
                Form(
                    f"{name}{suffix}_reg",
                    JCOND,
                    cls | code | op.SRC_X,
                    ("dst", "src", "target_off"),
                    op=name,
                    wide=wide,
                    register_source=True,
                )
            )
    forms += [
        Form(
            "call_helper", CALL, op.OPCODE_CALL, ("imm",), (("src", op.CALL_HELPER),), op="helper"
        ),
        Form(
            "call_local",
            CALL,
            op.OPCODE_CALL,
            ("target_imm",),
            (("src", op.CALL_LOCAL),),
            op="local",
        ),
        Form("call_kfunc", CALL, op.OPCODE_CALL, ("imm",), (("src", op.CALL_KFUNC),), op="kfunc"),
        Form("callx", CALLX, op.OPCODE_CALLX, ("dst",), op="callx"),
        Form("exit", EXIT, op.OPCODE_EXIT, (), op="exit"),
    ]
    return forms


FORMS: tuple[Form, ...] = (
    *_alu_forms(),
    *_load_store_forms(),
    *_atomic_forms(),
    *_jump_forms(),
)

FORMS_BY_NAME: dict[str, Form] = {form.name: form for form in FORMS}

FORMS_BY_OPCODE: dict[int, tuple[Form, ...]] = {}
for _form in FORMS:
    FORMS_BY_OPCODE[_form.opcode] = (*FORMS_BY_OPCODE.get(_form.opcode, ()), _form)
del _form


def match_form(insn: Instruction) -> Form | None:
    """The form ``insn`` is an instance of, or None (unknown opcode or a bad fixed field)."""
    for form in FORMS_BY_OPCODE.get(insn.opcode, ()):
        if form.matches(insn):
            return form
    return None


__all__ = [
    "FIELDS",
    "FORMS",
    "FORMS_BY_NAME",
    "FORMS_BY_OPCODE",
    "ROLE_FIELDS",
    "TARGET_ROLES",
    "Form",
    "match_form",
]
