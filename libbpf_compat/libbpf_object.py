"""libbpf's object, program and map-metadata functions, name for name.

Thin functions over :mod:`libbpf_compat.object`: where libbpf returns NULL
with an errno these raise :class:`~libbpf_compat.errors.LibbpfError`;
lookups by name that find nothing return None.
"""

from __future__ import annotations

import errno
from pathlib import Path

from libbpf_compat.elf.log import (
    LIBBPF_DEBUG,
    LIBBPF_INFO,
    LIBBPF_WARN,
    PrintFn,
    libbpf_set_print,
)
from libbpf_compat.errors import LibbpfError
from libbpf_compat.isa import Instruction
from libbpf_compat.mapstore import BytesLike
from libbpf_compat.object import BpfObject, ObjectMap, Program, bpf_object_open_opts
from libbpf_compat.sections import (
    libbpf_attach_type_by_name,
    libbpf_bpf_attach_type_str,
    libbpf_bpf_map_type_str,
    libbpf_bpf_prog_type_str,
    libbpf_prog_type_by_name,
)

Buffer = bytes | bytearray | memoryview


def _need(value: object, what: str) -> None:
    if value is None:
        raise LibbpfError(errno.EINVAL, f"{what} is NULL")


# bpf_object__*
def bpf_object__open(path: str | Path) -> BpfObject:
    return BpfObject.open_file(path)


def bpf_object__open_file(path: str | Path, opts: bpf_object_open_opts | None = None) -> BpfObject:
    return BpfObject.open_file(path, opts)


def bpf_object__open_mem(data: Buffer, opts: bpf_object_open_opts | None = None) -> BpfObject:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise LibbpfError(errno.EINVAL, f"bpf_object__open_mem: {type(data).__name__} is not "
                                        "a bytes-like object")
    if len(data) == 0:
        raise LibbpfError(errno.EINVAL, "bpf_object__open_mem: the buffer is empty")
    return BpfObject.open_mem(data, opts)


def bpf_object__load(obj: BpfObject) -> None:
    """Create the maps, relocate the programs and hand them to the VM (no verifier yet)."""
    _need(obj, "bpf_object__load: obj")
    obj.load()


def bpf_object__find_map_fd_by_name(obj: BpfObject, name: str) -> int:
    """The fd of the named map; ENOENT when there is none or it is not created."""
    return obj.find_map_fd_by_name(name)


def bpf_object__pin_maps(obj: BpfObject, path: str | None) -> None:
    """Pin every map at ``<path>/<map name>`` (path None: the maps that have
    a pin path, at it); ENOENT before load; an error unpins what was pinned."""
    if obj is None:
        raise LibbpfError(errno.ENOENT, "bpf_object__pin_maps: obj is NULL")
    obj.pin_maps(path)


def bpf_object__unpin_maps(obj: BpfObject, path: str | None) -> None:
    """Unpin every map from ``<path>/<map name>`` (path None: the maps that
    have a pin path, from it)."""
    if obj is None:
        raise LibbpfError(errno.ENOENT, "bpf_object__unpin_maps: obj is NULL")
    obj.unpin_maps(path)


def bpf_object__close(obj: BpfObject | None) -> None:
    if obj is not None:
        obj.close()


def bpf_object__name(obj: BpfObject) -> str:
    return obj.name


def bpf_object__next_program(obj: BpfObject, prev: Program | None) -> Program | None:
    return obj.next_program(prev)


def bpf_object__next_map(obj: BpfObject, prev: ObjectMap | None) -> ObjectMap | None:
    return obj.next_map(prev)


def bpf_object__find_program_by_name(obj: BpfObject, name: str) -> Program | None:
    return obj.find_program_by_name(name)


def bpf_object__find_map_by_name(obj: BpfObject, name: str) -> ObjectMap | None:
    return obj.find_map_by_name(name)


# bpf_program__*
def bpf_program__name(prog: Program) -> str:
    return prog.name


def bpf_program__section_name(prog: Program) -> str:
    return prog.section_name


def bpf_program__type(prog: Program) -> int:
    return prog.prog_type


def bpf_program__set_type(prog: Program, prog_type: int) -> None:
    prog.set_type(prog_type)


def bpf_program__expected_attach_type(prog: Program) -> int:
    return prog.expected_attach_type


def bpf_program__set_expected_attach_type(prog: Program, attach_type: int) -> None:
    prog.set_expected_attach_type(attach_type)


def bpf_program__autoload(prog: Program) -> bool:
    return prog.autoload


def bpf_program__set_autoload(prog: Program, autoload: bool) -> None:
    prog.set_autoload(autoload)


def bpf_program__insn_cnt(prog: Program) -> int:
    """Number of 8-byte instruction slots, the linked sub-programs included."""
    return prog.insn_cnt


def bpf_program__insns(prog: Program) -> list[Instruction]:
    """The linked program's instructions (an lddw is one :class:`Instruction`)."""
    return prog.insns


def bpf_program__fd(prog: Program) -> int:
    """The loaded program's fd; ENOENT before load."""
    return prog.get_fd()


def bpf_program__log_buf(prog: Program) -> tuple[bytearray | None, int]:
    """``(log_buf, log_size)``: the buffer set with set_log_buf and its size."""
    return prog.log_buf, prog.log_size


def bpf_program__set_log_buf(prog: Program, log_buf: bytearray | None,
                             log_size: int | None = None) -> None:
    prog.set_log_buf(log_buf, log_size)


def bpf_program__log_level(prog: Program) -> int:
    """The verifier log level the program is loaded with (0 unless set)."""
    return prog.log_level


def bpf_program__set_log_level(prog: Program, log_level: int) -> None:
    """The verifier log's detail: 1 the failing instruction with its source line and
    register state, 2 also the state before every instruction reached. EBUSY after load."""
    prog.set_log_level(log_level)


# bpf_map__* (metadata)
def bpf_map__name(map_: ObjectMap) -> str:
    return map_.name


def bpf_map__type(map_: ObjectMap) -> int:
    return map_.type


def bpf_map__key_size(map_: ObjectMap) -> int:
    return map_.key_size


def bpf_map__value_size(map_: ObjectMap) -> int:
    return map_.value_size


def bpf_map__max_entries(map_: ObjectMap) -> int:
    return map_.max_entries


def bpf_map__set_max_entries(map_: ObjectMap, max_entries: int) -> None:
    map_.set_max_entries(max_entries)


def bpf_map__set_value_size(map_: ObjectMap, value_size: int) -> None:
    map_.set_value_size(value_size)


def bpf_map__map_flags(map_: ObjectMap) -> int:
    return map_.map_flags


def bpf_map__initial_value(map_: ObjectMap) -> bytes | None:
    """The initial contents of a global data map; None for other maps."""
    return map_.initial_value


def bpf_map__set_initial_value(map_: ObjectMap, data: Buffer) -> None:
    map_.set_initial_value(data)


def bpf_map__set_pin_path(map_: ObjectMap, path: str | None) -> None:
    map_.set_pin_path(path)


def bpf_map__pin_path(map_: ObjectMap) -> str | None:
    return map_.pin_path


def bpf_map__pin(map_: ObjectMap, path: str | None) -> None:
    """Pin the created map at ``path`` (None: at its pin path)."""
    _need(map_, "bpf_map__pin: map")
    map_.pin(path)


def bpf_map__unpin(map_: ObjectMap, path: str | None = None) -> None:
    """Remove the map's pin (at its pin path, else at ``path``)."""
    _need(map_, "bpf_map__unpin: map")
    map_.unpin(path)


def bpf_map__is_pinned(map_: ObjectMap) -> bool:
    return map_.pinned


def bpf_map__is_internal(map_: ObjectMap) -> bool:
    return map_.is_internal


def bpf_map__fd(map_: ObjectMap) -> int:
    """The created map's fd; ENOENT before load."""
    return map_.get_fd()


# bpf_map__* element operations: C's value out-parameter is the return value;
# key_sz and value_sz are checked against the map as libbpf checks them.
def bpf_map__lookup_elem(map_: ObjectMap, key: BytesLike | None, key_sz: int, value_sz: int,
                         flags: int = 0) -> bytes:
    return map_.lookup_elem(key, key_sz, value_sz, flags)


def bpf_map__update_elem(map_: ObjectMap, key: BytesLike | None, key_sz: int,
                         value: BytesLike, value_sz: int, flags: int = 0) -> None:
    map_.update_elem(key, key_sz, value, value_sz, flags)


def bpf_map__delete_elem(map_: ObjectMap, key: BytesLike | None, key_sz: int,
                         flags: int = 0) -> None:
    map_.delete_elem(key, key_sz, flags)


def bpf_map__lookup_and_delete_elem(map_: ObjectMap, key: BytesLike | None, key_sz: int,
                                    value_sz: int, flags: int = 0) -> bytes:
    return map_.lookup_and_delete_elem(key, key_sz, value_sz, flags)


def bpf_map__get_next_key(map_: ObjectMap, cur_key: BytesLike | None, key_sz: int) -> bytes:
    """The key after ``cur_key`` (the first for None); ENOENT after the last."""
    return map_.get_next_key(cur_key, key_sz)


def bpf_map__btf_key_type_id(map_: ObjectMap) -> int:
    return map_.btf_key_type_id


def bpf_map__btf_value_type_id(map_: ObjectMap) -> int:
    return map_.btf_value_type_id


__all__ = [
    "LIBBPF_DEBUG",
    "LIBBPF_INFO",
    "LIBBPF_WARN",
    "PrintFn",
    "bpf_map__btf_key_type_id",
    "bpf_map__btf_value_type_id",
    "bpf_map__delete_elem",
    "bpf_map__fd",
    "bpf_map__get_next_key",
    "bpf_map__initial_value",
    "bpf_map__is_internal",
    "bpf_map__is_pinned",
    "bpf_map__key_size",
    "bpf_map__lookup_and_delete_elem",
    "bpf_map__lookup_elem",
    "bpf_map__map_flags",
    "bpf_map__max_entries",
    "bpf_map__name",
    "bpf_map__pin",
    "bpf_map__pin_path",
    "bpf_map__set_initial_value",
    "bpf_map__set_max_entries",
    "bpf_map__set_pin_path",
    "bpf_map__set_value_size",
    "bpf_map__type",
    "bpf_map__unpin",
    "bpf_map__update_elem",
    "bpf_map__value_size",
    "bpf_object__close",
    "bpf_object__find_map_by_name",
    "bpf_object__find_map_fd_by_name",
    "bpf_object__find_program_by_name",
    "bpf_object__load",
    "bpf_object__name",
    "bpf_object__next_map",
    "bpf_object__next_program",
    "bpf_object__open",
    "bpf_object__open_file",
    "bpf_object__open_mem",
    "bpf_object__pin_maps",
    "bpf_object__unpin_maps",
    "bpf_object_open_opts",
    "bpf_program__autoload",
    "bpf_program__expected_attach_type",
    "bpf_program__fd",
    "bpf_program__insn_cnt",
    "bpf_program__insns",
    "bpf_program__log_buf",
    "bpf_program__log_level",
    "bpf_program__name",
    "bpf_program__section_name",
    "bpf_program__set_autoload",
    "bpf_program__set_expected_attach_type",
    "bpf_program__set_log_buf",
    "bpf_program__set_log_level",
    "bpf_program__set_type",
    "bpf_program__type",
    "libbpf_attach_type_by_name",
    "libbpf_bpf_attach_type_str",
    "libbpf_bpf_map_type_str",
    "libbpf_bpf_prog_type_str",
    "libbpf_prog_type_by_name",
    "libbpf_set_print",
]
