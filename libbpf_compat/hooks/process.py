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
from dataclasses import dataclass

from libbpf_compat._native import ffi
from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.chain import ProgramChain

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


@dataclass(frozen=True)
class ProcessResult:
    """One event through the hook: the verdict (always PERMIT for a
    deletion) and each program's raw return value in run order."""

    verdict: ProcessVerdict
    retvals: tuple[int, ...] = ()

    @property
    def permitted(self) -> bool:
        return self.verdict == ProcessVerdict.PERMIT


def _region(value: str | bytes | bytearray | memoryview, what: str, limit: int) -> bytearray:
    if isinstance(value, str):
        raw = bytearray(value.encode("utf-8"))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytearray(value)
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

    def request(self, operation: int, process_id: int, parent_process_id: int = 0,
                command_line: str | bytes | bytearray | memoryview = b"", *,
                creating_process_id: int = 0, creating_thread_id: int = 0,
                image_path: str | bytes | bytearray | memoryview = b"") -> ProcessResult:
        """Run the programs on ``operation`` of process ``process_id``."""
        if operation not in set(ProcessOperation):
            raise LibbpfError(errno.EINVAL, f"process: invalid operation {operation!r}")
        ids = (_u64(process_id, "process id"), _u64(parent_process_id, "parent process id"),
               _u64(creating_process_id, "creating process id"),
               _u64(creating_thread_id, "creating thread id"))
        command = _region(command_line, "command line", MAX_COMMAND_LINE)
        image = _region(image_path, "image path", MAX_IMAGE_PATH)
        if image and operation != ProcessOperation.CREATE:
            raise LibbpfError(errno.EINVAL, "process: only a creation has an image path")
        chain = self.attached_chain()
        retvals: list[int] = []
        verdict = ProcessVerdict.PERMIT
        region = command or bytearray(1)  # an empty command line still needs an address
        image_region = image or bytearray(1)
        view = memoryview(region)
        try:
            with ffi.from_buffer("uint8_t[]", region) as cbuf, \
                    ffi.from_buffer("uint8_t[]", image_region) as ibuf:
                start = int(ffi.cast("uintptr_t", cbuf))
                trailer = _TRAILER.pack(_TRAILER_MAGIC, int(ffi.cast("uintptr_t", ibuf)),
                                        len(image))
                for att in chain:
                    ctx = bytearray(NATIVE_PROCESS_CTX.pack(start, start + len(command), *ids,
                                                            int(operation)))
                    ctx += bytes(_TRAILER_AT - len(ctx)) + trailer
                    retval = att.vm.run_repeat(ctx, 1, regions=[(view, False)]).retval
                    retvals.append(retval & 0xFFFFFFFF)
                    if operation == ProcessOperation.CREATE and retvals[-1] != 0:
                        verdict = ProcessVerdict.DENY
                        break
        finally:
            view.release()
        return ProcessResult(verdict, tuple(retvals))

    def create(self, process_id: int, parent_process_id: int,
               command_line: str | bytes | bytearray | memoryview = b"", *,
               creating_process_id: int = 0, creating_thread_id: int = 0,
               image_path: str | bytes | bytearray | memoryview = b"") -> ProcessResult:
        """Process ``parent_process_id`` creates ``process_id`` running
        ``command_line`` (of image ``image_path``): PERMIT unless a program
        returns non-zero."""
        return self.request(ProcessOperation.CREATE, process_id, parent_process_id,
                            command_line, creating_process_id=creating_process_id,
                            creating_thread_id=creating_thread_id, image_path=image_path)

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
