"""The process hook (eBPF for Windows' PROCESS program type): process
creations and deletions a host reports.

Programs attach in order (``bpf_program__attach``) and each sees the event in
the native process context (:data:`~libbpf_compat.hooks.contexts.PROCESS_NATIVE`,
the layout of Windows' ``process_md_t``): ``command_start`` /
``command_end`` bound the command line the host gives, a read-only region
(a ``str`` is passed as UTF-8 bytes, ``bytes`` as they are). On a creation a
program returns 0 to permit it and anything else to deny it; a deny stops
the run. A deletion runs every program and cannot be refused (the return
values are only reported). A creation may carry the new process's image
path (``image_path``, converted as the command line), which programs read
with ``bpf_process_get_image_path``; it follows the native context in a
trailer (``lbc_process_trailer``, native/lbc_runtime.h).
"""

from __future__ import annotations

import enum
import errno
import struct
import threading
from functools import lru_cache
from typing import NamedTuple

from libbpf_compat._native import ffi
from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.chain import ProgramChain
from libbpf_compat.hooks.fast_run import FastRunner
from libbpf_compat.hooks.fast_run import new_result as _new

#: The native context (PROCESS_NATIVE): command_start, command_end,
#: process_id, parent_process_id, creating_process_id, creating_thread_id,
#: operation.
NATIVE_PROCESS_CTX = struct.Struct("<QQQQQQI4x")
#: The longest command line the hook takes (Windows' limit, in bytes).
MAX_COMMAND_LINE = 32768
#: The longest image path the hook takes (a UNICODE_STRING's limit, in bytes).
MAX_IMAGE_PATH = 65534
#: Where the image path trailer starts in the native context, its layout
#: (magic, address, length) and magic (native/lbc_runtime.h).
_TRAILER_AT = 64
_TRAILER = struct.Struct("<QQI4x")
_TRAILER_MAGIC = 0x5043424C  # "LBCP"


class ProcessOperation(enum.IntEnum):
    CREATE = 0
    DELETE = 1


class ProcessVerdict(enum.IntEnum):
    PERMIT = 0
    DENY = 1


class ProcessResult(NamedTuple):
    """One event through the hook: the verdict (always PERMIT for a
    deletion) and each program's raw return value in run order."""

    verdict: ProcessVerdict
    retvals: tuple[int, ...] = ()

    @property
    def permitted(self) -> bool:
        return self.verdict == ProcessVerdict.PERMIT


_OPERATIONS = frozenset(ProcessOperation)
_PERMIT = ProcessVerdict.PERMIT
_CREATE = ProcessOperation.CREATE
#: the native context, padding up to the trailer, then the trailer
_CTX = struct.Struct(f"{NATIVE_PROCESS_CTX.format}"
                     f"{_TRAILER_AT - NATIVE_PROCESS_CTX.size}x{_TRAILER.format[1:]}")
_CTX_PACK = _CTX.pack_into
_CTX_SIZE = _CTX.size


_U64 = (1 << 64) - 1
#: command lines and image paths as UTF-8 (hosts start the same few
#: commands again and again)
_encoded = lru_cache(maxsize=1024)(str.encode)


def _region(value: str | bytes | bytearray | memoryview, what: str, limit: int) -> bytes:
    """A command line or image path as the bytes a program reads."""
    raw: bytes
    if type(value) is bytes:
        raw = value
    elif isinstance(value, str):
        raw = _encoded(value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    else:
        raise LibbpfError(errno.EINVAL, f"process: invalid {what} {value!r}")
    if len(raw) > limit:
        raise LibbpfError(errno.E2BIG, f"process: a {what} of {len(raw)} bytes (the hook "
                                       f"takes {limit} at most)")
    return raw


def _u64(value: int, what: str) -> int:
    if type(value) is not int or not 0 <= value < 1 << 64:
        raise LibbpfError(errno.EINVAL, f"process: invalid {what} {value!r}")
    return value


class ProcessHook(ProgramChain):
    """The process hook; the host calls :meth:`create` and :meth:`delete`."""

    hook_name = "process"
    prog_type = windows_abi.INTERNAL_PROG_PROCESS

    def __init__(self) -> None:
        super().__init__()
        self._runner = FastRunner(_CTX_SIZE, MAX_COMMAND_LINE)

    def request(self, operation: int, process_id: int, parent_process_id: int = 0,
                command_line: str | bytes | bytearray | memoryview = b"", *,
                creating_process_id: int = 0, creating_thread_id: int = 0,
                image_path: str | bytes | bytearray | memoryview = b"") -> ProcessResult:
        """Run the programs on ``operation`` of process ``process_id``."""
        return self._request(operation, process_id, parent_process_id, command_line,
                             creating_process_id, creating_thread_id, image_path)

    def _request(self, operation: int, process_id: int, parent_process_id: int,
                 command_line: str | bytes | bytearray | memoryview, creating_process_id: int,
                 creating_thread_id: int,
                 image_path: str | bytes | bytearray | memoryview) -> ProcessResult:
        if operation not in _OPERATIONS:
            raise LibbpfError(errno.EINVAL, f"process: invalid operation {operation!r}")
        if not (type(process_id) is int and 0 <= process_id <= _U64
                and type(parent_process_id) is int and 0 <= parent_process_id <= _U64
                and type(creating_process_id) is int and 0 <= creating_process_id <= _U64
                and type(creating_thread_id) is int and 0 <= creating_thread_id <= _U64):
            _u64(process_id, "process id")
            _u64(parent_process_id, "parent process id")
            _u64(creating_process_id, "creating process id")
            _u64(creating_thread_id, "creating thread id")
        command = _region(command_line, "command line", MAX_COMMAND_LINE)
        image = _region(image_path, "image path", MAX_IMAGE_PATH)
        if image and operation != _CREATE:
            raise LibbpfError(errno.EINVAL, "process: only a creation has an image path")
        chain = self._chain[:]
        retvals: list[int] = []
        verdict = _PERMIT
        if not chain:
            return ProcessResult(verdict, ())
        size = len(command)
        create = operation == _CREATE
        # the image path's bytes stay alive (and where they are) for the run
        image_buf = ffi.from_buffer(image) if image else None
        image_addr = int(ffi.cast("uintptr_t", image_buf)) if image_buf is not None else 0
        slot = self._runner.slot()
        try:
            start = slot.data_addr
            if size:
                slot.data_buf[0:size] = command
            if size != slot.data_len:
                slot.set_data_len(size)
            for att in chain:
                _CTX_PACK(slot.ctx_buf, 0, start, start + size, process_id, parent_process_id,
                          creating_process_id, creating_thread_id, operation,
                          _TRAILER_MAGIC, image_addr, len(image))
                retval = slot.run(att.vm, _CTX_SIZE) & 0xFFFFFFFF
                retvals.append(retval)
                if create and retval != 0:
                    verdict = ProcessVerdict.DENY
                    break
        finally:
            slot.busy = False
        return _new(ProcessResult, (verdict, tuple(retvals)))

    def create(self, process_id: int, parent_process_id: int,
               command_line: str | bytes | bytearray | memoryview = b"", *,
               creating_process_id: int = 0, creating_thread_id: int = 0,
               image_path: str | bytes | bytearray | memoryview = b"") -> ProcessResult:
        """Process ``parent_process_id`` creates ``process_id`` running
        ``command_line`` (of image ``image_path``): PERMIT unless a program
        returns non-zero."""
        return self._request(_CREATE, process_id, parent_process_id, command_line,
                             creating_process_id, creating_thread_id, image_path)

    def delete(self, process_id: int, parent_process_id: int = 0,
               command_line: str | bytes | bytearray | memoryview = b"", *,
               creating_process_id: int = 0, creating_thread_id: int = 0) -> ProcessResult:
        """Process ``process_id`` ends (the programs cannot refuse it)."""
        return self.request(ProcessOperation.DELETE, process_id, parent_process_id,
                            command_line, creating_process_id=creating_process_id,
                            creating_thread_id=creating_thread_id)


_default_hook: ProcessHook | None = None
_default_lock = threading.Lock()


def default_hook() -> ProcessHook:
    """The process-wide process hook the libbpf-style calls attach to."""
    global _default_hook
    with _default_lock:
        if _default_hook is None:
            _default_hook = ProcessHook()
        return _default_hook


__all__ = [
    "MAX_COMMAND_LINE",
    "MAX_IMAGE_PATH",
    "NATIVE_PROCESS_CTX",
    "ProcessHook",
    "ProcessOperation",
    "ProcessResult",
    "ProcessVerdict",
    "default_hook",
]
