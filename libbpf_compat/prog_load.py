"""``bpf_prog_load``: a program from raw instructions, as the bpf.h call
loads one without an object file.

The instructions go through the same steps as an object's program at
``bpf_object__load`` (:mod:`libbpf_compat.loader`): ``lddw`` map
references by fd (BPF_PSEUDO_MAP_FD, and BPF_PSEUDO_MAP_VALUE with the
value offset in the second slot's imm) become the map's address, helper
calls are renumbered from the program's ABI (``opts.abi``; Linux by
default), the program is verified against its type's context and the
maps it names (EACCES with the log in ``opts.log_buf`` when rejected;
verified programs of the hooks' types run without bounds checks), context
accesses are rewritten to the hook's native context and
the VM is built where every loaded program's is
(:func:`libbpf_compat.loader.build_program_vm`). The returned fd is a
loaded program: ``bpf_prog_attach``, ``bpf_prog_test_run_opts`` and the
hooks take it.
"""

from __future__ import annotations

import errno
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.abi.translate import check_abi, internal_attach_type, internal_prog_type
from libbpf_compat.elf.log import pr_debug
from libbpf_compat.elf.relocations import InsnRelocation, RelocKind
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks import registry
from libbpf_compat.hooks.contexts import program_context
from libbpf_compat.isa import Instruction, encode
from libbpf_compat.isa import opcodes as op
from libbpf_compat.loader import build_program_vm, renumber_helpers, rewrite_context
from libbpf_compat.mapstore import NativeMap, fd_table
from libbpf_compat.object import Program
from libbpf_compat.verifier.load import prog_type_name
from libbpf_compat.verifier.program import LOG_BRIEF, MapInfo, verify_program

if TYPE_CHECKING:
    from libbpf_compat.object import BpfObject

#: Linux's BPF_COMPLEXITY_LIMIT_INSNS.
MAX_INSNS = 1_000_000
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
_NAME = re.compile(r"^[A-Za-z0-9_.]*$")
_SLOT = struct.Struct("<BBhi")


@dataclass
class bpf_prog_load_opts:
    """libbpf's struct bpf_prog_load_opts (the fields this project uses),
    and ``abi``: the numbering of the program type, attach type and
    helper calls ("linux" or "windows")."""

    expected_attach_type: int = 0
    prog_flags: int = 0
    kern_version: int = 0
    log_level: int = 0
    log_size: int = 0
    log_buf: bytearray | None = None
    abi: str = "linux"


class _RawOwner:
    """What a raw program's owner must offer (links, name, loaded)."""

    def __init__(self, name: str, abi: str, license: str) -> None:
        self.name = name
        self.abi = abi
        self.license = license
        self.loaded = True
        self.closed = False
        self.links: list[object] = []


class RawProgram(Program):
    """A program bpf_prog_load made from raw instructions."""

    def __init__(self, name: str, prog_type: int, attach_type: int, abi: str, license: str,
                 code: bytes) -> None:
        # no object file: set what Program's users read instead of parsing
        self.owner = cast("BpfObject", _RawOwner(name, abi, license))
        self.name = name
        self.section_name = ""
        self.is_subprog = False
        self.abi = abi
        self.prog_type = prog_type
        self.expected_attach_type = attach_type
        self.windows_only = False
        self.autoload = True
        self.log_buf = None
        self.log_size = 0
        self.log_level = 0
        self.fd = -1
        self.vm = None
        self._id = 0
        self._code = code

    def __repr__(self) -> str:
        return f"<RawProgram {self.name!r} type {self.prog_type}>"

    @property
    def code(self) -> bytes:
        return self._code

    @property
    def insn_cnt(self) -> int:
        return len(self._code) // 8

    @property
    def relocations(self) -> list[InsnRelocation]:
        return []

    @property
    def subprograms(self) -> list[str]:
        return []


def _map_relocations(code: bytes | bytearray) -> list[InsnRelocation]:
    """The map references of ``code``'s lddw instructions (checked by _resolve_map_refs,
    which runs first) as the verifier reads an object's: map indexes in the order
    _resolve_map_refs returns the maps."""
    index: dict[int, int] = {}
    found = []
    slot = 0
    count = len(code) // 8
    while slot < count:
        opcode, regs, _off, imm = _SLOT.unpack_from(code, slot * 8)
        if opcode == op.OPCODE_LDDW and slot + 1 < count:
            src = regs >> 4
            if src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE):
                target = fd_table.get(imm)
                i = index.setdefault(id(target), len(index))
                if src == BPF_PSEUDO_MAP_FD:
                    found.append(InsnRelocation(slot, RelocKind.MAP, "", i))
                else:
                    offset = _SLOT.unpack_from(code, slot * 8 + 8)[3]
                    found.append(InsnRelocation(slot, RelocKind.MAP_VALUE, "", i, offset))
            slot += 2
        else:
            slot += 1
    return found


def _verify(prog: RawProgram, code: bytes, maps: tuple[NativeMap, ...],
            opts: bpf_prog_load_opts) -> bool:
    """Verify the raw program as bpf_object__load verifies an object's: EACCES when
    rejected (its log in ``opts.log_buf``); True when it may run without bounds checks."""
    layout, hooked = program_context(prog.prog_type, prog.abi)
    infos = [MapInfo(m.name, m.map_type, m.key_size, m.value_size, m.max_entries,
                     spin_lock_off=m.spin_lock_off) for m in maps]
    verdict = verify_program(prog.name, code, relocations=_map_relocations(code),
                             maps=infos, layout=layout,
                             log_level=max(opts.log_level, LOG_BRIEF),
                             unsupported=None if layout is not None else (
                                 f"program type {prog_type_name(prog.prog_type)} "
                                 f"({prog.abi} ABI) has no context description"),
                             own_helpers=registry.own_helper_ids(prog.prog_type))
    if opts.log_buf is not None and opts.log_size > 0:
        data = verdict.log.encode()[:opts.log_size - 1] + b"\0"
        opts.log_buf[:len(data)] = data
    if verdict.unsupported is not None:
        pr_debug(f"verifier: program {prog.name!r}: not verified ({verdict.unsupported}): "
                 "it runs with bounds checks")
        return False
    if not verdict.ok:
        raise LibbpfError(errno.EACCES, f"bpf_prog_load: program {prog.name!r}: the verifier "
                                        f"rejected it: {verdict.messages[0]}")
    return hooked


def _resolve_map_refs(name: str, code: bytearray) -> tuple[NativeMap, ...]:
    """Map fds in lddw instructions become map addresses; returns the maps."""
    maps: dict[int, NativeMap] = {}
    slot = 0
    count = len(code) // 8
    while slot < count:
        opcode, regs, _off, imm = _SLOT.unpack_from(code, slot * 8)
        if opcode == op.OPCODE_LDDW:
            src = regs >> 4
            if slot + 1 >= count:
                raise LibbpfError(errno.EINVAL, f"program {name!r}: instruction {slot}: lddw "
                                                "without its second slot")
            if src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE):
                target = fd_table.get(imm) if imm in fd_table else None
                if not isinstance(target, NativeMap):
                    raise LibbpfError(errno.EBADF, f"program {name!r}: instruction {slot}: fd "
                                                   f"{imm} is not a map")
                maps[id(target)] = target
                if src == BPF_PSEUDO_MAP_FD:
                    value = target.native_address
                else:
                    offset = _SLOT.unpack_from(code, slot * 8 + 8)[3]
                    if not 0 <= offset < max(target.value_size, 1):
                        raise LibbpfError(errno.EINVAL, f"program {name!r}: instruction "
                                                        f"{slot}: offset {offset} is outside "
                                                        f"map {target.name!r}")
                    value = target.value_address(bytes(4)) + offset
                code[slot * 8 + 1] = regs & 0x0F
                struct.pack_into("<I", code, slot * 8 + 4, value & 0xFFFFFFFF)
                struct.pack_into("<I", code, slot * 8 + 12, value >> 32)
            elif src:
                raise LibbpfError(errno.EINVAL, f"program {name!r}: instruction {slot}: lddw "
                                                f"pseudo source {src} needs an object file")
            slot += 2
        else:
            slot += 1
    return tuple(maps.values())


def _internal_prog_type(abi: str, prog_type: int) -> int:
    """The internal number of ``prog_type``; a registered type is also
    known by its own number (the Windows ABI) or its internal one."""
    if abi == "windows" and type(prog_type) is int:
        spec = registry.registered_type(windows_abi.WINDOWS_ONLY_BASE + prog_type)
        if spec is not None:
            return spec.prog_type
    if registry.registered_type(prog_type) is not None:
        return prog_type
    return internal_prog_type(abi, prog_type)


def bpf_prog_load(prog_type: int, prog_name: str | None, license: str,
                  insns: bytes | bytearray | list[Instruction], insn_cnt: int,
                  opts: bpf_prog_load_opts | None = None) -> int:
    """Load ``insn_cnt`` raw instructions as a program of ``prog_type``;
    returns its fd."""
    opts = opts or bpf_prog_load_opts()
    abi = check_abi(opts.abi)
    name = prog_name or ""
    if len(name) > 15 or not _NAME.match(name):
        raise LibbpfError(errno.EINVAL, f"bpf_prog_load: invalid program name {name!r}")
    code = bytearray(encode(insns) if isinstance(insns, list) else bytes(insns))
    if type(insn_cnt) is not int or insn_cnt <= 0 or len(code) != 8 * insn_cnt:
        raise LibbpfError(errno.EINVAL, f"bpf_prog_load: {insn_cnt!r} instructions given, "
                                        f"the code holds {len(code) / 8:g}")
    if insn_cnt > MAX_INSNS:
        raise LibbpfError(errno.E2BIG, f"bpf_prog_load: {insn_cnt} instructions (at most "
                                       f"{MAX_INSNS})")
    if not isinstance(license, str):
        raise LibbpfError(errno.EINVAL, "bpf_prog_load: the license must be a string")
    internal_type = _internal_prog_type(abi, prog_type)
    attach = internal_attach_type(abi, opts.expected_attach_type) if (
        opts.expected_attach_type) else 0
    prog = RawProgram(name, internal_type, attach, abi, license, bytes(code))
    linked = bytes(code)  # lddw still naming map fds, as the verifier reads them
    maps = _resolve_map_refs(name, code)
    renumber_helpers(prog, code)
    linked_code = bytearray(linked)
    renumber_helpers(prog, linked_code)
    fast = _verify(prog, bytes(linked_code), maps, opts)
    final = rewrite_context(prog, bytes(code))
    vm = build_program_vm(prog, final, maps, bounds_check=not fast)
    fd = fd_table.install(prog)
    prog.attach_vm(vm, fd)
    return fd


__all__ = ["RawProgram", "bpf_prog_load", "bpf_prog_load_opts"]
