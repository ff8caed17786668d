"""Loading the object corpus (../shared/corpus/ebpf-samples): every object
that opens either loads -- each autoload program then has a VM -- or is
refused with LibbpfError (map types the store lacks, ...), never another
exception. Run with ``pytest -s`` for the counts."""

from __future__ import annotations

import collections
from pathlib import Path

from libbpf_compat.elf.log import libbpf_set_print
from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import BpfObject
from tests.shared_data import shared_path


def _load(path: Path, reasons: collections.Counter[str]) -> bool | None:
    """True when loaded, False when load refused it, None when it does not open."""
    try:
        obj = BpfObject.open_file(path)
    except LibbpfError:
        return None
    before = len(fd_table)
    try:
        obj.load()
    except LibbpfError as exc:
        assert not obj.loaded and len(fd_table) == before, path
        reasons[f"errno {exc.errno}: {str(exc).rsplit(': ', 1)[-1][:60]}"] += 1
        return False
    assert all(p.vm is not None for p in obj.programs if p.autoload), path
    assert all(m.native is not None for m in obj.maps), path
    obj.close()
    assert len(fd_table) == before, path
    return True


def test_corpus_loads_or_is_refused_cleanly() -> None:
    root = shared_path("corpus", "ebpf-samples")
    previous = libbpf_set_print(None)
    reasons: collections.Counter[str] = collections.Counter()
    try:
        results = [_load(p, reasons) for p in sorted(root.glob("*/*")) if p.is_file()]
    finally:
        libbpf_set_print(previous)
    loaded, refused = results.count(True), results.count(False)
    print(f"\ncorpus load: {len(results)} files, {loaded} loaded, {refused} refused, "
          f"{results.count(None)} do not open")
    for reason, count in reasons.most_common():
        print(f"  {count:4} {reason}")
    assert loaded > refused > 0
