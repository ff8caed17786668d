"""Every object of the shared eBPF corpus: its .BTF and .BTF.ext parse (or
fail with LibbpfError: objects in invalid/ are malformed on purpose), and the
C dump equals bpftool's. Also times the largest objects."""

from __future__ import annotations

import errno
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from libbpf_compat.btf import Btf, BtfExt, dump_c
from libbpf_compat.errors import LibbpfError
from tests.shared_data import shared_params, shared_path
from tests.test_btf_parse import vmlinux_btf

CORPUS = ("corpus", "ebpf-samples")


@pytest.mark.parametrize("path", shared_params("**/*.o", *CORPUS))
def test_corpus_object(path: Path) -> None:
    try:
        btf = Btf.from_file(path)
    except LibbpfError as exc:
        # no .BTF (ENOENT) is normal; anything else only for malformed objects
        assert exc.errno == errno.ENOENT or "invalid" in path.parts, exc
        return
    try:
        ext = BtfExt.from_file(path, btf)
        for infos in ext.func_info.values():
            assert all(btf.types[i.type_id].kind.name == "FUNC" for i in infos)
    except LibbpfError as exc:
        assert exc.errno == errno.ENOENT or "invalid" in path.parts, exc
    text = dump_c(btf)
    if shutil.which("bpftool") is not None:
        ref = subprocess.run(["bpftool", "btf", "dump", "file", str(path), "format", "c"],
                             capture_output=True, text=True)
        if ref.returncode == 0:
            assert text == ref.stdout


@pytest.mark.parametrize("name", ["bpf_lxc.o", "bpf_xdp_dsr_linux.o"])
def test_large_object_parses(name: str) -> None:
    """The largest objects parse (their speed: benchmarks/open_corpus.py)."""
    path = shared_path(*CORPUS, "cilium", name)
    start = time.perf_counter()
    try:
        btf = Btf.from_file(path)
        BtfExt.from_file(path, btf)
        outcome = f"{len(btf.types)} types"
    except LibbpfError as exc:
        assert exc.errno == errno.ENOENT  # bpf_lxc.o carries no .BTF
        outcome = str(exc)
    elapsed = time.perf_counter() - start
    print(f"{name}: {elapsed * 1000:.1f} ms ({outcome})")


def test_corpus_core_relos_against_vmlinux(tmp_path: Path) -> None:
    """The CO-RE relocations of the corpus, resolved against this host's
    kernel BTF, give the offsets clang computes from bpftool's vmlinux.h."""
    from libbpf_compat.btf import BtfKind, CoreReloKind, dump_c, resolve_core_relo
    from libbpf_compat.btf.core_spec import match_spec, parse_spec

    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    objects = [shared_path(*CORPUS, "cilium-examples", name)
               for name in ("tcprtt_bpf_bpfel.o", "tcprtt_sockops_bpf_bpfel.o")]
    target = vmlinux_btf()
    checks = []
    for path in objects:
        local = Btf.from_file(path)
        for relos in BtfExt.from_file(path, local).core_relos.values():
            for relo in relos:
                result = resolve_core_relo(local, relo, target)
                assert not result.poison
                if relo.kind != CoreReloKind.FIELD_BYTE_OFFSET:
                    continue
                assert result.target_type_id is not None
                root = target.types[target.resolve(result.target_type_id)]
                if len(target.find(root.name)) != 1 or root.kind != BtfKind.STRUCT:
                    continue  # vmlinux.h renames duplicates: no single C name to check
                spec = match_spec(parse_spec(local, relo), target, result.target_type_id)
                assert spec is not None
                path_text = "".join(f".{a.name}" if a.name else f"[{a.idx}]"
                                    for a in spec.accessors[1:]).lstrip(".")
                checks.append(f"_Static_assert(__builtin_offsetof(struct {root.name}, "
                              f"{path_text}) == {result.new_val}, \"{path_text}\");")
    assert len(checks) >= 5
    header = tmp_path / "vmlinux.h"
    header.write_text(dump_c(target))
    src = tmp_path / "check.c"
    src.write_text('#include "vmlinux.h"\n' + "\n".join(checks) + "\n")
    compiled = subprocess.run(["clang", "-target", "bpf", "-fsyntax-only", str(src)],
                              capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr[-2000:]
