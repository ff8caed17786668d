"""The benchmark programs compiled natively (host C compiler, -O2) as a
reference: their results check the VM's, their timings give the ratio to
native code measured in the same run. Each function is called through a
function pointer from a C timing loop, as ANCHORS.md's native column was."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("raw_bench.c")

HARNESS = r"""
#include <stdint.h>
#include <time.h>
typedef uint64_t (*bench_fn)(const void *, uint64_t);
uint64_t bench_time(bench_fn f, const void *mem, uint64_t len, uint64_t repeat,
                    uint64_t *result) {
    struct timespec a, b;
    uint64_t r = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (uint64_t i = 0; i < repeat; i++) r = f(mem, len);
    clock_gettime(CLOCK_MONOTONIC, &b);
    *result = r;
    return (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u + (uint64_t)(b.tv_nsec - a.tv_nsec);
}
"""


class NativeBench:
    """raw_bench.c built as a shared library with a timing loop."""

    def __init__(self) -> None:
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise RuntimeError("no C compiler found for the native reference")
        self._dir = tempfile.TemporaryDirectory(prefix="lbc-native-")
        out = Path(self._dir.name)
        (out / "harness.c").write_text("#define _POSIX_C_SOURCE 199309L\n" + HARNESS)
        lib = out / "raw_bench_native.so"
        subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(SOURCE),
                        str(out / "harness.c")], check=True, capture_output=True)
        self._lib = ctypes.CDLL(str(lib))
        self._lib.bench_time.restype = ctypes.c_uint64
        self._lib.bench_time.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64,
                                         ctypes.c_uint64, ctypes.POINTER(ctypes.c_uint64)]

    def run(self, name: str, mem: bytes, repeat: int) -> tuple[int, float]:
        """(result, mean ns per call) over ``repeat`` calls."""
        fn = ctypes.cast(getattr(self._lib, name), ctypes.c_void_p)
        result = ctypes.c_uint64()
        ns = self._lib.bench_time(fn.value, mem, len(mem), repeat, ctypes.byref(result))
        return result.value, ns / repeat
