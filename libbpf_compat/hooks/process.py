"""The process hook (eBPF for Windows' PROCESS program type): process
creations and deletions a host reports.

Programs attach in order (``bpf_program__attach``) and each sees the event in
the native process context (:data:`~libbpf_compat.hooks.contexts.PROCESS_NATIVE`,
the layout of Windows' ``process_md_t``): ``command_start`` /
``command_end`` bound the command line the host gives, a read-only region
(a ``str`` is passed as UTF-8 bytes, ``bytes`` as they are). On a creation a
program returns 0 to permit it and anything else to deny it; a deny stops
the run. A deletion runs every program and cannot be refused (the return
values are only reported).
"""

from __future__ import annotations

import enum
import errno
import struct
import threading
from functools import lru_cache
from typing import NamedTuple

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
_CTX_PACK = NATIVE_PROCESS_CTX.pack_into
_CTX_SIZE = NATIVE_PROCESS_CTX.size


_U64 = (1 << 64) - 1
#: command lines as UTF-8 (hosts start the same few commands again and again)
_encoded = lru_cache(maxsize=1024)(str.encode)


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
                creating_process_id: int = 0, creating_thread_id: int = 0) -> ProcessResult:
        """Run the programs on ``operation`` of process ``process_id``."""
        return self._request(operation, process_id, parent_process_id, command_line,
                             creating_process_id, creating_thread_id)

    def _request(self, operation: int, process_id: int, parent_process_id: int,
                 command_line: str | bytes | bytearray | memoryview, creating_process_id: int,
                 creating_thread_id: int) -> ProcessResult:
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
        command: bytes
        if type(command_line) is bytes:
            command = command_line
        elif isinstance(command_line, str):
            command = _encoded(command_line)
        elif isinstance(command_line, (bytes, bytearray, memoryview)):
            command = bytes(command_line)
        else:
            raise LibbpfError(errno.EINVAL, f"process: invalid command line {command_line!r}")
        if len(command) > MAX_COMMAND_LINE:
            raise LibbpfError(errno.E2BIG, f"process: a command line of {len(command)} bytes "
                                           f"(the hook takes {MAX_COMMAND_LINE} at most)")
        chain = self._chain[:]
        retvals: list[int] = []
        verdict = _PERMIT
        if not chain:
            return ProcessResult(verdict, ())
        size = len(command)
        create = operation == _CREATE
        slot = self._runner.slot()
        try:
            start = slot.data_addr
            if size:
                slot.data_buf[0:size] = command
            if size != slot.data_len:
                slot.set_data_len(size)
            for att in chain:
                _CTX_PACK(slot.ctx_buf, 0, start, start + size, process_id, parent_process_id,
                          creating_process_id, creating_thread_id, operation)
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
               creating_process_id: int = 0, creating_thread_id: int = 0) -> ProcessResult:
        """Process ``parent_process_id`` creates ``process_id`` running
        ``command_line``: PERMIT unless a program returns non-zero."""
        return self._request(_CREATE, process_id, parent_process_id, command_line,
                             creating_process_id, creating_thread_id)

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
    "NATIVE_PROCESS_CTX",
    "ProcessHook",
    "ProcessOperation",
    "ProcessResult",
    "ProcessVerdict",
    "default_hook",
]
