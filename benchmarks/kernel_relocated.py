"""Load one program in the kernel from the code our loader links, for objects the system
libbpf cannot open (legacy ``maps`` sections, as Cilium's and the old kernel samples'):
the object's maps are created in the kernel with bpf(BPF_MAP_CREATE), the linked code's
map and global data ``lddw`` get their fds (BPF_PSEUDO_MAP_FD / BPF_PSEUDO_MAP_VALUE),
and the program is loaded with bpf(BPF_PROG_LOAD) and a log level; the kernel verifies
exactly the code our verifier verified (CO-RE applied as ours, no BTF given).
"""

from __future__ import annotations

import ctypes
import os
import re
import struct

from benchmarks.kernel_libbpf import (
    BPF_LOG_STATS,
    LOG_SIZE,
    KernelVerdict,
    error_line,
    parse_stats,
)
from libbpf_compat.elf.log import libbpf_set_print
from libbpf_compat.elf.mapdefs import MapDef
from libbpf_compat.elf.relocations import RelocKind
from libbpf_compat.errors import LibbpfError
from libbpf_compat.loader import _btf_ext, _target_btf, linked_code
from libbpf_compat.object import BpfObject
from libbpf_compat.uapi import BpfMapType
from tests import kernel_bpf

BPF_PROG_LOAD = 5
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_CALL = 1
BPF_PSEUDO_FUNC = 4
BPF_F_RDONLY_PROG = 0x80
SLOT = struct.Struct("<BBhi")

_NAME_OK = re.compile(r"[^A-Za-z0-9_.]")


def _create(d: MapDef, inner_fd: int = 0) -> int:
    """The kernel map for ``d`` (as libbpf would size it), or a negative errno."""
    key, value, entries = d.key_size, d.value_size, d.max_entries
    if d.type == BpfMapType.BPF_MAP_TYPE_PERF_EVENT_ARRAY and entries == 0:
        entries = kernel_bpf.possible_cpus()
    if d.type == BpfMapType.BPF_MAP_TYPE_RINGBUF:
        key = value = 0
    if d.type == BpfMapType.BPF_MAP_TYPE_PERF_EVENT_ARRAY:
        key = value = 4  # whatever value type the object declared (cilium/ebpf's examples)
    fd = kernel_bpf.create_map(d.type, key, value, entries, d.map_flags,
                               _NAME_OK.sub("_", d.name).encode(), d.map_extra, inner_fd)
    if fd >= 0 and d.initial_value:
        kmap = kernel_bpf.KernelMap(fd, 4, len(d.initial_value), False)
        rc = kmap.update(bytes(4), d.initial_value)
        if rc == 0 and d.map_flags & BPF_F_RDONLY_PROG:
            rc = kmap.freeze()  # as libbpf freezes .rodata: its values become constants
        if rc:
            os.close(fd)
            return rc
    return fd


def kernel_verify_relocated(path: str, program: str, prog_type: int | None = None,
                            log_level: int = BPF_LOG_STATS) -> KernelVerdict:
    """Load ``program`` of the object at ``path`` in the kernel from our linked code."""
    fds: list[int] = []
    previous = libbpf_set_print(None)
    try:
        obj = BpfObject.open_file(path)
    except LibbpfError as exc:
        return KernelVerdict(False, error=f"cannot open it: {exc}")
    finally:
        libbpf_set_print(previous)
    try:
        prog = next((p for p in obj.programs + obj.subprograms if p.name == program), None)
        if prog is None:
            return KernelVerdict(False, error="no such program")
        if prog.abi != "linux":
            return KernelVerdict(False, error=f"{prog.abi} ABI program")
        if not prog.prog_type and prog_type:
            prog.prog_type = prog_type
        try:
            code = bytearray(linked_code(obj, prog, _btf_ext(obj), _target_btf(obj)))
        except LibbpfError as exc:
            return KernelVerdict(False, error=f"cannot link: {exc}")
        map_fds: dict[int, int] = {}
        for index, m in enumerate(obj.maps):
            d = m.definition
            inner = d.inner or (obj.maps[d.inner_map_idx].definition
                                if 0 <= d.inner_map_idx < len(obj.maps) else None)
            inner_fd = 0
            if inner is not None:
                inner_fd = _create(inner)
                if inner_fd < 0:
                    return KernelVerdict(False, error=f"inner map of {d.name!r}: "
                                                      f"{os.strerror(-inner_fd)}")
                fds.append(inner_fd)
            fd = _create(d, inner_fd)
            if fd < 0:
                return KernelVerdict(False, error=f"map {d.name!r}: cannot create: "
                                                  f"{os.strerror(-fd)}")
            fds.append(fd)
            map_fds[index] = fd
        for r in prog.relocations:
            opcode, regs, off, _imm = SLOT.unpack_from(code, r.insn * 8)
            if r.kind is RelocKind.MAP:
                SLOT.pack_into(code, r.insn * 8, opcode, (regs & 0x0F) | BPF_PSEUDO_MAP_FD << 4,
                               off, map_fds[r.map_index])
                _set_imm(code, r.insn + 1, 0)
            elif r.kind is RelocKind.MAP_VALUE:
                SLOT.pack_into(code, r.insn * 8, opcode,
                               (regs & 0x0F) | BPF_PSEUDO_MAP_VALUE << 4, off,
                               map_fds[r.map_index])
                _set_imm(code, r.insn + 1, r.offset)
            elif r.kind in (RelocKind.CALL, RelocKind.FUNC_ADDR):
                src = BPF_PSEUDO_CALL if r.kind is RelocKind.CALL else BPF_PSEUDO_FUNC
                SLOT.pack_into(code, r.insn * 8, opcode, (regs & 0x0F) | src << 4, off,
                               r.offset - r.insn - 1)
            else:
                return KernelVerdict(False, error=f"{r.kind.value} relocation not supported "
                                                  "by this loader")
        return _prog_load(prog.prog_type, prog.expected_attach_type, bytes(code),
                          obj.license or "", obj.kern_version, prog.name, log_level)
    finally:
        for fd in fds:
            os.close(fd)
        obj.close()


def _set_imm(code: bytearray, slot: int, imm: int) -> None:
    opcode, regs, off, _imm = SLOT.unpack_from(code, slot * 8)
    SLOT.pack_into(code, slot * 8, opcode, regs, off, imm)


def _prog_load(prog_type: int, attach_type: int, code: bytes, license_: str,
               kern_version: int, name: str, log_level: int) -> KernelVerdict:
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license_.encode() + b"\0")
    log = ctypes.create_string_buffer(LOG_SIZE)
    attr = ctypes.create_string_buffer(kernel_bpf.ATTR_SIZE)
    struct.pack_into("IIQQIIQII16sII", attr, 0, prog_type, len(code) // 8,
                     ctypes.addressof(insns), ctypes.addressof(lic), log_level, LOG_SIZE,
                     ctypes.addressof(log), kern_version, 0,
                     _NAME_OK.sub("_", name).encode()[:15], 0, attach_type)
    fd = kernel_bpf.bpf(BPF_PROG_LOAD, attr)
    text = log.value.decode(errors="replace")
    if fd < 0:
        last = error_line(text)
        return KernelVerdict(False, error=os.strerror(-fd) + (f": {last}" if last else ""),
                             log=text)
    os.close(fd)
    stats = parse_stats(text)
    if stats is None:
        return KernelVerdict(False, error="loaded, but the log has no statistics", log=text)
    return KernelVerdict(True, stats[0], stats[1], log=text)


__all__ = ["kernel_verify_relocated"]
