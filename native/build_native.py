"""cffi (API mode) build of the native core: the VM in native/, the map store in maps/.

setup.py names ``native/build_native.py:ffibuilder`` in ``cffi_modules``; the
declarations given to cffi are read from the public headers themselves, so
the C API is written down once.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
NATIVE = "native"
HEADERS = ["native/lbc_vm.h", "native/lbc_runtime.h", "maps/lbc_maps.h"]
SOURCES = ["native/vm_decode.c", "native/vm_exec.c", "native/lbc_platform.c",
           "native/helpers_env.c", "native/helpers_memory.c", "native/helpers_format.c",
           "maps/map_core.c", "maps/map_memory.c", "maps/map_cpu.c", "maps/map_array.c",
           "maps/map_hash.c", "maps/map_lru.c", "maps/map_ringbuf.c", "native/helpers_ringbuf.c",
           "native/helpers_maps.c", "maps/map_queue.c",
           "maps/map_bloom.c", "maps/map_lpm.c", "maps/map_pin.c",
           "maps/map_prog_array.c", "maps/map_of_maps.c", "native/helpers_tailcall.c",
           "maps/map_perf.c", "native/helpers_perf.c", "native/helpers_loop.c",
           "native/helpers_xdp.c", "maps/map_devmap.c",
           "native/helpers_sock.c", "native/helpers_queue.c", "native/vm_xdp.c",
           "native/helpers_skb.c", "native/helpers_sample.c", "native/helpers_foreach.c",
           "native/helpers_process.c", "native/jit_x86_64.c", "native/jit_run.c"]

# Callbacks into Python (helpers written in Python).
PYTHON_CALLBACKS = """
extern "Python" int lbc_py_ringbuf_sample(void *, void *, uint32_t);
extern "Python" uint64_t lbc_py_helper(lbc_exec *, void *, uint64_t, uint64_t,
                                       uint64_t, uint64_t, uint64_t);
"""


def cdef_from_header(text: str) -> str:
    """Keep what cffi's cdef understands: declarations and integer #defines."""
    keep = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if re.fullmatch(r"#define\s+\w+\s+-?\d+u?\s*(/\*.*\*/)?", stripped):
                keep.append(re.sub(r"(\d)u\b", r"\1", stripped.split("/*")[0]))
            continue
        keep.append(line)
    return "\n".join(keep)


def compile_args() -> list[str]:
    if sys.platform == "win32":
        return ["/O2", "/std:c11"]
    return ["-std=c11", "-O2", "-Wall", "-Wextra", "-fno-strict-aliasing"]


ffibuilder = FFI()
ffibuilder.cdef(
    "\n".join(cdef_from_header((ROOT / h).read_text()) for h in HEADERS) + PYTHON_CALLBACKS
)
ffibuilder.set_source(
    "libbpf_compat._native",
    "\n".join(f'#include "{Path(h).name}"' for h in HEADERS),
    sources=SOURCES,
    include_dirs=[NATIVE, "maps"],
    depends=[*HEADERS, "native/lbc_ops.h", "native/lbc_platform.h", "native/vm_loop.inc",
             "native/jit.h",
             "maps/map_internal.h", "maps/map_fast.h"],
    extra_compile_args=compile_args(),
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
