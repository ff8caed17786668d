"""The system libbpf (``libbpf.so.1``, Debian's libbpf1) through ctypes: load one program
of an object in the real kernel with a log level, and read the kernel verifier's
statistics from its log (``BPF_LOG_STATS``: "verification time N usec", "processed N
insns").

Only for benchmarks run as root where bpf() is permitted; :func:`unavailable` says why
not. Each :func:`kernel_verify` opens the object afresh and loads only the chosen
program (the others' autoload off), so one refused program does not hide the others.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
from dataclasses import dataclass
from functools import cache

from tests import kernel_bpf

#: ``log_level`` bits of BPF_PROG_LOAD (include/uapi/linux/bpf.h)
BPF_LOG_LEVEL1 = 1
BPF_LOG_LEVEL2 = 2
BPF_LOG_STATS = 4

LOG_SIZE = 1 << 20

_TIME = re.compile(r"verification time (\d+) usec")
_PROCESSED = re.compile(r"processed (\d+) insns")

_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


@dataclass
class KernelVerdict:
    """The kernel's answer for one program: ``usec`` and ``processed`` from its stats
    log when it loaded, else ``error`` says why not (errno text and the log's last
    line)."""

    loaded: bool
    usec: int = 0
    processed: int = 0
    error: str = ""
    log: str = ""
    #: libbpf could not open the object or does not list the program
    unopened: bool = False


def _sig(lib: ctypes.CDLL, name: str, restype: object, *argtypes: object) -> None:
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


@cache
def _libbpf() -> ctypes.CDLL:
    path = ctypes.util.find_library("bpf") or "libbpf.so.1"
    lib = ctypes.CDLL(path, use_errno=True)
    vp, cp, i, u = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32
    _sig(lib, "libbpf_set_print", vp, vp)
    _sig(lib, "libbpf_get_error", ctypes.c_long, vp)
    _sig(lib, "bpf_object__open_file", vp, cp, vp)
    _sig(lib, "bpf_object__load", i, vp)
    _sig(lib, "bpf_object__close", None, vp)
    _sig(lib, "bpf_object__next_program", vp, vp, vp)
    _sig(lib, "bpf_program__name", cp, vp)
    _sig(lib, "bpf_program__section_name", cp, vp)
    _sig(lib, "bpf_program__type", i, vp)
    _sig(lib, "bpf_program__set_type", i, vp, i)
    _sig(lib, "bpf_program__set_autoload", i, vp, ctypes.c_bool)
    _sig(lib, "bpf_program__set_log_level", i, vp, u)
    _sig(lib, "bpf_program__set_log_buf", i, vp, vp, ctypes.c_size_t)
    _sig(lib, "bpf_object__next_map", vp, vp, vp)
    _sig(lib, "bpf_map__type", i, vp)
    _sig(lib, "bpf_map__value_size", u, vp)
    _sig(lib, "bpf_map__set_value_size", i, vp, u)
    _sig(lib, "bpf_map__set_key_size", i, vp, u)
    # quiet: libbpf's warnings would interleave with the benchmark's table
    lib.libbpf_set_print(None)
    return lib


def unavailable() -> str | None:
    """Why the kernel column cannot be measured here, or None when it can."""
    if os.geteuid() != 0:
        return "not root: loading programs in the kernel needs CAP_BPF/CAP_SYS_ADMIN"
    why = kernel_bpf.unavailable()
    if why is not None:
        return why
    try:
        _libbpf()
    except OSError as exc:
        return f"the system libbpf (libbpf.so.1, Debian package libbpf1) is missing: {exc}"
    return None


def parse_stats(log: str) -> tuple[int, int] | None:
    """(verification time in usec, processed insns) from a BPF_LOG_STATS log."""
    t, p = _TIME.search(log), _PROCESSED.search(log)
    if t is None or p is None:
        return None
    return int(t.group(1)), int(p.group(1))


def error_line(log: str) -> str:
    """The kernel's reason in a refusal's log: its last line that is not statistics."""
    lines = [ln for ln in log.splitlines() if ln.strip()
             and not ln.startswith(("processed ", "verification time", "stack depth"))]
    return lines[-1] if lines else ""


BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4
BPF_MAP_TYPE_RINGBUF = 27


def _ringbufs_without_value(lib: ctypes.CDLL, obj: int) -> None:
    """Ring buffers declared with a ``__type(value, ...)`` (as cilium/ebpf's examples do,
    whose Go loader ignores it) get key and value size 0, which the kernel requires and
    libbpf 1.1 does not enforce; perf event arrays declared so get the 4-byte key and
    value the kernel requires (as cilium/ebpf sets them)."""
    m = lib.bpf_object__next_map(obj, None)
    while m:
        kind = lib.bpf_map__type(m)
        if kind == BPF_MAP_TYPE_RINGBUF and lib.bpf_map__value_size(m):
            lib.bpf_map__set_key_size(m, 0)
            lib.bpf_map__set_value_size(m, 0)
        elif kind == BPF_MAP_TYPE_PERF_EVENT_ARRAY and lib.bpf_map__value_size(m) != 4:
            lib.bpf_map__set_key_size(m, 4)
            lib.bpf_map__set_value_size(m, 4)
        m = lib.bpf_object__next_map(obj, m)


def kernel_verify(path: str, program: str, prog_type: int | None = None,
                  log_level: int = BPF_LOG_STATS) -> KernelVerdict:
    """Load ``program`` of the object at ``path`` alone in the kernel (``prog_type`` for
    a program whose section libbpf does not type) and read the verifier's statistics."""
    lib = _libbpf()
    obj = lib.bpf_object__open_file(path.encode(), None)
    err = lib.libbpf_get_error(obj)
    if err or not obj:
        code = -err if err else errno.EINVAL
        return KernelVerdict(False, error=f"libbpf cannot open it: {os.strerror(code)}",
                             unopened=True)
    try:
        chosen = None
        prog = lib.bpf_object__next_program(obj, None)
        while prog:
            name = lib.bpf_program__name(prog).decode()
            if name == program:
                chosen = prog
            else:
                lib.bpf_program__set_autoload(prog, False)
            prog = lib.bpf_object__next_program(obj, prog)
        _ringbufs_without_value(lib, obj)
        if chosen is None:
            return KernelVerdict(False, error="libbpf does not list the program",
                                 unopened=True)
        if lib.bpf_program__type(chosen) == 0 and prog_type:
            lib.bpf_program__set_type(chosen, prog_type)
        buf = ctypes.create_string_buffer(LOG_SIZE)
        lib.bpf_program__set_log_buf(chosen, buf, LOG_SIZE)
        lib.bpf_program__set_log_level(chosen, log_level)
        rc = lib.bpf_object__load(obj)
        log = buf.value.decode(errors="replace")
        if rc != 0:
            last = error_line(log)
            return KernelVerdict(False, error=f"{os.strerror(-rc)}"
                                 + (f": {last}" if last else ""), log=log)
        stats = parse_stats(log)
        if stats is None:
            return KernelVerdict(False, error="loaded, but the log has no statistics",
                                 log=log)
        return KernelVerdict(True, stats[0], stats[1], log=log)
    finally:
        lib.bpf_object__close(obj)


__all__ = ["BPF_LOG_STATS", "KernelVerdict", "error_line", "kernel_verify", "parse_stats",
           "unavailable"]
