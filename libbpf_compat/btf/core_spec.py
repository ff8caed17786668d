"""CO-RE access specs: a relocation's access string walked through a BTF.

An access string such as ``"0:1:2"`` starts with an array index on the root
type (``&p[0]``) and continues with member indices (structs/unions) or
element indices (arrays). The *spec* keeps the raw indices, the named
"turning points" (members with a name, array indices) and the bit offset the
walk reaches. Matching a local spec against a target type follows the same
names in the target, looking inside anonymous members as C does.
"""

from __future__ import annotations

import errno
import weakref
from dataclasses import dataclass, field

from libbpf_compat.btf.btf import Btf
from libbpf_compat.btf.ext import CoreRelo, CoreReloKind
from libbpf_compat.btf.types import (
    COMPOSITE_KINDS,
    ENUM_KINDS,
    Array,
    BtfKind,
    Composite,
    Enum,
    FuncProto,
    Fwd,
    Int,
    Ref,
)
from libbpf_compat.errors import LibbpfError, einval

MAX_SPEC_LEN = 64
MAX_DEPTH = 32

FIELD_KINDS = frozenset({CoreReloKind.FIELD_BYTE_OFFSET, CoreReloKind.FIELD_BYTE_SIZE,
                         CoreReloKind.FIELD_EXISTS, CoreReloKind.FIELD_SIGNED,
                         CoreReloKind.FIELD_LSHIFT_U64, CoreReloKind.FIELD_RSHIFT_U64})
TYPE_KINDS = frozenset({CoreReloKind.TYPE_ID_LOCAL, CoreReloKind.TYPE_ID_TARGET,
                        CoreReloKind.TYPE_EXISTS, CoreReloKind.TYPE_SIZE,
                        CoreReloKind.TYPE_MATCHES})
ENUMVAL_KINDS = frozenset({CoreReloKind.ENUMVAL_EXISTS, CoreReloKind.ENUMVAL_VALUE})


@dataclass(frozen=True)
class Accessor:
    """A turning point: member ``idx`` of composite ``type_id`` (``name`` set),
    or element ``idx`` of an array whose element type is ``type_id``."""

    type_id: int
    idx: int
    name: str | None


@dataclass
class CoreSpec:
    btf: Btf
    root_type_id: int
    kind: CoreReloKind
    raw: list[int] = field(default_factory=list)
    accessors: list[Accessor] = field(default_factory=list)
    bit_offset: int = 0


def essential_name(name: str) -> str:
    """``name`` without a ``___flavour`` suffix (the last ``x___y`` split)."""
    for i in range(len(name) - 5, -1, -1):
        if name[i] != "_" and name[i + 1:i + 4] == "___" and name[i + 4] != "_":
            return name[:i + 1]
    return name


def _kinds_compat(a: BtfKind, b: BtfKind) -> bool:
    return a == b or (a in ENUM_KINDS and b in ENUM_KINDS)


def _fail(relo: CoreRelo, why: str) -> LibbpfError:
    return einval(f"CO-RE relo at insn {relo.insn_idx}: BTF type [{relo.type_id}] "
                  f"access '{relo.access_str}': {why}")


def parse_spec(btf: Btf, relo: CoreRelo) -> CoreSpec:
    """The local spec of ``relo``; EINVAL naming the relocation if it is malformed."""
    spec = CoreSpec(btf, relo.type_id, relo.kind)
    text = relo.access_str
    if relo.kind in TYPE_KINDS:
        if text != "0":
            raise _fail(relo, "type relocations need access string '0'")
        return spec
    try:
        spec.raw = [int(part) for part in text.split(":")] if text else []
    except ValueError as exc:
        raise _fail(relo, "malformed access string") from exc
    if not spec.raw or any(i < 0 for i in spec.raw):
        raise _fail(relo, "malformed access string")
    if len(spec.raw) > MAX_SPEC_LEN:
        raise LibbpfError(errno.E2BIG, f"CO-RE relo at insn {relo.insn_idx}: access string "
                          "too long")
    tid = btf.resolve(relo.type_id)
    t = btf.types[tid]
    first = spec.raw[0]
    if relo.kind in ENUMVAL_KINDS:
        if not isinstance(t, Enum) or len(spec.raw) > 1 or first >= len(t.values):
            raise _fail(relo, "not an enumerator of an enum")
        spec.accessors.append(Accessor(tid, first, t.values[first].name))
        return spec
    spec.accessors.append(Accessor(tid, first, None))
    spec.bit_offset = first * btf.size_of(tid) * 8
    for idx in spec.raw[1:]:
        tid = btf.resolve(tid)
        t = btf.types[tid]
        if isinstance(t, Composite):
            if idx >= len(t.members):
                raise _fail(relo, f"member {idx} out of range")
            m = t.members[idx]
            spec.bit_offset += m.bit_offset
            if m.name:
                spec.accessors.append(Accessor(tid, idx, m.name))
            tid = m.type
        elif isinstance(t, Array):
            flex = _is_flex(btf, spec.accessors[-1], t)
            tid = btf.resolve(t.type)
            if not flex and idx >= t.nelems:
                raise _fail(relo, f"index {idx} out of array bounds")
            spec.accessors.append(Accessor(tid, idx, None))
            spec.bit_offset += idx * btf.size_of(tid) * 8
        else:
            raise _fail(relo, f"cannot index into {t.kind.name} type [{tid}]")
    return spec


def _is_flex(btf: Btf, acc: Accessor, arr: Array) -> bool:
    if acc.name is None or arr.nelems:
        return False
    parent = btf.types[acc.type_id]
    return isinstance(parent, Composite) and acc.idx == len(parent.members) - 1


def match_spec(local: CoreSpec, target: Btf, targ_id: int) -> CoreSpec | None:
    """The target spec of candidate ``targ_id``, or None if it does not match."""
    spec = CoreSpec(target, targ_id, local.kind)
    if local.kind in TYPE_KINDS:
        if local.kind == CoreReloKind.TYPE_MATCHES:
            ok = types_match(local.btf, local.root_type_id, target, targ_id, False, MAX_DEPTH)
        else:
            ok = types_are_compat(local.btf, local.root_type_id, target, targ_id, MAX_DEPTH)
        return spec if ok else None
    first = local.accessors[0]
    if local.kind in ENUMVAL_KINDS:
        targ_id = target.resolve(targ_id)
        t = target.types[targ_id]
        if not isinstance(t, Enum):
            return None
        want = essential_name(first.name or "")
        for i, v in enumerate(t.values):
            if essential_name(v.name) == want:
                spec.accessors.append(Accessor(targ_id, i, v.name))
                spec.raw.append(i)
                return spec
        return None
    for i, acc in enumerate(local.accessors):
        targ_id = target.resolve(targ_id)
        t = target.types[targ_id]
        if acc.name is not None:
            found = _match_member(local.btf, acc, target, targ_id, spec)
            if found is None:
                return None
            targ_id = found
            continue
        if i > 0:
            if not isinstance(t, Array):
                return None
            if not _is_flex(target, spec.accessors[-1], t) and acc.idx >= t.nelems:
                return None
            targ_id = target.resolve(t.type)
        if len(spec.raw) >= MAX_SPEC_LEN:
            raise LibbpfError(errno.E2BIG, "CO-RE: target access too deep")
        spec.accessors.append(Accessor(targ_id, acc.idx, None))
        spec.raw.append(acc.idx)
        spec.bit_offset += acc.idx * target.size_of(targ_id) * 8
    return spec


def _match_member(local: Btf, acc: Accessor, target: Btf, targ_id: int,
                  spec: CoreSpec) -> int | None:
    """Find the member named like ``acc`` in target composite ``targ_id``
    (inside anonymous members too); extend ``spec``; return the member's type."""
    targ_id = target.resolve(targ_id)
    t = target.types[targ_id]
    if not isinstance(t, Composite):
        return None
    local_parent = local.types[acc.type_id]
    assert isinstance(local_parent, Composite)
    local_member = local_parent.members[acc.idx]
    for i, m in enumerate(t.members):
        if len(spec.raw) >= MAX_SPEC_LEN:
            raise LibbpfError(errno.E2BIG, "CO-RE: target access too deep")
        spec.bit_offset += m.bit_offset
        spec.raw.append(i)
        if not m.name:
            found = _match_member(local, acc, target, m.type, spec)
            if found is not None:
                return found
        elif m.name == local_member.name:
            if not fields_are_compat(local, local_member.type, target, m.type):
                return None
            spec.accessors.append(Accessor(targ_id, i, m.name))
            return m.type
        spec.bit_offset -= m.bit_offset
        spec.raw.pop()
    return None


def fields_are_compat(local: Btf, local_id: int, target: Btf, targ_id: int) -> bool:
    """libbpf's field compatibility: same shape, sizes and signedness ignored."""
    for _ in range(MAX_DEPTH):
        lt = local.resolved(local_id)
        tt = target.resolved(targ_id)
        if lt.kind in COMPOSITE_KINDS and tt.kind in COMPOSITE_KINDS:
            return True
        if not _kinds_compat(lt.kind, tt.kind):
            return False
        if lt.kind in (BtfKind.PTR, BtfKind.FLOAT):
            return True
        if lt.kind in (BtfKind.FWD, BtfKind.ENUM, BtfKind.ENUM64):
            a, b = essential_name(lt.name), essential_name(tt.name)
            return not a or not b or a == b
        if isinstance(lt, Int) and isinstance(tt, Int):
            return lt.bit_offset == 0 and tt.bit_offset == 0
        if isinstance(lt, Array) and isinstance(tt, Array):
            local_id, targ_id = lt.type, tt.type
            continue
        return False
    return False


def types_are_compat(local: Btf, local_id: int, target: Btf, targ_id: int, level: int) -> bool:
    """libbpf's type compatibility for TYPE_ID_TARGET / TYPE_EXISTS / TYPE_SIZE."""
    if not _kinds_compat(local.types[local_id].kind, target.types[targ_id].kind):
        return False
    for _ in range(MAX_DEPTH):
        lt = local.resolved(local_id)
        tt = target.resolved(targ_id)
        if not _kinds_compat(lt.kind, tt.kind):
            return False
        if lt.kind in (BtfKind.UNKN, BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM,
                       BtfKind.ENUM64, BtfKind.FWD, BtfKind.FLOAT):
            return True
        if isinstance(lt, Int) and isinstance(tt, Int):
            return lt.bit_offset == 0 and tt.bit_offset == 0
        if isinstance(lt, Ref) and isinstance(tt, Ref):
            local_id, targ_id = lt.type, tt.type
            continue
        if isinstance(lt, Array) and isinstance(tt, Array):
            local_id, targ_id = lt.type, tt.type
            continue
        if isinstance(lt, FuncProto) and isinstance(tt, FuncProto):
            if len(lt.params) != len(tt.params) or level <= 0:
                return False
            for lp, tp in zip(lt.params, tt.params, strict=True):
                if not types_are_compat(local, local.resolve(lp.type), target,
                                        target.resolve(tp.type), level - 1):
                    return False
            local_id, targ_id = lt.type, tt.type
            continue
        return False
    return False


def _names_match(local_name: str, targ_name: str) -> bool:
    if not targ_name:
        return not local_name
    return essential_name(local_name) == essential_name(targ_name)


def types_match(local: Btf, local_id: int, target: Btf, targ_id: int, behind_ptr: bool,
                level: int) -> bool:
    """libbpf's stricter TYPE_MATCHES relation (names, sizes, signedness, layout)."""
    if level <= 0:
        return False
    for _ in range(MAX_DEPTH):
        lt = local.resolved(local_id)
        tt = target.resolved(targ_id)
        if not _names_match(lt.name, tt.name):
            return False
        lk, tk = lt.kind, tt.kind
        if lk == BtfKind.UNKN:
            return tk == BtfKind.UNKN
        if isinstance(lt, Fwd):
            if isinstance(tt, Fwd):
                return lt.is_union == tt.is_union
            if not behind_ptr:
                return False
            return (tk == BtfKind.STRUCT and not lt.is_union) or \
                (tk == BtfKind.UNION and lt.is_union)
        if isinstance(lt, Enum):
            if not isinstance(tt, Enum) or lt.size != tt.size or \
                    len(lt.values) > len(tt.values):
                return False
            return all(any(_names_match(lv.name, tv.name) for tv in tt.values)
                       for lv in lt.values)
        if isinstance(lt, Composite):
            if behind_ptr:
                if lk == tk:
                    return True
                return isinstance(tt, Fwd) and tt.is_union == (lk == BtfKind.UNION)
            if lk != tk or not isinstance(tt, Composite) or \
                    len(lt.members) > len(tt.members):
                return False
            for lm in lt.members:
                if not any(_names_match(lm.name, tm.name) and
                           types_match(local, lm.type, target, tm.type, behind_ptr, level - 1)
                           for tm in tt.members):
                    return False
            return True
        if isinstance(lt, Int):
            return isinstance(tt, Int) and lt.size == tt.size and lt.signed == tt.signed
        if lk == BtfKind.PTR and isinstance(lt, Ref) and isinstance(tt, Ref) and \
                tk == BtfKind.PTR:
            behind_ptr = True
            local_id, targ_id = lt.type, tt.type
            continue
        if isinstance(lt, Array):
            if not isinstance(tt, Array) or lt.nelems != tt.nelems:
                return False
            local_id, targ_id = lt.type, tt.type
            continue
        if isinstance(lt, FuncProto):
            if not isinstance(tt, FuncProto) or len(lt.params) != len(tt.params):
                return False
            for lp, tp in zip(lt.params, tt.params, strict=True):
                if not types_match(local, lp.type, target, tp.type, behind_ptr, level - 1):
                    return False
            local_id, targ_id = lt.type, tt.type
            continue
        return False
    return False


_ESSENTIAL_INDEX: weakref.WeakKeyDictionary[Btf, dict[str, list[int]]] = \
    weakref.WeakKeyDictionary()


def candidates(local: Btf, local_id: int, target: Btf) -> list[int]:
    """Target types of the same kind whose essential name equals the local one's."""
    lt = local.type_by_id(local_id)
    index = _ESSENTIAL_INDEX.get(target)
    if index is None:
        index = {}
        for t in target.types[1:]:
            if t.name:
                index.setdefault(essential_name(t.name), []).append(t.id)
        _ESSENTIAL_INDEX[target] = index
    return [tid for tid in index.get(essential_name(lt.name), [])
            if _kinds_compat(target.types[tid].kind, lt.kind)]


__all__ = [
    "ENUMVAL_KINDS",
    "FIELD_KINDS",
    "TYPE_KINDS",
    "Accessor",
    "CoreSpec",
    "candidates",
    "essential_name",
    "fields_are_compat",
    "match_spec",
    "parse_spec",
    "types_are_compat",
    "types_match",
]
