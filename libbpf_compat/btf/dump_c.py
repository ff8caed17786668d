"""BTF as C: the header ``bpftool btf dump file X format c`` writes.

Types are ordered so each definition follows what it embeds; a struct met
again while being defined (a pointer cycle) gets a forward declaration.
Ints and floats are C's own; FUNC, VAR, DATASEC and DECL_TAG are not written.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence

from libbpf_compat.btf.btf import Btf
from libbpf_compat.btf.types import (
    Array,
    BtfKind,
    BtfType,
    Composite,
    Enum,
    FuncProto,
    Ref,
)
from libbpf_compat.btf.validate import references
from libbpf_compat.errors import LibbpfError, einval

_HEADER = """#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

"""
_FOOTER = """#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
"""
_CHAIN_KINDS = frozenset({BtfKind.PTR, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT,
                          BtfKind.TYPE_TAG, BtfKind.ARRAY, BtfKind.FUNC_PROTO})
_QUALIFIERS = {BtfKind.VOLATILE: "volatile", BtfKind.CONST: "const",
               BtfKind.RESTRICT: "restrict"}
_NOT_EMITTED, _EMITTING, _EMITTED = 0, 1, 2


def dump_c(btf: Btf) -> str:
    """All of ``btf``'s named types as one compilable C header."""
    try:
        body = "".join(_CDumper(btf).definitions())
    except RecursionError as exc:
        raise LibbpfError(errno.E2BIG, "C dump: BTF types nest too deeply") from exc
    return _HEADER + body + _FOOTER


class _CDumper:
    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.types = btf.types
        n = len(self.types)
        self.ordered = bytearray(n)
        self.ordering = bytearray(n)
        self.emit_state = bytearray(n)
        self.fwd_emitted = bytearray(n)
        self.queue: list[int] = []
        self.out: list[str] = []
        self.names: dict[int, str] = {}
        self.type_names: dict[str, int] = {}
        self.ident_names: dict[str, int] = {}
        self.ordered[0] = 1  # void needs no definition
        self.referenced = bytearray(n)
        for t in self.types:
            for ref in references(t):
                self.referenced[ref] = 1

    # -- names ----------------------------------------------------------
    def _resolve_name(self, tid: int, names: dict[str, int]) -> str:
        """The name to print for ``tid``: ``name___N`` for the N-th type to
        claim a name already taken (the first keeps it)."""
        cached = self.names.get(tid)
        if cached is not None:
            return cached
        t = self.types[tid]
        name = t.name
        if name and not (t.kind == BtfKind.FWD or (isinstance(t, Enum) and not t.values)):
            count = names.get(name, 0) + 1
            names[name] = count
            if count > 1:
                name = f"{name}___{count}"
        self.names[tid] = name
        return name

    def type_name(self, tid: int) -> str:
        return self._resolve_name(tid, self.type_names)

    def ident_name(self, tid: int) -> str:
        return self._resolve_name(tid, self.ident_names)

    def _enumerator(self, name: str) -> str:
        count = self.ident_names.get(name, 0) + 1
        self.ident_names[name] = count
        return name if count == 1 else f"{name}___{count}"

    def _fwd(self, t: BtfType) -> str:
        return f"{_tag(t)} {self.type_name(t.id)}"

    # -- ordering -------------------------------------------------------
    def definitions(self) -> list[str]:
        for tid in range(1, len(self.types)):
            self._order(tid, False)
        for tid in self.queue:
            self._emit(tid, 0)
        return self.out

    def _order(self, tid: int, through_ptr: bool) -> bool:
        """Queue ``tid``'s definition after its dependencies; True if it is a
        strong (by-value) dependency for whoever refers to it."""
        if self.ordered[tid]:
            return True
        t = self.types[tid]
        if self.ordering[tid]:
            if t.kind in (BtfKind.STRUCT, BtfKind.UNION) and through_ptr and t.name:
                return False
            raise einval(f"BTF type [{tid}]: unsatisfiable type cycle in C dump")
        kind = t.kind
        if kind in (BtfKind.INT, BtfKind.FLOAT):
            self.ordered[tid] = 1
            return False
        if kind == BtfKind.PTR:
            assert isinstance(t, Ref)
            strong = self._order(t.type, True)
            self.ordered[tid] = 1
            return strong
        if isinstance(t, Array):
            return self._order(t.type, False)
        if isinstance(t, Composite):
            if through_ptr and t.name:
                return False
            self.ordering[tid] = 1
            for m in t.members:
                self._order(m.type, False)
            self.ordering[tid] = 0
            if t.name:
                self.queue.append(tid)
            self.ordered[tid] = 1
            return True
        if kind in (BtfKind.ENUM, BtfKind.ENUM64, BtfKind.FWD):
            if t.name or not self.referenced[tid]:
                self.queue.append(tid)
            self.ordered[tid] = 1
            return True
        if kind == BtfKind.TYPEDEF:
            assert isinstance(t, Ref)
            strong = self._order(t.type, through_ptr)
            if through_ptr and not strong:
                return False
            self.queue.append(tid)
            self.ordered[tid] = 1
            return True
        if isinstance(t, Ref):
            return self._order(t.type, through_ptr)
        if isinstance(t, FuncProto):
            strong = self._order(t.type, through_ptr)
            for p in t.params:
                strong = self._order(p.type, through_ptr) or strong
            return strong
        self.ordered[tid] = 1
        return False

    # -- emission -------------------------------------------------------
    def _emit(self, tid: int, cont_id: int) -> None:
        state = self.emit_state[tid]
        if state == _EMITTED:
            return
        t = self.types[tid]
        top_level = cont_id == 0
        if state == _EMITTING:
            if self.fwd_emitted[tid]:
                return
            if isinstance(t, Composite):
                if tid == cont_id or not t.name:
                    return
                self.out.append(self._fwd(t) + ";\n\n")
                self.fwd_emitted[tid] = 1
            elif t.kind == BtfKind.TYPEDEF:
                if not _blacklisted(t):
                    self.out.append(self._typedef(t) + ";\n\n")
                self.fwd_emitted[tid] = 1
            return
        if isinstance(t, Enum):
            if top_level:
                self.out.append(self._enum_def(t, 0) + ";\n\n")
            self.emit_state[tid] = _EMITTED
        elif t.kind == BtfKind.FWD:
            self.out.append(self._fwd(t) + ";\n\n")
            self.emit_state[tid] = _EMITTED
        elif t.kind == BtfKind.TYPEDEF:
            assert isinstance(t, Ref)
            self.emit_state[tid] = _EMITTING
            self._emit(t.type, tid)
            if not self.fwd_emitted[tid] and not _blacklisted(t):
                self.out.append(self._typedef(t) + ";\n\n")
            self.emit_state[tid] = _EMITTED
        elif isinstance(t, Ref | Array):
            self._emit(t.type, cont_id)
        elif isinstance(t, Composite):
            self.emit_state[tid] = _EMITTING
            if top_level or not t.name:
                inner = cont_id if not t.name else tid
                for m in t.members:
                    self._emit(m.type, inner)
            elif not self.fwd_emitted[tid] and tid != cont_id:
                self.out.append(self._fwd(t) + ";\n\n")
                self.fwd_emitted[tid] = 1
            if top_level:
                self.out.append(self._struct_def(t, 0) + ";\n\n")
                self.emit_state[tid] = _EMITTED
            else:
                self.emit_state[tid] = _NOT_EMITTED
        elif isinstance(t, FuncProto):
            self._emit(t.type, cont_id)
            for p in t.params:
                self._emit(p.type, cont_id)
        else:
            self.emit_state[tid] = _EMITTED

    # -- definitions ----------------------------------------------------
    def _typedef(self, t: BtfType) -> str:
        assert isinstance(t, Ref)
        return "typedef " + self.decl(t.type, self.ident_name(t.id), 0)

    def _enum_def(self, t: Enum, lvl: int) -> str:
        text = "enum" + (" " + self.type_name(t.id) if t.name else "")
        if not t.values:
            return text
        suffix = ("LL" if t.signed else "ULL") if t.kind == BtfKind.ENUM64 else ""
        lines = []
        for v in t.values:
            # ENUM64 values are already u64/s64; a 32-bit one prints as %u or %d
            value = v.value if t.signed or t.kind == BtfKind.ENUM64 else v.value & 0xFFFFFFFF
            lines.append(f"\n{_pfx(lvl + 1)}{self._enumerator(v.name)} = {value}{suffix},")
        return text + " {" + "".join(lines) + f"\n{_pfx(lvl)}}}"

    def _struct_def(self, t: Composite, lvl: int) -> str:
        parts = [_tag(t) + (" " + self.type_name(t.id) if t.name else "") + " {"]
        is_struct = t.kind == BtfKind.STRUCT
        packed = is_struct and self._is_packed(t)
        align = 1 if packed else self._natural_align(t)
        off = 0
        prev_bitfield = False
        for m in t.members:
            m_align = 1 if packed else self._safe_align(m.type)
            in_bitfield = prev_bitfield and m.bitfield_size != 0
            parts.append(_bit_padding(off, m.bit_offset, m_align, in_bitfield, lvl + 1,
                                      self.btf.pointer_size))
            parts.append(f"\n{_pfx(lvl + 1)}" + self.decl(m.type, m.name, lvl + 1))
            if m.bitfield_size:
                parts.append(f": {m.bitfield_size}")
                off = m.bit_offset + m.bitfield_size
                prev_bitfield = True
            else:
                off = m.bit_offset + 8 * self.btf.size_of(m.type)
                prev_bitfield = False
            parts.append(";")
        if is_struct:
            parts.append(_bit_padding(off, t.size * 8, align, False, lvl + 1,
                                      self.btf.pointer_size))
        parts.append("\n" + _pfx(lvl) + "}" if t.members or t.size else "}")
        if packed:
            parts.append(" __attribute__((packed))")
        return "".join(parts)

    def _safe_align(self, tid: int) -> int:
        try:
            return self.btf.align_of(tid)
        except OSError:
            return 1

    def _natural_align(self, t: Composite) -> int:
        return max([self._safe_align(m.type) for m in t.members], default=1)

    def _is_packed(self, t: Composite) -> bool:
        align = self._natural_align(t)
        if t.size % align:
            return True
        return any(not m.bitfield_size and m.bit_offset % (8 * self._safe_align(m.type))
                   for m in t.members)

    # -- declarators ----------------------------------------------------
    def decl(self, tid: int, name: str, lvl: int) -> str:
        """``name`` declared with type ``tid`` (``int (*name)[4]`` and so on)."""
        stack = []
        while True:
            stack.append(tid)
            t = self.types[tid]
            if t.kind not in _CHAIN_KINDS:
                break
            tid = t.type  # type: ignore[attr-defined]
        return self._chain(stack, name, lvl)

    def _chain(self, stack: list[int], name: str, lvl: int) -> str:
        out: list[str] = []
        last_was_ptr = True
        while stack:
            tid = stack.pop()
            t = self.types[tid]
            kind = t.kind
            if kind == BtfKind.UNKN:
                out.append(_mods(self.types, stack) + "void")
            elif kind in (BtfKind.INT, BtfKind.FLOAT):
                out.append(_mods(self.types, stack) + t.name)
            elif kind == BtfKind.TYPEDEF:
                out.append(_mods(self.types, stack) + self.ident_name(tid))
            elif isinstance(t, Composite):
                body = self._struct_def(t, lvl) if not t.name else self._fwd(t)
                out.append(_mods(self.types, stack) + body)
            elif isinstance(t, Enum):
                body = self._enum_def(t, lvl) if not t.name else f"enum {self.type_name(tid)}"
                out.append(_mods(self.types, stack) + body)
            elif kind == BtfKind.FWD:
                out.append(_mods(self.types, stack) + self._fwd(t))
            elif kind == BtfKind.PTR:
                out.append("*" if last_was_ptr else " *")
            elif kind in _QUALIFIERS:
                out.append(" " + _QUALIFIERS[kind])
            elif kind == BtfKind.TYPE_TAG:
                out.append(_mods(self.types, stack)
                           + f' __attribute__((btf_type_tag("{t.name}")))')
            elif isinstance(t, Array):
                _drop_mods(self.types, stack)
                if not stack:
                    return "".join(out) + _name(name, last_was_ptr) + f"[{t.nelems}]"
                multidim = self.types[stack[-1]].kind == BtfKind.ARRAY
                if name and not last_was_ptr:
                    out.append(" ")
                inner = self._chain(stack, name, lvl)
                out.append(inner if multidim else f"({inner})")
                return "".join(out) + f"[{t.nelems}]"
            elif isinstance(t, FuncProto):
                _drop_mods(self.types, stack)
                if stack:
                    out.append(" (" + self._chain(stack, name, lvl) + ")")
                else:
                    out.append(_name(name, last_was_ptr))
                return "".join(out) + "(" + self._params(t, lvl) + ")"
            else:
                raise einval(f"BTF type [{tid}]: {kind.name} cannot appear in a C declaration")
            last_was_ptr = kind == BtfKind.PTR
        return "".join(out) + _name(name, last_was_ptr)

    def _params(self, t: FuncProto, lvl: int) -> str:
        params = t.params
        if not params or (len(params) == 1 and params[0].type == 0):
            return "void"
        parts = []
        for i, p in enumerate(params):
            if i == len(params) - 1 and p.type == 0:
                parts.append("...")
                break
            parts.append(self.decl(p.type, p.name, lvl))
        return ", ".join(parts)


def _tag(t: BtfType) -> str:
    if t.kind == BtfKind.FWD:
        return "union" if getattr(t, "is_union", False) else "struct"
    return "union" if t.kind == BtfKind.UNION else "struct"


def _blacklisted(t: BtfType) -> bool:
    """``__builtin_va_list`` is the compiler's own: never redefined."""
    return t.name == "__builtin_va_list"


def _pfx(lvl: int) -> str:
    return "\t" * lvl


def _name(name: str, last_was_ptr: bool) -> str:
    return (" " if name and not last_was_ptr else "") + name


def _mods(types: Sequence[BtfType], stack: list[int]) -> str:
    """Pop the qualifiers wrapping the base type, written before it."""
    text = ""
    while stack and types[stack[-1]].kind in _QUALIFIERS:
        text += _QUALIFIERS[types[stack.pop()].kind] + " "
    return text


def _drop_mods(types: Sequence[BtfType], stack: list[int]) -> None:
    while stack and types[stack[-1]].kind in _QUALIFIERS:
        stack.pop()


_PADS = (("long", 64), ("int", 32), ("short", 16), ("char", 8))


def _bit_padding(cur: int, nxt: int, next_align: int, in_bitfield: bool, lvl: int,
                 ptr_size: int) -> str:
    """Explicit ``type: bits;`` padding members for a gap C alignment would not fill."""
    if cur >= nxt:
        return ""
    pads = ((_PADS[0][0], ptr_size * 8), *_PADS[1:])
    out = []
    pad_type, pad_bits = pads[-1]
    new = cur
    for name, bits in pads:
        pad_type, pad_bits = name, bits
        new = -(-cur // bits) * bits
        if new <= nxt:
            break
    if cur < new <= nxt:
        if in_bitfield or (new == nxt and -(-cur // (next_align * 8)) * next_align * 8 != new) \
                or (new != nxt and nxt - new < pad_bits):
            out.append(f"\n{_pfx(lvl)}{pad_type}: {new - cur if in_bitfield else 0};")
        cur = new
    while cur != nxt:
        bits = min(nxt - cur, pad_bits)
        if bits == pad_bits:
            out.append(f"\n{_pfx(lvl)}{pad_type}: {pad_bits};")
            cur += bits
            continue
        for small_type, small_bits in reversed(pads):
            if small_bits >= bits:
                out.append(f"\n{_pfx(lvl)}{small_type}: {bits};")
                cur += bits
                break
    return "".join(out)


__all__ = ["dump_c"]
