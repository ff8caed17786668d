"""The verifier: abstract interpretation of eBPF programs over their CFG.

- :mod:`~libbpf_compat.verifier.cases`: PREVAIL-style YAML test cases as typed objects;
- :mod:`~libbpf_compat.verifier.cfg`: basic blocks and successors;
- :mod:`~libbpf_compat.verifier.numeric`: signed/unsigned 64- and 32-bit intervals and
  known bits (:mod:`~libbpf_compat.verifier.knownbits`), ALU transfer and branch refinement;
- :mod:`~libbpf_compat.verifier.types`: register types with offsets;
- :mod:`~libbpf_compat.verifier.stack`: per-byte stack contents;
- :mod:`~libbpf_compat.verifier.checks` and :mod:`~libbpf_compat.verifier.log`: safety
  checks and their messages;
- :mod:`~libbpf_compat.verifier.references`: ring buffer records as references;
- :mod:`~libbpf_compat.verifier.relations`: lengths of the packet (``end - start``),
  bounds shared by copies of a number, stack runs sized by a number;
- :mod:`~libbpf_compat.verifier.analysis`: the worklist fixpoint;
- :mod:`~libbpf_compat.verifier.fuzz`: the soundness fuzzer (accepted programs run in the
  VM with bounds checks on);
- :mod:`~libbpf_compat.verifier.program`: a real program's pre-state (its type's
  context, its maps), its verdict and log;
- :mod:`~libbpf_compat.verifier.load`: the verifier in ``bpf_object__load``;
- :mod:`~libbpf_compat.verifier.corpus`: the object corpus against its oracles.

``libbpf_compat.verify_object`` verifies an object's programs without loading them.
"""

from __future__ import annotations

from libbpf_compat.verifier.analysis import AnalysisResult, analyze, initial_state
from libbpf_compat.verifier.transfer import Options, State

__all__ = ["AnalysisResult", "Options", "State", "analyze", "initial_state"]
