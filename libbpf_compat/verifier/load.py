"""The verifier in ``bpf_object__load``: one object program verified against its
program type's context and the object's maps, its log written to the program's
log buffer and through libbpf_set_print, a rejection raised as EACCES (as Linux)."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from libbpf_compat.abi import internal_map_type
from libbpf_compat.btf import BtfExt
from libbpf_compat.elf.functions import Function
from libbpf_compat.elf.log import pr_debug, pr_warn
from libbpf_compat.elf.mapdefs import MapDef
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks import registry
from libbpf_compat.hooks.contexts import program_context
from libbpf_compat.sections import libbpf_bpf_prog_type_str
from libbpf_compat.uapi import BpfMapType
from libbpf_compat.verifier.program import LOG_BRIEF, MapInfo, Verdict, verify_program

if TYPE_CHECKING:
    from libbpf_compat.object import BpfObject, Program


def prog_type_name(prog_type: int) -> str:
    """libbpf's name of a program type, in capitals (``XDP``, ``BIND``)."""
    name = libbpf_bpf_prog_type_str(prog_type)
    return name.upper() if name is not None else f"program type {prog_type}"


_MAPS_OF_MAPS = frozenset({BpfMapType.BPF_MAP_TYPE_ARRAY_OF_MAPS,
                           BpfMapType.BPF_MAP_TYPE_HASH_OF_MAPS})


def _map_info(obj: BpfObject, d: MapDef, inner: MapInfo | None = None) -> MapInfo:
    from libbpf_compat.loader import spin_lock_offset  # the loader imports this module

    try:
        kind = d.type if d.internal else internal_map_type(obj.abi, d.type)
    except LibbpfError:
        kind = d.type
    try:
        lock = spin_lock_offset(obj.btf, d.btf_value_type_id, f"map {d.name!r}")
    except LibbpfError:
        lock = -1  # two locks: the map cannot be created, the load fails there
    return MapInfo(d.name, kind, d.key_size, d.value_size, d.max_entries, inner, lock)


def object_map_infos(obj: BpfObject) -> list[MapInfo]:
    """The shapes of the object's maps (by index), maps of maps with their inner one."""
    infos = []
    for m in obj.maps:
        d = m.definition
        info = _map_info(obj, d)
        if info.type in _MAPS_OF_MAPS:
            if d.inner is not None:
                info = replace(info, inner=_map_info(obj, d.inner))
            elif 0 <= d.inner_map_idx < len(obj.maps):
                info = replace(info, inner=_map_info(obj, obj.maps[d.inner_map_idx].definition))
        infos.append(info)
    return infos


def verify_linked(obj: BpfObject, prog: Program, linked: bytes, ext: BtfExt | None,
                  pieces: Sequence[tuple[int, Function]]) -> tuple[Verdict, bool]:
    """The verdict on ``prog``'s linked code, and whether a hook here runs its type."""
    layout, hooked = program_context(prog.prog_type, prog.abi)
    unsupported = None if layout is not None else (
        f"program type {prog_type_name(prog.prog_type)} ({prog.abi} ABI) has no context "
        "description")
    verdict = verify_program(
        prog.name, linked, relocations=prog.relocations, maps=object_map_infos(obj),
        layout=layout, ext=ext,
        pieces=[(slot, f.section_name, f.offset, f.end) for slot, f in pieces],
        log_level=max(prog.log_level, LOG_BRIEF), unsupported=unsupported,
        own_helpers=registry.own_helper_ids(prog.prog_type))
    return verdict, hooked


def _write_log_buf(prog: Program, text: str) -> None:
    buf = prog.log_buf
    if buf is None or prog.log_size <= 0:
        return
    data = text.encode()[:prog.log_size - 1] + b"\0"
    buf[:len(data)] = data


def verify_for_load(obj: BpfObject, prog: Program, linked: bytes, ext: BtfExt | None,
                    pieces: Sequence[tuple[int, Function]]) -> bool:
    """Verify ``prog`` for a load: raise EACCES naming it when rejected; True when it
    may run without the VM's bounds checks (verified, and a hook here runs its type)."""
    verdict, hooked = verify_linked(obj, prog, linked, ext, pieces)
    prog.verifier_log = verdict.log
    _write_log_buf(prog, verdict.log)
    if verdict.unsupported is not None:
        pr_debug(f"verifier: program {prog.name!r}: not verified ({verdict.unsupported}): "
                 "it runs with bounds checks")
        return False
    if not verdict.ok:
        pr_warn(f"prog {prog.name!r}: BPF program load failed: Permission denied\n"
                f"prog {prog.name!r}: -- BEGIN PROG LOAD LOG --\n{verdict.log}"
                f"-- END PROG LOAD LOG --")
        raise LibbpfError(errno.EACCES, f"program {prog.name!r}: the verifier rejected it: "
                                        f"{verdict.messages[0]}")
    if prog.log_level:
        pr_debug(f"prog {prog.name!r}: verifier log:\n{verdict.log}")
    return hooked


__all__ = ["object_map_infos", "prog_type_name", "verify_for_load", "verify_linked"]
