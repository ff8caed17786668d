"""The load step: an opened :class:`~libbpf_compat.object.BpfObject` becomes
maps in the native store and one runnable :class:`~libbpf_compat.vm.Vm` per
program.

:func:`load_object` does what ``bpf_object__load`` does in libbpf, in the
same order, with this project's verifier in the kernel's place:

1. externs: every strong ``.kconfig`` value and ``.ksyms`` symbol must be
   supplied (ESRCH otherwise);
2. maps: each map is created through :func:`~libbpf_compat.mapstore.create_map`
   (Windows-ABI map types renumbered to the internal ones); global data maps
   get their initial contents and read-only ones (``.rodata``, ``.kconfig``:
   ``BPF_F_RDONLY_PROG``) are frozen; every map gets an fd;
3. programs (those with autoload on): CO-RE relocations from ``.BTF.ext``
   are applied against the target BTF -- the ``btf_custom_path`` open option
   when given, else the BTF of this project's hook context types (so a
   relocation against a type no hook provides is poisoned, and fails only if
   it runs, as libbpf does against a kernel without that type); every
   pseudo ``lddw`` becomes a plain 64-bit immediate (a map
   reference the map's native address, global data the address of the value
   plus the offset, a ``.kconfig`` value its address in the ``.kconfig``
   map, an unresolved weak ``.ksyms`` variable 0, a function address the
   function's slot index in the linked program, which callback helpers
   such as ``bpf_loop`` take); helper calls of Windows-ABI programs are
   renumbered to the internal IDs (an unknown helper, or one the program's
   type may not call -- helpers.prototypes.helper_allowed -- is refused
   with EINVAL naming the program, instruction and helper); a call to an unresolved weak kfunc
   becomes libbpf's poison call, like a CO-RE relocation that cannot be
   satisfied, and fails the run only when reached;
4. each program is verified (:mod:`libbpf_compat.verifier.load`) on its
   linked code -- CO-RE applied, helpers renumbered, map ``lddw`` still
   naming the object's maps -- against its program type's context and the
   object's map shapes; a rejection fails the load with EACCES naming the
   program, its log in the program's log buffer and printed through
   libbpf_set_print (the ``verify`` open option turns this off);
5. each program's code is handed to a :class:`ProgramVm` (a
   :class:`~libbpf_compat.vm.Vm` that keeps the maps its code points into
   alive) with the C helpers and the host's (helpers.host) registered and a
   helper for libbpf's poison call that fails the run (a call to a helper
   nobody implements fails the load with EINVAL): without bounds checks
   when the verifier proved it safe and a hook here runs its type, with
   them otherwise (verification off, a type whose context only the
   verifier knows, or a feature the verifier does not model yet).

Any error undoes everything: the fds are closed, the maps freed, and the
object stays unloaded.

Pinning (libbpf's ``bpf_object__reuse_map`` and auto-pinning): a map with
a ``pin_path`` (``LIBBPF_PIN_BY_NAME`` gives ``<pin_root_path>/<map name>``
at open, ``bpf_map__set_pin_path`` sets one) reuses the map already pinned
there when its shape matches -- no new map, no initial value written -- and
fails the load with EINVAL naming the map when it does not; otherwise the
map is created and, once everything else succeeded, pinned there. A load
that fails pins nothing (pins it made are removed again).

Maps of maps get their inner template from the BTF ``__array`` definition
or the legacy ``inner_map_idx``; ``.values`` slots are filled after the
programs are built (programs into prog arrays, maps into maps of maps).

Not done yet: write protection of ``BPF_F_RDONLY_PROG`` maps against
programs (the verifier's job) and return code translation at the hooks.
"""

from __future__ import annotations

import contextlib
import errno
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from libbpf_compat._native import ffi
from libbpf_compat.abi import internal_helper, internal_map_flags, internal_map_type
from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.abi.ctx_rewrite import rewrite_context_accesses
from libbpf_compat.btf import (
    POISON_HELPER,
    Btf,
    BtfExt,
    BtfKind,
    CoreRelo,
    patch_insn,
    resolve_core_relo,
)
from libbpf_compat.elf.functions import Function
from libbpf_compat.elf.log import pr_debug, pr_warn
from libbpf_compat.elf.relocations import RelocKind
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers.host import register_host_helpers
from libbpf_compat.helpers.ids import helper_by_internal
from libbpf_compat.helpers.native import register_c_helpers
from libbpf_compat.helpers.prototypes import helper_allowed
from libbpf_compat.hooks import registry
from libbpf_compat.hooks.contexts import context_types_btf, hook_contexts
from libbpf_compat.isa import SLOT_SIZE
from libbpf_compat.isa import opcodes as op
from libbpf_compat.mapstore import NativeMap, create_map, fd_table
from libbpf_compat.pinning import open_pinned_if_compatible, pin_map, unpin_path
from libbpf_compat.uapi import BPF_F_RDONLY_PROG, BpfMapType, BpfProgType
from libbpf_compat.verifier.load import verify_for_load
from libbpf_compat.vm import Vm

if TYPE_CHECKING:
    from libbpf_compat.object import BpfObject, ObjectMap, Program

_SLOT = struct.Struct("<BBhi")
_U32 = struct.Struct("<I")
_ARRAY_KEY = bytes(4)
_WINDOWS_PROG_TYPE = {internal: number for number, internal in windows_abi.PROG_TYPES.items()}


class ProgramVm(Vm):
    """A loaded program's VM: it keeps the maps its code points into alive,
    so running it stays safe after the object is closed (as a loaded
    program holds its maps in Linux). Programs the verifier did not prove
    safe run with bounds checks: they may touch their stack, the memory they
    are run on and their maps' regions (read-only for BPF_F_RDONLY_PROG maps
    such as .rodata), and anything else ends the run with EFAULT instead of
    harming the host. Verified programs run unchecked, as machine code where
    the JIT exists (LIBBPF_COMPAT_JIT=0 keeps them interpreted)."""

    def __init__(self, code: bytes, maps: tuple[NativeMap, ...], *,
                 bounds_check: bool = True) -> None:
        super().__init__(code, bounds_check=bounds_check, jit=not bounds_check)
        self.maps = maps
        self.prog_id = 0
        for m in maps:
            address, size = m.region()
            self.add_raw_region(address, size, writable=not m.map_flags & BPF_F_RDONLY_PROG,
                                keepalive=m)


    @property
    def prog_handle(self) -> int:
        """The native program a prog array slot holds (for tail calls)."""
        return int(ffi.cast("uintptr_t", self._program()))


class ReachedPoison(LibbpfError):
    """A run reached an instruction the loader poisoned (a CO-RE relocation
    that could not be satisfied, or a call to an unresolved weak kfunc)."""


@dataclass
class LoadState:
    """What a load created: maps by object map index and fds to close."""

    maps: list[NativeMap] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    #: by object map index: whether the map is pinned (reused or pinned by the load)
    pinned: list[bool] = field(default_factory=list)

    def release(self) -> None:
        """Close every fd the load installed (the maps go with the last reference)."""
        for fd in self.fds:
            if fd in fd_table:
                fd_table.close(fd)
        self.fds.clear()
        self.maps.clear()


def load_object(obj: BpfObject, provided_ksyms: tuple[str, ...] = ()) -> LoadState:
    """Load ``obj``: maps, then programs. Returns what was created; on any
    error everything created is released and the error is raised."""
    state = LoadState()
    try:
        obj.check_externs(provided_ksyms)
        target = _target_btf(obj)
        ext = _btf_ext(obj)
        # maps of maps last, so that a legacy inner_map_idx finds its template
        created: dict[int, NativeMap] = {}
        reused_by_index: dict[int, bool] = {}
        order = sorted(range(len(obj.maps)),
                       key=lambda i: obj.maps[i].definition.inner_map_idx >= 0)
        for i in order:
            map_ = obj.maps[i]
            native = _reuse_pinned(obj, map_)
            reused_by_index[i] = native is not None
            if native is None:
                native = _create_map(obj, map_, created)
            created[i] = native
        for i in range(len(obj.maps)):
            state.maps.append(created[i])
            state.fds.append(fd_table.install(created[i]))
        reused = [reused_by_index[i] for i in range(len(obj.maps))]
        loaded: list[tuple[Program, ProgramVm]] = []
        for prog in obj.programs:
            if prog.autoload:
                if prog.prog_type == BpfProgType.BPF_PROG_TYPE_UNSPEC:
                    # libbpf's "missing BPF prog type": an unknown section name
                    # and no bpf_program__set_type before the load
                    raise LibbpfError(errno.EINVAL, f"program {prog.name!r}: missing BPF "
                                                    f"program type, check ELF section name "
                                                    f"{prog.section_name!r}")
                linked = linked_code(obj, prog, ext, target)
                fast = obj.opts.verify and verify_for_load(
                    obj, prog, linked, ext, list(program_pieces(obj, prog)))
                code = _prepare_code(prog, linked, state.maps)
                used = {r.map_index for r in prog.relocations if r.map_index >= 0}
                loaded.append((prog, _build_vm(prog, code,
                                               tuple(state.maps[i] for i in sorted(used)),
                                               bounds_check=not fast)))
        _fill_slots(obj, state, loaded, reused)
        state.pinned = _pin_created(obj, state.maps, reused)
    except BaseException as exc:
        state.release()
        if isinstance(exc, LibbpfError):
            pr_warn(f"load: object {obj.name!r}: {exc}")
        raise
    for map_, native, fd, pinned in zip(obj.maps, state.maps, state.fds, state.pinned,
                                        strict=True):
        map_.attach_native(native, fd, pinned)
    for prog, vm in loaded:
        fd = fd_table.install(prog)
        state.fds.append(fd)
        prog.attach_vm(vm, fd)
        pr_debug(f"load: program {prog.name!r}: {vm.insn_count} instructions, fd {fd}")
    return state


# -- target BTF and CO-RE records ---------------------------------------------
def _target_btf(obj: BpfObject) -> Btf | None:
    path = obj.opts.btf_custom_path
    if path:
        try:
            return Btf.from_file(path)
        except LibbpfError as exc:
            raise LibbpfError(exc.errno or errno.EINVAL,
                              f"object {obj.name!r}: btf_custom_path {path!r}: "
                              f"{exc.strerror}") from exc
    return context_types_btf()


def _btf_ext(obj: BpfObject) -> BtfExt | None:
    section = obj.parsed.elf.by_name.get(".BTF.ext")
    if section is None or obj.btf is None:
        return None
    try:
        return BtfExt.from_bytes(section.data, obj.btf)
    except LibbpfError as exc:
        raise LibbpfError(exc.errno or errno.EINVAL,
                          f"object {obj.name!r}: section '.BTF.ext': {exc.strerror}") from exc


# -- maps ---------------------------------------------------------------------
_MAP_OF_MAPS = frozenset({BpfMapType.BPF_MAP_TYPE_ARRAY_OF_MAPS,
                          BpfMapType.BPF_MAP_TYPE_HASH_OF_MAPS})


def _fill_slots(obj: BpfObject, state: LoadState, loaded: list[tuple[Program, ProgramVm]],
                reused: list[bool]) -> None:
    """libbpf's ``.values`` initial slots: programs into prog arrays, maps
    into maps of maps (by fd, as user space would put them there)."""
    vms = {prog.name: vm for prog, vm in loaded}
    fds = {m.name: fd for m, fd in zip(obj.maps, state.fds, strict=True)}
    for index, map_ in enumerate(obj.maps):
        slots = map_.definition.init_slots
        if not slots or reused[index]:
            continue
        where = f"object {obj.name!r}: map {map_.name!r}"
        for slot, symbol in sorted(slots.items()):
            if symbol in vms:
                value_fd = fd_table.install(vms[symbol])
                temporary = True
            elif symbol in fds:
                value_fd, temporary = fds[symbol], False
            else:
                raise LibbpfError(errno.EINVAL, f"{where}: slot {slot}: {symbol!r} is no "
                                                "loaded program or map of the object")
            try:
                state.maps[index].update(struct.pack("<I", slot), struct.pack("<I", value_fd),
                                         0)
            except LibbpfError as exc:
                raise LibbpfError(exc.errno or errno.EINVAL,
                                  f"{where}: slot {slot} ({symbol}): {exc.strerror}") from exc
            finally:
                if temporary:
                    fd_table.close(value_fd)
def _inner_template(obj: BpfObject, map_: ObjectMap,
                    created: dict[int, NativeMap]) -> NativeMap | None:
    """The inner map template of a map of maps: made from the BTF
    ``__array`` definition, or the object's map a legacy inner_map_idx names."""
    d = map_.definition
    where = f"object {obj.name!r}: map {map_.name!r}"
    if d.inner is not None:
        inner = d.inner
        inner_type = inner.type if inner.internal else internal_map_type(obj.abi, inner.type)
        inner_flags = internal_map_flags(obj.abi, inner_type, inner.map_flags)
        try:
            return create_map(inner_type, f"{map_.name[:9]}.inner", inner.key_size,
                              inner.value_size, inner.max_entries, inner_flags,
                              map_extra=inner.map_extra)
        except LibbpfError as exc:
            raise LibbpfError(exc.errno or errno.EINVAL,
                              f"{where}: inner map template: {exc.strerror}") from exc
    if d.inner_map_idx >= 0:
        if d.inner_map_idx not in created:
            raise LibbpfError(errno.EINVAL, f"{where}: inner_map_idx {d.inner_map_idx} names "
                                            "no plain map of the object")
        return created[d.inner_map_idx]
    return None


def _create_map(obj: BpfObject, map_: ObjectMap, created: dict[int, NativeMap]) -> NativeMap:
    d = map_.definition
    where = f"object {obj.name!r}: map {map_.name!r}"
    map_type = d.type if d.internal else internal_map_type(obj.abi, d.type)
    map_flags = d.map_flags if d.internal else internal_map_flags(obj.abi, map_type, d.map_flags)
    inner = _inner_template(obj, map_, created) if map_type in _MAP_OF_MAPS else None
    lock_off = spin_lock_offset(obj.btf, d.btf_value_type_id, where)
    try:
        native = create_map(map_type, map_.name, d.key_size, d.value_size, d.max_entries,
                            map_flags, spin_lock_off=lock_off, map_extra=d.map_extra,
                            inner_map=inner)
    except LibbpfError as exc:
        raise LibbpfError(exc.errno or errno.EINVAL,
                          f"{where}: cannot create: {exc.strerror}") from exc
    if d.initial_value is not None:
        try:
            native.update(_ARRAY_KEY, d.initial_value, 0)
            if d.map_flags & BPF_F_RDONLY_PROG:
                native.freeze()
        except LibbpfError as exc:
            raise LibbpfError(exc.errno or errno.EINVAL,
                              f"{where}: initial value: {exc.strerror}") from exc
    return native


def spin_lock_offset(btf: Btf | None, value_type_id: int, where: str) -> int:
    """The offset of the ``struct bpf_spin_lock`` member of a map's BTF
    value type, -1 when it has none (as Linux, only a top-level member
    counts, and two of them are EINVAL)."""
    if btf is None or not value_type_id:
        return -1
    value = btf.resolved(value_type_id)
    if value.kind not in (BtfKind.STRUCT, BtfKind.UNION):
        return -1
    found = [m.bit_offset // 8 for m in btf.members(value.id)
             if btf.resolved(m.type).kind == BtfKind.STRUCT
             and btf.resolved(m.type).name == "bpf_spin_lock"]
    if len(found) > 1:
        raise LibbpfError(errno.EINVAL, f"{where}: the value holds {len(found)} "
                                        "struct bpf_spin_lock, at most one is allowed")
    return found[0] if found else -1


def _reuse_pinned(obj: BpfObject, map_: ObjectMap) -> NativeMap | None:
    """libbpf's bpf_object__reuse_map: the compatible map pinned at the map's
    pin path, None when there is no pin path or nothing is pinned there."""
    d = map_.definition
    if d.pin_path is None:
        return None
    map_type = d.type if d.internal else internal_map_type(obj.abi, d.type)
    try:
        found = open_pinned_if_compatible(d.pin_path, map_type, d.key_size, d.value_size,
                                          d.max_entries, d.map_flags, d.map_extra)
    except LibbpfError as exc:
        raise LibbpfError(exc.errno or errno.EINVAL,
                          f"object {obj.name!r}: map {map_.name!r}: {exc.strerror}") from exc
    if found is not None:
        pr_debug(f"load: map {map_.name!r}: reused pinned map at {d.pin_path!r}")
    return found


def _pin_created(obj: BpfObject, maps: list[NativeMap], reused: list[bool]) -> list[bool]:
    """Pin each created map that has a pin path (the last step of a load:
    an error unpins what this step pinned). Returns, by map index, whether
    the map is pinned."""
    done: list[str] = []
    try:
        for map_, native, was_reused in zip(obj.maps, maps, reused, strict=True):
            path = map_.definition.pin_path
            if path is not None and not was_reused:
                try:
                    pin_map(native, path)
                except LibbpfError as exc:
                    raise LibbpfError(exc.errno or errno.EINVAL,
                                      f"object {obj.name!r}: map {map_.name!r}: "
                                      f"{exc.strerror}") from exc
                done.append(path)
                pr_debug(f"load: map {map_.name!r}: pinned at {path!r}")
    except BaseException:
        for path in done:
            with contextlib.suppress(LibbpfError):
                unpin_path(path)
        raise
    return [m.definition.pin_path is not None for m in obj.maps]


# -- programs -----------------------------------------------------------------
def program_pieces(obj: BpfObject, prog: Program) -> Iterator[tuple[int, Function]]:
    """(first slot, function) of the main function and each appended sub-program."""
    functions = {p.function.name: p.function for p in obj.parsed.programs}
    slot = 0
    for function in [prog.parsed.function] + [functions[n] for n in prog.subprograms]:
        yield slot, function
        slot += function.size // SLOT_SIZE


def _apply_core(obj: BpfObject, prog: Program, code: bytearray, ext: BtfExt,
                target: Btf) -> None:
    local = obj.btf
    assert local is not None  # a .BTF.ext is only read with a .BTF
    for start, function in program_pieces(obj, prog):
        for relo in ext.core_relos.get(function.section_name, ()):
            if not function.offset <= relo.insn_off < function.end:
                continue
            moved: CoreRelo = replace(
                relo, insn_off=start * SLOT_SIZE + relo.insn_off - function.offset)
            pos = moved.insn_off
            end = pos + (16 if code[pos] == op.OPCODE_LDDW and pos + 16 <= len(code) else 8)
            try:
                result = resolve_core_relo(local, moved, target)
                # the linked code is in little-endian slot layout whatever the object's order
                code[pos:end] = patch_insn(bytes(code[pos:end]), moved, result, "little")
            except LibbpfError as exc:
                raise LibbpfError(
                    exc.errno or errno.EINVAL,
                    f"program {prog.name!r}: CO-RE relocation of instruction "
                    f"{moved.insn_idx} ({relo.kind.name} of [{relo.type_id}] "
                    f"{relo.access_str}): {exc.strerror}") from exc


def _set_imm64(code: bytearray, slot: int, value: int) -> None:
    pos = slot * SLOT_SIZE
    code[pos + 1] &= 0x0F  # src = 0: a plain 64-bit immediate
    _U32.pack_into(code, pos + 4, value & 0xFFFF_FFFF)
    _U32.pack_into(code, pos + 12, (value >> 32) & 0xFFFF_FFFF)


def _set_call(code: bytearray, slot: int, helper: int) -> None:
    pos = slot * SLOT_SIZE
    _SLOT.pack_into(code, pos, op.OPCODE_CALL, 0, 0, helper)


def _resolve_relocations(prog: Program, code: bytearray, maps: list[NativeMap]) -> None:
    for reloc in prog.relocations:
        where = f"program {prog.name!r}: instruction {reloc.insn} ({reloc.symbol!r})"
        if reloc.kind is RelocKind.MAP:
            _set_imm64(code, reloc.insn, maps[reloc.map_index].native_address)
        elif reloc.kind in (RelocKind.MAP_VALUE, RelocKind.KCONFIG):
            native = maps[reloc.map_index]
            if not 0 <= reloc.offset < max(native.value_size, 1):
                raise LibbpfError(errno.EINVAL, f"{where}: offset {reloc.offset} is outside "
                                                f"map {native.name!r}")
            _set_imm64(code, reloc.insn, native.value_address(_ARRAY_KEY) + reloc.offset)
        elif reloc.kind is RelocKind.FUNC_ADDR:
            _set_imm64(code, reloc.insn, reloc.offset)
        elif reloc.kind in (RelocKind.KSYM, RelocKind.KFUNC):
            # only weak externs get here (load_object checked the strong ones)
            if code[reloc.insn * SLOT_SIZE] == op.OPCODE_CALL:
                _set_call(code, reloc.insn, POISON_HELPER)
            else:  # the address of an unresolved weak symbol or kfunc is NULL
                _set_imm64(code, reloc.insn, 0)


def _renumber_helpers(prog: Program, code: bytearray) -> None:
    windows_type = _WINDOWS_PROG_TYPE.get(prog.prog_type) if prog.abi == "windows" else None
    own = registry.own_helper_ids(prog.prog_type)  # a registered type's own helpers
    calls: list[tuple[int, int]] = []
    slot = 0
    while slot * SLOT_SIZE < len(code):
        opcode, regs, _off, imm = _SLOT.unpack_from(code, slot * SLOT_SIZE)
        if opcode == op.OPCODE_CALL and regs >> 4 == 0 and imm in own:
            calls.append((slot, imm))
        elif opcode == op.OPCODE_CALL and regs >> 4 == 0 and imm != POISON_HELPER:
            try:
                internal = internal_helper(prog.abi, imm, windows_type)
            except LibbpfError as exc:
                raise LibbpfError(errno.EINVAL,
                                  f"program {prog.name!r}: instruction {slot}: call to "
                                  f"unknown {prog.abi} helper {imm} ({exc.strerror})") from exc
            if not helper_allowed(internal, prog.prog_type):
                helper = helper_by_internal(internal)
                name = helper.c_name if helper is not None else f"helper {internal}"
                raise LibbpfError(errno.EINVAL,
                                  f"program {prog.name!r}: instruction {slot}: {name} ({imm}) "
                                  f"is not allowed in programs of type {_type_name(prog)}")
            _SLOT.pack_into(code, slot * SLOT_SIZE, opcode, regs, _off, internal)
            calls.append((slot, internal))
        slot += 2 if opcode == op.OPCODE_LDDW else 1
    registry.check_helpers(prog.prog_type, prog.name, calls)


def _type_name(prog: Program) -> str:
    try:
        return BpfProgType(prog.prog_type).name
    except ValueError:
        return str(prog.prog_type)


def linked_code(obj: BpfObject, prog: Program, ext: BtfExt | None, target: Btf | None) -> bytes:
    """The program's code as the verifier reads it: CO-RE relocations applied and helper
    calls renumbered to internal IDs; map and global data ``lddw`` still unresolved."""
    code = bytearray(prog.code)
    if ext is not None and target is not None:
        _apply_core(obj, prog, code, ext, target)
    _renumber_helpers(prog, code)
    return bytes(code)


def _prepare_code(prog: Program, linked: bytes, maps: list[NativeMap]) -> bytes:
    """The code the VM runs: ``lddw`` resolved to native addresses and context
    accesses rewritten to the hook's native context."""
    code = bytearray(linked)
    _resolve_relocations(prog, code, maps)
    return rewrite_context(prog, bytes(code))


def rewrite_context(prog: Program, code: bytes) -> bytes:
    """``code`` with its context accesses moved to its hook's native context."""
    layouts = hook_contexts(prog.prog_type, prog.abi)
    if layouts is not None:
        return rewrite_context_accesses(code, layouts[0], layouts[1], prog.name)
    return code


def _reached_poison(r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    raise ReachedPoison(errno.EINVAL, "reached a poisoned instruction: a CO-RE relocation "
                                      "that could not be satisfied or an unresolved weak "
                                      "kfunc")


def _build_vm(prog: Program, code: bytes, maps: tuple[NativeMap, ...], *,
              bounds_check: bool = True) -> ProgramVm:
    """The program's VM: without bounds checks once the verifier proved it safe."""
    try:
        vm = ProgramVm(code, maps, bounds_check=bounds_check)
    except LibbpfError as exc:
        raise LibbpfError(exc.errno or errno.EINVAL,
                          f"program {prog.name!r}: {exc.strerror}") from exc
    register_c_helpers(vm)
    register_host_helpers(vm)
    registry.register_own_helpers(prog.prog_type, vm)
    vm.register_helper(POISON_HELPER, _reached_poison)
    try:  # resolve the helper calls now: a call to a helper nobody implements fails the load
        vm.link()
    except LibbpfError as exc:
        raise LibbpfError(exc.errno or errno.EINVAL,
                          f"program {prog.name!r}: {exc.strerror}{_named_call(code, exc)}") from exc
    return vm


def _named_call(code: bytes, exc: LibbpfError) -> str:
    """" (bpf_NAME)" for an error at a helper call the registry names."""
    pc = getattr(exc, "pc", None)
    if pc is None or not 0 <= pc * SLOT_SIZE < len(code):
        return ""
    opcode, _regs, _off, imm = _SLOT.unpack_from(code, pc * SLOT_SIZE)
    helper = helper_by_internal(imm) if opcode == op.OPCODE_CALL else None
    return f" ({helper.c_name}, not implemented)" if helper is not None else ""


#: The one place a loaded program's VM is built (objects and bpf_prog_load).
build_program_vm = _build_vm
#: Helper calls renumbered from the program's ABI (objects and bpf_prog_load).
renumber_helpers = _renumber_helpers

__all__ = ["LoadState", "ProgramVm", "ReachedPoison", "build_program_vm", "load_object",
           "renumber_helpers", "rewrite_context"]
