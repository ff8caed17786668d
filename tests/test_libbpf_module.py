"""libbpf_compat.libbpf re-exports every libbpf-named function and struct
of the mirror modules (regenerate it when one is added)."""

from __future__ import annotations

import importlib
import re

from libbpf_compat import libbpf

MIRROR_MODULES = ["libbpf_compat.libbpf_object", "libbpf_compat.libbpf_maps",
                  "libbpf_compat.ringbuf", "libbpf_compat.test_run", "libbpf_compat.sections",
                  "libbpf_compat.elf.log", "libbpf_compat.pinning", "libbpf_compat.perfbuf",
                  "libbpf_compat.links", "libbpf_compat.attach", "libbpf_compat.prog_load"]
LIBBPF_NAME = re.compile(r"^(bpf_|libbpf_|ring_buffer|perf_buffer)")


def test_every_mirror_function_is_exported() -> None:
    for name in MIRROR_MODULES:
        module = importlib.import_module(name)
        public = [n for n in vars(module) if LIBBPF_NAME.match(n)
                  and getattr(vars(module)[n], "__module__", None) == name]
        missing = [n for n in public if n not in libbpf.__all__]
        assert not missing, f"{name}: not in libbpf_compat.libbpf: {missing}"


def test_exports_resolve_and_constants_come_along() -> None:
    for name in libbpf.__all__:
        assert callable(getattr(libbpf, name)) or name.isupper(), name
    assert libbpf.BPF_ANY == 0 and libbpf.BPF_MAP_TYPE_RINGBUF == 27
