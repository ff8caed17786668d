"""Checks a parsed type section must pass before it is used: every referenced
type id exists, reference chains end (no ``typedef A -> typedef A`` loop, no
struct embedding itself), FUNC points at a FUNC_PROTO.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from libbpf_compat.btf.types import (
    Array,
    BtfKind,
    BtfType,
    Composite,
    Datasec,
    DeclTag,
    Func,
    FuncProto,
    Ref,
    Var,
)
from libbpf_compat.errors import einval


def references(t: BtfType) -> list[int]:
    """Every type id ``t`` refers to."""
    cls = type(t)
    if cls is Ref or cls is Func or cls is Var or cls is DeclTag:
        return [t.type]  # type: ignore[attr-defined]
    if isinstance(t, Array):
        return [t.type, t.index_type]
    if isinstance(t, Composite):
        return [m.type for m in t.members]
    if isinstance(t, FuncProto):
        return [t.type, *(p.type for p in t.params)]
    if isinstance(t, Datasec):
        return [v.type for v in t.vars]
    return []


def _embedding_edges(t: BtfType) -> list[int]:
    """Types ``t`` contains by value: following them must never come back."""
    if isinstance(t, Ref):
        return [] if t.kind == BtfKind.PTR else [t.type]
    if isinstance(t, Array | Var):
        return [t.type]
    if isinstance(t, Composite):
        return [m.type for m in t.members]
    return []


def _declarator_edges(t: BtfType) -> list[int]:
    """Types spelled inside ``t``'s C declarator; named structs, unions and
    enums end a declarator (they are written by name)."""
    if isinstance(t, Ref | Array | Func | Var):
        return [t.type]
    if isinstance(t, FuncProto):
        return [t.type, *(p.type for p in t.params)]
    if isinstance(t, Composite) and not t.name:
        return [m.type for m in t.members]
    return []


def validate_types(types: Sequence[BtfType], first_id: int) -> None:
    """Raise LibbpfError(EINVAL) naming the first bad type in ``types[first_id:]``."""
    count = len(types)
    for tid in range(first_id, count):
        t = types[tid]
        for ref in references(t):
            if ref >= count:
                raise einval(f"BTF type [{tid}]: references type [{ref}] out of range "
                             f"(last id is {count - 1})")
        if isinstance(t, Func) and types[t.type].kind != BtfKind.FUNC_PROTO:
            raise einval(f"BTF type [{tid}]: func '{t.name}' type [{t.type}] is not a func_proto")
        if isinstance(t, FuncProto):
            for i, p in enumerate(t.params):
                if p.type == 0 and i != len(t.params) - 1:
                    raise einval(f"BTF type [{tid}]: void parameter {i} is not the last")
        if isinstance(t, DeclTag) and t.component_idx >= 0:
            target = types[t.type]
            n = len(target.members) if isinstance(target, Composite) else \
                len(target.params) if isinstance(target, FuncProto) else 0
            if t.component_idx >= n:
                raise einval(f"BTF type [{tid}]: decl_tag component {t.component_idx} "
                             f"out of range for type [{t.type}]")
    _check_loops(types, first_id, _embedding_edges)
    _check_loops(types, first_id, _declarator_edges)


def _check_loops(types: Sequence[BtfType], first_id: int,
                 edges_of: Callable[[BtfType], list[int]]) -> None:
    # 0 = unvisited, 1 = on the current path, 2 = done. Iterative DFS.
    state = bytearray(len(types))
    for root in range(first_id, len(types)):
        if state[root]:
            continue
        stack: list[tuple[int, list[int]]] = [(root, edges_of(types[root]))]
        state[root] = 1
        while stack:
            tid, edges = stack[-1]
            if not edges:
                state[tid] = 2
                stack.pop()
                continue
            nxt = edges.pop()
            if nxt < first_id or state[nxt] == 2:
                continue
            if state[nxt] == 1:
                raise einval(f"BTF type [{nxt}]: reference loop through type [{tid}]")
            state[nxt] = 1
            stack.append((nxt, edges_of(types[nxt])))


__all__ = ["references", "validate_types"]
