"""BTF: parsing ``.BTF`` / ``.BTF.ext``, C dump, value codec and CO-RE relocation.

- :mod:`~libbpf_compat.btf.types`: kinds and the immutable type records;
- :mod:`~libbpf_compat.btf.parse`, :mod:`~libbpf_compat.btf.strings`,
  :mod:`~libbpf_compat.btf.validate`: decoding and checking raw BTF;
- :mod:`~libbpf_compat.btf.btf`: :class:`Btf` and its queries;
- :mod:`~libbpf_compat.btf.ext`: :class:`BtfExt` (func info, line info, CO-RE records);
- :mod:`~libbpf_compat.btf.dump_c`: :func:`dump_c`, like ``bpftool btf dump format c``;
- :mod:`~libbpf_compat.btf.codec`: :func:`decode` / :func:`encode` of values by type;
- :mod:`~libbpf_compat.btf.core_spec`, :mod:`~libbpf_compat.btf.core`: CO-RE;
- :mod:`~libbpf_compat.btf.write`: :func:`btf_to_bytes` (``Btf.raw_data()``).
"""

from __future__ import annotations

from libbpf_compat.btf.btf import Btf
from libbpf_compat.btf.codec import decode, encode, is_char
from libbpf_compat.btf.core import (
    POISON_HELPER,
    CoreResult,
    apply_core_relos,
    patch_insn,
    poison_insn,
    resolve_core_relo,
)
from libbpf_compat.btf.core_spec import essential_name
from libbpf_compat.btf.dump_c import dump_c
from libbpf_compat.btf.ext import BtfExt, CoreRelo, CoreReloKind, FuncInfo, LineInfo
from libbpf_compat.btf.types import (
    Array,
    BtfKind,
    BtfType,
    Composite,
    Datasec,
    DeclTag,
    Enum,
    EnumValue,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Linkage,
    Member,
    Param,
    Ref,
    Var,
    VarSecInfo,
)
from libbpf_compat.btf.write import btf_to_bytes

__all__ = [
    "POISON_HELPER",
    "Array",
    "Btf",
    "BtfExt",
    "BtfKind",
    "BtfType",
    "Composite",
    "CoreRelo",
    "CoreReloKind",
    "CoreResult",
    "Datasec",
    "DeclTag",
    "Enum",
    "EnumValue",
    "Float",
    "Func",
    "FuncInfo",
    "FuncProto",
    "Fwd",
    "Int",
    "IntEncoding",
    "LineInfo",
    "Linkage",
    "Member",
    "Param",
    "Ref",
    "Var",
    "VarSecInfo",
    "apply_core_relos",
    "btf_to_bytes",
    "decode",
    "dump_c",
    "encode",
    "essential_name",
    "is_char",
    "patch_insn",
    "poison_insn",
    "resolve_core_relo",
]
