"""The object layer: an opened BPF object, its programs and its maps' metadata.

:class:`BpfObject` wraps what the ELF reader found
(:func:`libbpf_compat.elf.parse.parse_object`): :class:`Program` for each
function of a code section other than ``.text`` (``.text`` functions are
sub-programs, appended to the programs that call them, as libbpf does) and
:class:`ObjectMap` for each map definition (user maps, then internal maps
for global data and ``.kconfig``). Setters refuse with EBUSY once the
object is loaded, as libbpf's do.

:meth:`BpfObject.load` (``bpf_object__load``) runs
:func:`libbpf_compat.loader.load_object`: afterwards each map has its
native map (``ObjectMap.native``) and fd, each loaded program its
:class:`~libbpf_compat.vm.Vm` (``Program.vm``, run with the raw calling
convention ``prog.vm.run(mem)``) and fd. :meth:`BpfObject.close` frees what
load created.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import threading
import weakref
from collections.abc import Container, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, TypeVar

from libbpf_compat.btf.btf import Btf
from libbpf_compat.elf.log import pr_warn
from libbpf_compat.elf.mapdefs import MapDef
from libbpf_compat.elf.maps_btf import LIBBPF_PIN_BY_NAME
from libbpf_compat.elf.parse import (
    ParsedObject,
    ParsedProgram,
    object_name_from_path,
    parse_object,
)
from libbpf_compat.elf.reader import ElfFile
from libbpf_compat.elf.relocations import InsnRelocation
from libbpf_compat.errors import LibbpfError
from libbpf_compat.isa import SLOT_SIZE, Instruction, decode
from libbpf_compat.loader import LoadState, load_object
from libbpf_compat.mapstore import BytesLike, NativeMap
from libbpf_compat.pinning import pin_map, pin_path_for, unpin_path
from libbpf_compat.sections import section_def
from libbpf_compat.uapi import BPF_F_RDONLY_PROG
from libbpf_compat.vm import Vm

_T = TypeVar("_T")

ABIS = ("linux", "windows")
DEFAULT_PIN_ROOT = "/sys/fs/bpf"
_WINDOWS_BTF_NAMES = ("xdp_md_t", "bind_md_t", "bpf_sock_addr_t", "bpf_sock_ops_t",
                      "process_md_t")


@dataclass
class bpf_object_open_opts:
    """libbpf's open options; ``abi`` is this project's: "linux", "windows" or None (detect)."""

    object_name: str | None = None
    kconfig: str | None = None
    btf_custom_path: str | None = None
    pin_root_path: str | None = None
    abi: str | None = None
    #: this project's: verify each program at load (the default). Off, programs are
    #: not verified and run with the VM's bounds checks instead.
    verify: bool = True

    def __post_init__(self) -> None:
        if self.abi is not None and self.abi not in ABIS:
            raise LibbpfError(
                errno.EINVAL, f"bpf_object_open_opts: abi {self.abi!r} is not one of {ABIS}"
            )


def detect_abi(elf: ElfFile, btf: Btf | None) -> str:
    """"windows" when a section name or a BTF context type only Windows has is present."""
    for section in elf.sections:
        definition = section_def(section.name) if section.is_executable else None
        if definition is not None and definition.windows_only:
            return "windows"
    if btf is not None and any(_windows_type(btf, name) for name in _WINDOWS_BTF_NAMES):
        return "windows"
    return "linux"


def _windows_type(btf: Btf, name: str) -> bool:
    """Does the object's BTF have the Windows context type ``name``? An ``xdp_md_t``
    whose ``data_end`` is at byte 4 is a typedef of Linux's ``struct xdp_md`` (32-bit
    fields, as PREVAIL's samples declare it); Windows' has 64-bit pointers, data_end
    at byte 8."""
    for tid in btf.find(name):
        if name != "xdp_md_t":
            return True
        try:
            members = btf.members(tid)
        except LibbpfError:
            return True
        if not any(m.name == "data_end" and m.bit_offset == 32 for m in members):
            return True
    return False


# Program ids (as maps get theirs in mapstore): given at load, never reused.
_prog_ids = itertools.count(1)
_progs_by_id: weakref.WeakValueDictionary[int, Program] = weakref.WeakValueDictionary()
_prog_id_lock = threading.Lock()


def prog_by_id(prog_id: int) -> Program | None:
    """The loaded program with id ``prog_id``, or None."""
    return _progs_by_id.get(prog_id)


class Detachable(Protocol):
    """What an object detaches when it closes (its programs' links)."""

    def detach_for_close(self) -> None: ...


class _Owned:
    def __init__(self, owner: BpfObject) -> None:
        self.owner = owner

    def _check_not_loaded(self, what: str) -> None:
        if self.owner.loaded:
            raise LibbpfError(
                errno.EBUSY, f"object {self.owner.name!r} is loaded: cannot {what}"
            )


class Program(_Owned):
    """One program of an object (or a ``.text`` sub-program, ``is_subprog``)."""

    def __init__(self, owner: BpfObject, parsed: ParsedProgram) -> None:
        super().__init__(owner)
        self.parsed = parsed
        self.name = parsed.name
        self.section_name = parsed.section_name
        self.is_subprog = parsed.is_subprog
        self.abi = owner.abi
        definition = section_def(self.section_name)
        self.prog_type = definition.prog_type if definition else 0
        self.expected_attach_type = definition.attach_type if definition else 0
        self.windows_only = bool(definition and definition.windows_only)
        self.autoload = not self.is_subprog
        self.log_buf: bytearray | None = None
        self.log_size = 0
        self.log_level = 0
        #: the verifier's log of the last load (also written to log_buf when set)
        self.verifier_log = ""
        self.fd = -1
        #: the loaded program, ready to run (None until the object is loaded)
        self.vm: Vm | None = None
        self._id = 0
        if definition is None and not self.is_subprog:
            pr_warn(f"elf: program {self.name!r}: unknown section name {self.section_name!r}: "
                    "set its type before load")

    def __repr__(self) -> str:
        return f"<Program {self.name!r} section {self.section_name!r}>"

    @property
    def code(self) -> bytes:
        """The linked bytecode: the program, then the sub-programs it calls."""
        return self.parsed.linked.code

    @property
    def insn_cnt(self) -> int:
        """Number of 8-byte instruction slots (lddw counts two), sub-programs included."""
        return len(self.parsed.linked.code) // SLOT_SIZE

    @property
    def insns(self) -> list[Instruction]:
        """The linked program as instructions (one :class:`Instruction` per lddw)."""
        return decode(self.parsed.linked.code)

    @property
    def relocations(self) -> list[InsnRelocation]:
        """Every resolved relocation: maps, global data, calls, externs."""
        return self.parsed.linked.relocations

    @property
    def subprograms(self) -> list[str]:
        """Names of the sub-programs appended to this program, in order."""
        return self.parsed.linked.subprograms

    @property
    def id(self) -> int:
        """The program's id (as bpf_prog_info's), 0 until it is loaded."""
        return self._id

    def attach_vm(self, vm: Vm, fd: int) -> None:
        """Called by the loader: the program's runnable form and its fd;
        the program gets an id if it has none yet."""
        self.vm = vm
        self.fd = fd
        if not self._id:
            with _prog_id_lock:
                self._id = next(_prog_ids)
                _progs_by_id[self._id] = self

    def detach(self) -> None:
        self.vm = None
        self.fd = -1

    def get_fd(self) -> int:
        """The program's fd; ENOENT when it is not loaded (libbpf's bpf_program__fd)."""
        if self.fd < 0:
            raise LibbpfError(errno.ENOENT, f"program {self.name!r} is not loaded")
        return self.fd

    def set_type(self, prog_type: int) -> None:
        self._check_not_loaded(f"set the type of program {self.name!r}")
        self.prog_type = int(prog_type)

    def set_expected_attach_type(self, attach_type: int) -> None:
        self._check_not_loaded(f"set the attach type of program {self.name!r}")
        self.expected_attach_type = int(attach_type)

    def set_autoload(self, autoload: bool) -> None:
        self._check_not_loaded(f"change autoload of program {self.name!r}")
        self.autoload = bool(autoload)

    def set_log_level(self, log_level: int) -> None:
        self._check_not_loaded("set its log level")
        if not 0 <= log_level <= 0xFFFF_FFFF:
            raise LibbpfError(errno.EINVAL, f"program {self.name!r}: log level {log_level} "
                                            "is out of range")
        self.log_level = log_level

    def set_log_buf(self, log_buf: bytearray | None, log_size: int | None = None) -> None:
        if log_buf is None and log_size:
            raise LibbpfError(errno.EINVAL, f"program {self.name!r}: log size without a buffer")
        if log_buf is not None and log_size is not None and log_size > len(log_buf):
            raise LibbpfError(
                errno.EINVAL,
                f"program {self.name!r}: log size {log_size} exceeds the buffer "
                f"({len(log_buf)} bytes)",
            )
        self._check_not_loaded(f"set the log buffer of program {self.name!r}")
        self.log_buf = log_buf
        self.log_size = len(log_buf) if log_buf is not None and log_size is None else (
            log_size or 0)


class ObjectMap(_Owned):
    """A map of an opened object: its definition, changeable until load."""

    def __init__(self, owner: BpfObject, definition: MapDef) -> None:
        super().__init__(owner)
        self.definition = definition
        self.fd = -1
        #: the map in the native store (None until the object is loaded)
        self.native: NativeMap | None = None
        #: pinned at ``pin_path`` (libbpf's ``map->pinned``)
        self.pinned = False

    def __repr__(self) -> str:
        return f"<ObjectMap {self.name!r} type {self.type}>"

    def attach_native(self, native: NativeMap, fd: int, pinned: bool = False) -> None:
        """Called by the loader: the created (or reused) map, its fd and
        whether it is pinned at ``pin_path``."""
        self.native = native
        self.fd = fd
        self.pinned = pinned

    def detach(self) -> None:
        self.native = None
        self.fd = -1

    def get_fd(self) -> int:
        """The map's fd; ENOENT before load."""
        if self.fd < 0:
            raise LibbpfError(errno.ENOENT, f"map {self.name!r} is not created: load "
                                            f"object {self.owner.name!r} first")
        return self.fd

    def mmap(self) -> memoryview:
        """The loaded map's memory-mapped value area (``NativeMap.mmap``), as
        libbpf maps ``BPF_F_MMAPABLE`` maps such as ``.bss`` and ``.data``
        after load: writable, read-only for ``BPF_F_RDONLY_PROG`` maps
        (``.rodata``). ENOENT before load, EINVAL for a map that is not an
        mmapable array."""
        native = self.native
        if native is None:
            raise LibbpfError(errno.ENOENT, f"map {self.name!r} is not created: load "
                                            f"object {self.owner.name!r} first")
        return native.mmap(writable=not native.map_flags & BPF_F_RDONLY_PROG)

    # Element operations (libbpf's bpf_map__*_elem: sizes checked as libbpf does).
    def _created(self, key_sz: int, value_sz: int | None) -> NativeMap:
        native = self.native
        if native is None:
            raise LibbpfError(errno.ENOENT, f"map {self.name!r} is not created: load "
                                            f"object {self.owner.name!r} first")
        if key_sz != native.key_size:
            raise LibbpfError(errno.EINVAL, f"map {self.name!r}: unexpected key size "
                                            f"{key_sz} provided, expected {native.key_size}")
        if value_sz is not None and value_sz != native.user_value_size:
            what = "per-CPU value size" if native.percpu else "value size"
            raise LibbpfError(errno.EINVAL, f"map {self.name!r}: unexpected {what} {value_sz} "
                                            f"provided, expected {native.user_value_size}")
        return native

    @staticmethod
    def _sized(data: BytesLike | None, size: int, what: str, name: str) -> BytesLike | None:
        if data is None:
            return None
        try:
            length = memoryview(data).nbytes
        except TypeError:
            raise LibbpfError(errno.EINVAL, f"map {name!r}: {what} must be a bytes-like "
                                            f"object, not {type(data).__name__}") from None
        if length != size:
            raise LibbpfError(errno.EINVAL, f"map {name!r}: {what} is {length} bytes, "
                                            f"but its size was given as {size}")
        return data

    def lookup_elem(self, key: BytesLike | None, key_sz: int, value_sz: int,
                    flags: int = 0) -> bytes:
        native = self._created(key_sz, value_sz)
        value = native.lookup(self._sized(key, key_sz, "key", self.name), flags)
        if value is None:
            raise LibbpfError(errno.ENOENT, f"map {self.name!r}: no element for this key")
        return value

    def update_elem(self, key: BytesLike | None, key_sz: int, value: BytesLike, value_sz: int,
                    flags: int = 0) -> None:
        native = self._created(key_sz, value_sz)
        native.update(self._sized(key, key_sz, "key", self.name),
                      self._sized(value, value_sz, "value", self.name), flags)

    def delete_elem(self, key: BytesLike | None, key_sz: int, flags: int = 0) -> None:
        if flags:
            raise LibbpfError(errno.EINVAL, f"map {self.name!r}: delete takes no flags")
        self._created(key_sz, None).delete(self._sized(key, key_sz, "key", self.name))

    def lookup_and_delete_elem(self, key: BytesLike | None, key_sz: int, value_sz: int,
                               flags: int = 0) -> bytes:
        native = self._created(key_sz, value_sz)
        return native.lookup_and_delete(self._sized(key, key_sz, "key", self.name), flags)

    def get_next_key(self, cur_key: BytesLike | None, key_sz: int) -> bytes:
        native = self._created(key_sz, None)
        nxt = native.get_next_key(self._sized(cur_key, key_sz, "key", self.name))
        if nxt is None:
            raise LibbpfError(errno.ENOENT, f"map {self.name!r}: no key after this one")
        return nxt

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def type(self) -> int:
        return self.definition.type

    @property
    def key_size(self) -> int:
        return self.definition.key_size

    @property
    def value_size(self) -> int:
        return self.definition.value_size

    @property
    def max_entries(self) -> int:
        return self.definition.max_entries

    @property
    def map_flags(self) -> int:
        return self.definition.map_flags

    @property
    def is_internal(self) -> bool:
        return self.definition.internal

    @property
    def btf_key_type_id(self) -> int:
        return self.definition.btf_key_type_id

    @property
    def btf_value_type_id(self) -> int:
        return self.definition.btf_value_type_id

    @property
    def pin_path(self) -> str | None:
        return self.definition.pin_path

    @property
    def initial_value(self) -> bytes | None:
        """The initial contents of a global data map (None for other maps)."""
        return self.definition.initial_value

    def set_max_entries(self, max_entries: int) -> None:
        self._check_not_loaded(f"resize map {self.name!r}")
        if not 0 <= max_entries <= 0xFFFF_FFFF:
            raise LibbpfError(errno.EINVAL, f"map {self.name!r}: bad max_entries {max_entries}")
        self.definition.max_entries = max_entries

    def set_value_size(self, value_size: int) -> None:
        self._check_not_loaded(f"change the value size of map {self.name!r}")
        if not 0 <= value_size <= 0xFFFF_FFFF:
            raise LibbpfError(errno.EINVAL, f"map {self.name!r}: bad value size {value_size}")
        initial = self.definition.initial_value
        if initial is not None:
            if value_size == 0:
                raise LibbpfError(errno.EINVAL, f"map {self.name!r}: global data cannot be empty")
            self.definition.initial_value = (initial + bytes(value_size))[:value_size]
        self.definition.value_size = value_size

    def set_initial_value(self, data: bytes | bytearray | memoryview) -> None:
        self._check_not_loaded(f"set the initial value of map {self.name!r}")
        if self.definition.initial_value is None or self.definition.section_name == ".kconfig":
            raise LibbpfError(
                errno.EINVAL,
                f"map {self.name!r} is not a global data map: its initial value cannot be set",
            )
        value = bytes(data)
        if len(value) != self.definition.value_size:
            raise LibbpfError(
                errno.EINVAL,
                f"map {self.name!r}: initial value is {len(value)} bytes, the value size is "
                f"{self.definition.value_size}",
            )
        self.definition.initial_value = value

    def set_pin_path(self, path: str | None) -> None:
        self._check_not_loaded(f"set the pin path of map {self.name!r}")
        self.definition.pin_path = path

    # Pinning (libbpf's bpf_map__pin / __unpin).
    def pin(self, path: str | None = None) -> None:
        """Pin the created map at ``path``, or at its pin path when None.
        EINVAL before load, without any path, or with a path other than the
        map's pin path; a map already pinned at its pin path is left as it is
        (EEXIST when it is pinned and ``path`` is given without a pin path)."""
        native = self.native
        if native is None:
            raise LibbpfError(errno.EINVAL, f"map {self.name!r}: can't pin a map that is not "
                                            f"created (load object {self.owner.name!r} first)")
        current = self.definition.pin_path
        if current is not None:
            if path is not None and path != current:
                raise LibbpfError(errno.EINVAL, f"map {self.name!r} already has pin path "
                                                f"{current!r}, different from {path!r}")
            if self.pinned:
                return
        elif path is None:
            raise LibbpfError(errno.EINVAL, f"map {self.name!r}: no path to pin it at")
        elif self.pinned:
            raise LibbpfError(errno.EEXIST, f"map {self.name!r} is already pinned")
        else:
            self.definition.pin_path = current = path
        try:
            pin_map(native, current)
        except LibbpfError as exc:
            raise LibbpfError(exc.errno or errno.EINVAL, f"map {self.name!r}: failed to pin "
                                                         f"at {current!r}: {exc.strerror}") from exc
        self.pinned = True

    def unpin(self, path: str | None = None) -> None:
        """Remove the pin at the map's pin path (``path``, when given, must be
        the same), or at ``path`` for a map without one. EINVAL without any
        path or for a different one, ENOENT when nothing is pinned there."""
        current = self.definition.pin_path
        if current is not None:
            if path is not None and path != current:
                raise LibbpfError(errno.EINVAL, f"map {self.name!r}: pin path {current!r} "
                                                f"is not {path!r}")
            path = current
        elif path is None:
            raise LibbpfError(errno.EINVAL, f"map {self.name!r}: no path to unpin it from")
        unpin_path(path)
        self.pinned = False


class BpfObject:
    """An opened BPF object file (not loaded: ``loaded`` stays False until a loader runs)."""

    def __init__(self, parsed: ParsedObject, path: str | None,
                 opts: bpf_object_open_opts) -> None:
        self.parsed = parsed
        self.path = path
        self.opts = opts
        self.name = parsed.name
        self.abi = parsed.abi
        self.license = parsed.license
        self.kern_version = parsed.kern_version
        self.btf = parsed.btf
        self.loaded = False
        self.closed = False
        self._load_state: LoadState | None = None
        #: links of this object's programs, detached when it closes
        self.links: list[Detachable] = []
        everything = [Program(self, p) for p in parsed.programs]
        self.programs = [p for p in everything if not p.is_subprog]
        self.subprograms = [p for p in everything if p.is_subprog]
        self.maps = [ObjectMap(self, d) for d in parsed.maps]
        root = opts.pin_root_path or DEFAULT_PIN_ROOT
        for map_ in self.maps:
            if map_.definition.pinning == LIBBPF_PIN_BY_NAME:
                map_.definition.pin_path = f"{root.rstrip('/')}/{map_.name}"

    def __repr__(self) -> str:
        return f"<BpfObject {self.name!r}: {len(self.programs)} programs, {len(self.maps)} maps>"

    # Opening.
    @classmethod
    def open_mem(cls, data: bytes | bytearray | memoryview,
                 opts: bpf_object_open_opts | None = None) -> BpfObject:
        opts = opts or bpf_object_open_opts()
        raw = bytes(data)
        name = opts.object_name or f"{id(data):x}-{len(raw):x}"
        return cls._open(raw, f"<memory {name}>", name, None, opts)

    @classmethod
    def open_file(cls, path: str | Path, opts: bpf_object_open_opts | None = None) -> BpfObject:
        opts = opts or bpf_object_open_opts()
        path = str(path)
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise LibbpfError(exc.errno or errno.ENOENT,
                              f"failed to open {path}: {exc.strerror}") from exc
        name = opts.object_name or object_name_from_path(path)
        return cls._open(raw, path, name, path, opts)

    @classmethod
    def _open(cls, raw: bytes, display: str, name: str, path: str | None,
              opts: bpf_object_open_opts) -> BpfObject:
        parsed = parse_object(raw, display, name, abi=opts.abi, detect_abi=detect_abi,
                              kconfig=opts.kconfig)
        return cls(parsed, path, opts)

    def check_externs(self, provided: Container[str] = ()) -> None:
        """What load does first: ESRCH naming a strong extern nobody supplies.

        ``provided`` names the ``.ksyms`` symbols the hooks export.
        """
        self.parsed.externs.check_resolved(provided)

    # Lookups and iteration.
    @property
    def functions(self) -> dict[str, list[str]]:
        """Every function of every code section by section name (``.text`` included)."""
        return self.parsed.functions

    def find_program_by_name(self, name: str) -> Program | None:
        return next((p for p in self.programs if p.name == name), None)

    def find_map_by_name(self, name: str) -> ObjectMap | None:
        return next((m for m in self.maps if m.name == name), None)

    def next_program(self, prev: Program | None) -> Program | None:
        return _next(self.programs, prev, "program", self.name)

    def next_map(self, prev: ObjectMap | None) -> ObjectMap | None:
        return _next(self.maps, prev, "map", self.name)

    def __iter__(self) -> Iterator[Program]:
        return iter(self.programs)

    # Loading.
    def load(self) -> None:
        """libbpf's bpf_object__load: maps created, programs relocated and handed to the VM.

        On error nothing stays created and the object stays unloaded.
        """
        if self.closed:
            raise LibbpfError(errno.EINVAL, f"object {self.name!r} is closed")
        if self.loaded:
            raise LibbpfError(errno.EINVAL, f"object {self.name!r} is already loaded")
        self._load_state = load_object(self)
        self.loaded = True

    def pin_maps(self, path: str | None = None) -> None:
        """libbpf's bpf_object__pin_maps: pin every map at ``<path>/<map name>``,
        or (path None) each map that has a pin path at it. ENOENT before load;
        on an error the maps pinned so far are unpinned again."""
        if not self.loaded:
            raise LibbpfError(errno.ENOENT, f"object {self.name!r} is not loaded: load it "
                                            "first")
        done: list[ObjectMap] = []
        try:
            for map_ in self.maps:
                if path is not None:
                    map_.pin(pin_path_for(map_.name, path))
                elif map_.definition.pin_path is not None:
                    map_.pin()
                else:
                    continue
                done.append(map_)
        except LibbpfError:
            for map_ in reversed(done):
                with contextlib.suppress(LibbpfError):
                    map_.unpin()
            raise

    def unpin_maps(self, path: str | None = None) -> None:
        """libbpf's bpf_object__unpin_maps: unpin every map from
        ``<path>/<map name>``, or (path None) each map with a pin path from it;
        stops at the first error."""
        for map_ in self.maps:
            if path is not None:
                map_.unpin(pin_path_for(map_.name, path))
            elif map_.definition.pin_path is not None:
                map_.unpin()

    def find_map_fd_by_name(self, name: str) -> int:
        """The fd of map ``name``: ENOENT when there is no such map or it is not created."""
        map_ = self.find_map_by_name(name)
        if map_ is None:
            raise LibbpfError(errno.ENOENT, f"object {self.name!r} has no map {name!r}")
        return map_.get_fd()

    # Lifetime.
    def close(self) -> None:
        """Detach the programs' links and free what load created (fds, maps,
        programs); the object cannot be loaded again."""
        links, self.links = self.links, []
        for link in links:
            with contextlib.suppress(LibbpfError):
                link.detach_for_close()
        if self._load_state is not None:
            self._load_state.release()
            self._load_state = None
        for prog in self.programs:
            prog.detach()
        for map_ in self.maps:
            map_.detach()
        self.loaded = False
        self.closed = True

    def __enter__(self) -> BpfObject:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _next(items: list[_T], prev: _T | None, what: str, owner: str) -> _T | None:
    if prev is None:
        return items[0] if items else None
    for index, item in enumerate(items):
        if item is prev:
            return items[index + 1] if index + 1 < len(items) else None
    raise LibbpfError(errno.EINVAL, f"the {what} given is not one of object {owner!r}'s")


__all__ = [
    "BpfObject",
    "Detachable",
    "MapDef",
    "ObjectMap",
    "Program",
    "bpf_object_open_opts",
    "detect_abi",
    "prog_by_id",
]
