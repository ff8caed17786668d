"""CO-RE relocation: compute each relocation's value against a target BTF
and patch the instruction, as libbpf does at load time.

A relocation that cannot be satisfied (field or enumerator missing in every
candidate) *poisons* its instruction: it becomes ``call 0xbad2310``, so the
program fails only if that path runs. Existence checks resolve to 0 instead.
Several matching candidates must agree, else the relocation is ambiguous
(EINVAL).
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace

from libbpf_compat.btf.btf import Btf
from libbpf_compat.btf.core_spec import (
    ENUMVAL_KINDS,
    FIELD_KINDS,
    CoreSpec,
    candidates,
    match_spec,
    parse_spec,
)
from libbpf_compat.btf.ext import CoreRelo, CoreReloKind
from libbpf_compat.btf.types import BtfKind, Composite, Enum, Int, IntEncoding
from libbpf_compat.errors import LibbpfError, einval

#: libbpf's poison helper id: "bad relo".
POISON_HELPER = 0xBAD2310
U64 = (1 << 64) - 1

_CLASS_LD, _CLASS_LDX, _CLASS_ST, _CLASS_STX = 0x00, 0x01, 0x02, 0x03
_CLASS_ALU, _CLASS_ALU64 = 0x04, 0x07
_LDDW = 0x18
_CALL = 0x85
_SIZE_BYTES = {0x18: 8, 0x00: 4, 0x08: 2, 0x10: 1}
_BYTES_SIZE = {v: k for k, v in _SIZE_BYTES.items()}


class _Poison(Exception):
    """Internal: the relocation asks for its instruction to be poisoned."""


@dataclass(frozen=True)
class CoreResult:
    """What a relocation resolves to.

    ``orig_val`` is what the compiler put in the instruction (checked when
    ``validate``), ``new_val`` what it becomes. ``orig_sz``/``new_sz`` are the
    field sizes for a load/store whose width must follow the field;
    ``fail_memsz_adjust`` marks a width change that would read wrong data
    (the load is then poisoned). ``target_type_id`` is the matched target
    root type (None when nothing matched). ``insn`` is the patched
    instruction (8 or 16 bytes) when one was passed in.
    """

    kind: CoreReloKind
    orig_val: int
    new_val: int
    poison: bool
    validate: bool
    orig_sz: int = 0
    new_sz: int = 0
    fail_memsz_adjust: bool = False
    target_type_id: int | None = None
    insn: bytes | None = None


@dataclass
class _Values:
    val: int = 0
    size: int = 0
    type_id: int = 0
    validate: bool = True


def resolve_core_relo(local: Btf, relo: CoreRelo, target: Btf,
                      insn: bytes | bytearray | None = None) -> CoreResult:
    """Resolve ``relo`` (from ``local``'s .BTF.ext) against ``target``.

    With ``insn`` (the instruction the relocation names: 8 bytes, 16 for an
    lddw) the result also carries the patched instruction.
    """
    if not 0 <= relo.type_id < len(local.types):
        raise einval(f"CO-RE relo at insn {relo.insn_idx}: BTF type [{relo.type_id}] "
                     "does not exist")
    local_spec = parse_spec(local, relo)
    if relo.kind == CoreReloKind.TYPE_ID_LOCAL:
        result = CoreResult(relo.kind, relo.type_id, relo.type_id, False, False)
    else:
        result = _resolve_against(local, local_spec, relo, target)
    if insn is not None:
        patched = patch_insn(bytes(insn), relo, result, local.endianness)
        result = replace(result, insn=patched)
    return result


def _resolve_against(local: Btf, local_spec: CoreSpec, relo: CoreRelo,
                     target: Btf) -> CoreResult:
    root = local.types[relo.type_id]
    if not root.name:
        raise LibbpfError(errno.EOPNOTSUPP, f"CO-RE relo at insn {relo.insn_idx}: "
                          f"{relo.kind.name} on anonymous BTF type [{relo.type_id}] "
                          "is not supported")
    chosen: CoreResult | None = None
    chosen_spec: CoreSpec | None = None
    for cand in candidates(local, relo.type_id, target):
        spec = match_spec(local_spec, target, cand)
        if spec is None:
            continue
        res = _calc(local_spec, spec, relo, cand)
        if chosen is None or chosen_spec is None:
            chosen, chosen_spec = res, spec
        elif spec.bit_offset != chosen_spec.bit_offset:
            raise einval(f"CO-RE relo at insn {relo.insn_idx}: field offset ambiguity "
                         f"between target types [{chosen.target_type_id}] and [{cand}]")
        elif res.poison != chosen.poison or res.new_val != chosen.new_val:
            raise einval(f"CO-RE relo at insn {relo.insn_idx}: relocation decision "
                         f"ambiguity between target types [{chosen.target_type_id}] "
                         f"and [{cand}]")
    if chosen is None:
        chosen = _calc(local_spec, None, relo, None)
    return chosen


def _calc(local_spec: CoreSpec, targ_spec: CoreSpec | None, relo: CoreRelo,
          cand: int | None) -> CoreResult:
    kind = relo.kind
    try:
        if kind in FIELD_KINDS:
            orig = _field_value(local_spec, relo)
            new = _field_value(targ_spec, relo)
            fail = False
            if orig.size != new.size and targ_spec is not None:
                ot = local_spec.btf.types[orig.type_id]
                nt = targ_spec.btf.types[new.type_id]
                both_ptr = ot.kind == BtfKind.PTR and nt.kind == BtfKind.PTR
                both_unsigned = isinstance(ot, Int) and isinstance(nt, Int) and \
                    ot.encoding != IntEncoding.SIGNED and nt.encoding != IntEncoding.SIGNED
                fail = not (both_ptr or both_unsigned)
            return CoreResult(kind, orig.val, new.val, False, orig.validate, orig.size,
                              new.size, fail, cand)
        if kind in ENUMVAL_KINDS:
            return CoreResult(kind, _enum_value(local_spec, kind),
                              _enum_value(targ_spec, kind), False, True, target_type_id=cand)
        orig_val = _type_value(local_spec, kind)
        new_val = _type_value(targ_spec, kind)
        # a type id in an instruction may change at link time: not checked
        validate = kind != CoreReloKind.TYPE_ID_TARGET
        return CoreResult(kind, orig_val, new_val, False, validate, target_type_id=cand)
    except _Poison:
        return CoreResult(kind, 0, 0, True, True, target_type_id=cand)


def _field_value(spec: CoreSpec | None, relo: CoreRelo) -> _Values:
    kind = relo.kind
    if kind == CoreReloKind.FIELD_EXISTS:
        return _Values(1 if spec is not None else 0)
    if spec is None:
        raise _Poison
    btf = spec.btf
    acc = spec.accessors[-1]
    if acc.name is None:
        size = btf.size_of(acc.type_id)
        if kind == CoreReloKind.FIELD_BYTE_OFFSET:
            return _Values(spec.bit_offset // 8, size, acc.type_id)
        if kind == CoreReloKind.FIELD_BYTE_SIZE:
            return _Values(size)
        raise einval(f"CO-RE relo at insn {relo.insn_idx}: {kind.name} cannot apply to "
                     "an array element")
    parent = btf.types[acc.type_id]
    assert isinstance(parent, Composite)
    member = parent.members[acc.idx]
    field_id = btf.resolve(member.type)
    mt = btf.types[field_id]
    bit_off = spec.bit_offset
    bit_sz = member.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        byte_sz = btf.size_of(field_id)
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise LibbpfError(errno.E2BIG, f"CO-RE relo at insn {relo.insn_idx}: "
                                  "bitfield cannot be read with a 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = btf.size_of(field_id)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    validate = not bitfield
    if kind == CoreReloKind.FIELD_BYTE_OFFSET:
        return _Values(byte_off, 0 if bitfield else byte_sz, 0 if bitfield else field_id,
                       validate)
    if kind == CoreReloKind.FIELD_BYTE_SIZE:
        return _Values(byte_sz, validate=validate)
    if kind == CoreReloKind.FIELD_SIGNED:
        signed = (isinstance(mt, Enum) and mt.signed) or (isinstance(mt, Int) and mt.signed)
        return _Values(int(signed))
    if kind == CoreReloKind.FIELD_LSHIFT_U64:
        if btf.endianness == "little":
            return _Values(64 - (bit_off + bit_sz - byte_off * 8), validate=validate)
        return _Values((8 - byte_sz) * 8 + (bit_off - byte_off * 8), validate=validate)
    return _Values(64 - bit_sz)  # FIELD_RSHIFT_U64


def _type_value(spec: CoreSpec | None, kind: CoreReloKind) -> int:
    if spec is None:
        return 0
    if kind == CoreReloKind.TYPE_ID_TARGET:
        return spec.root_type_id
    if kind in (CoreReloKind.TYPE_EXISTS, CoreReloKind.TYPE_MATCHES):
        return 1
    return spec.btf.size_of(spec.root_type_id)  # TYPE_SIZE


def _enum_value(spec: CoreSpec | None, kind: CoreReloKind) -> int:
    if kind == CoreReloKind.ENUMVAL_EXISTS:
        return 1 if spec is not None else 0
    if spec is None:
        raise _Poison
    acc = spec.accessors[0]
    t = spec.btf.types[acc.type_id]
    assert isinstance(t, Enum)
    value = t.values[acc.idx].value
    if t.kind == BtfKind.ENUM:
        value &= 0xFFFFFFFF
        if value >> 31:
            value -= 1 << 32
    return value & U64


# -- instruction patching ---------------------------------------------------
def poison_insn(insn: bytes) -> bytes:
    """``call 0xbad2310`` in place of ``insn`` (both slots of an lddw)."""
    slot = struct.pack("<BBhi", _CALL, 0, 0, POISON_HELPER)
    return slot * (2 if insn[0] == _LDDW and len(insn) >= 16 else 1)


def patch_insn(insn: bytes, relo: CoreRelo, res: CoreResult, endianness: str = "little") -> bytes:
    """The instruction with ``res`` applied (libbpf's bpf_core_patch_insn)."""
    where = f"CO-RE relo at insn {relo.insn_idx}"
    if len(insn) < 8:
        raise einval(f"{where}: instruction is truncated")
    if res.poison:
        return poison_insn(insn)
    order = "<" if endianness == "little" else ">"
    code, regs, off, imm = struct.unpack_from(order + "BBhi", insn, 0)
    cls = code & 0x07
    orig, new = res.orig_val & U64, res.new_val & U64
    if cls in (_CLASS_ALU, _CLASS_ALU64):
        if code & 0x08:
            raise einval(f"{where}: ALU instruction does not take an immediate")
        if res.validate and imm & U64 != orig:
            raise einval(f"{where}: unexpected immediate {imm}, expected {orig}")
        new_imm = new & 0xFFFFFFFF
        if new_imm >> 31:
            new_imm -= 1 << 32
        return struct.pack(order + "BBhi", code, regs, off, new_imm) + insn[8:]
    if cls in (_CLASS_LDX, _CLASS_ST, _CLASS_STX):
        if res.validate and off & U64 != orig:
            raise einval(f"{where}: unexpected offset {off}, expected {orig}")
        if new > 0x7FFF:
            raise LibbpfError(errno.ERANGE, f"{where}: offset {new} does not fit 16 bits")
        if res.fail_memsz_adjust:
            return poison_insn(insn)
        if res.new_sz != res.orig_sz:
            if _SIZE_BYTES.get(code & 0x18) != res.orig_sz:
                raise einval(f"{where}: access size {_SIZE_BYTES.get(code & 0x18)} is not "
                             f"the field size {res.orig_sz}")
            size_bits = _BYTES_SIZE.get(res.new_sz)
            if size_bits is None:
                raise einval(f"{where}: field size {res.new_sz} cannot be loaded")
            code = (code & ~0x18) | size_bits
        return struct.pack(order + "BBhi", code, regs, new, imm) + insn[8:]
    if cls == _CLASS_LD:
        if code != _LDDW or len(insn) < 16:
            raise einval(f"{where}: not a 64-bit immediate load")
        code2, regs2, off2, imm2 = struct.unpack_from(order + "BBhi", insn, 8)
        src = regs >> 4 if endianness == "little" else regs & 0x0F
        if src or off or code2 or regs2 or off2:
            raise einval(f"{where}: 64-bit immediate load has an unexpected form")
        value = (imm & 0xFFFFFFFF) | ((imm2 & 0xFFFFFFFF) << 32)
        if res.validate and value != orig:
            raise einval(f"{where}: unexpected immediate {value}, expected {orig}")
        lo, hi = new & 0xFFFFFFFF, new >> 32
        return (struct.pack(order + "BBhI", code, regs, off, lo)
                + struct.pack(order + "BBhI", 0, 0, 0, hi) + insn[16:])
    raise einval(f"{where}: cannot relocate instruction with opcode 0x{code:02x}")


def apply_core_relos(insns: bytes | bytearray, relos: Sequence[CoreRelo], local: Btf,
                     target: Btf) -> bytes:
    """``insns`` (one ELF section's code) with every relocation in ``relos`` applied."""
    code = bytearray(insns)
    for relo in relos:
        start = relo.insn_off
        if start % 8 or start + 8 > len(code):
            raise einval(f"CO-RE relo at byte {start}: outside the {len(code)}-byte section")
        end = start + (16 if code[start] == _LDDW and start + 16 <= len(code) else 8)
        result = resolve_core_relo(local, relo, target, bytes(code[start:end]))
        assert result.insn is not None
        code[start:end] = result.insn
    return bytes(code)


__all__ = ["POISON_HELPER", "CoreResult", "apply_core_relos", "patch_insn", "poison_insn",
           "resolve_core_relo"]
