"""Evidence that the corpus "leads" are safe: the programs PREVAIL does not prove and this
verifier does (issue 6: a lead counts only once it is shown safe).

Two kinds of evidence, per lead:

- the Linux kernel's verifier on this machine (:class:`KernelEvidence`), through a
  :data:`KernelJudge` the caller supplies (``benchmarks/corpus_leads.py`` loads the
  program with the system libbpf, else from the code our loader links). An
  eBPF-for-Windows program cannot be judged by it (its helper numbers are not Linux's),
  nor is a program the kernel refuses before its verifier runs (no verifier log: a
  program type this kernel lacks, a map it cannot create);
- bounds-checked runs (:func:`run_evidence`): the object loaded unverified, so that every
  load, store and helper memory argument is checked by the VM, and the program run
  ``runs`` times over random contexts, regions (packet, application id) of any length
  from empty up, and random map contents (program arrays filled with the object's
  programs, so tail calls go somewhere). The VM runs the program directly on its
  native context (not through test_run, whose inputs Linux restricts: an XDP packet has
  at least 14 bytes there). A run that
  stops with ``EFAULT`` is a bounds violation. A run that stops at a poisoned
  instruction (a CO-RE relocation the host's BTF cannot satisfy) says nothing of the
  program itself: when every run stops so, the evidence is vacuous.
"""

from __future__ import annotations

import errno
import random
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from libbpf_compat._native import ffi
from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.btf import POISON_HELPER
from libbpf_compat.elf.log import libbpf_set_print
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.contexts import CtxLayout, hook_contexts, program_context
from libbpf_compat.isa import decode
from libbpf_compat.isa import opcodes as op
from libbpf_compat.loader import ReachedPoison, _btf_ext, _target_btf, linked_code
from libbpf_compat.object import BpfObject, Program, bpf_object_open_opts
from libbpf_compat.uapi import BpfMapType, BpfProgType

#: Bounds-checked runs per lead the kernel cannot judge.
RUNS = 200
#: Region (packet, application id) lengths the runs draw from, besides random ones.
_LENGTHS = (0, 1, 13, 14, 20, 34, 40, 54, 60, 64, 100, 1500)
#: Program types whose region (the application id, the command line) is read-only.
_READ_ONLY_REGION = frozenset({windows_abi.INTERNAL_PROG_BIND, windows_abi.INTERNAL_PROG_PROCESS})
_HASH_LIKE = frozenset({BpfMapType.BPF_MAP_TYPE_HASH, BpfMapType.BPF_MAP_TYPE_ARRAY,
                        BpfMapType.BPF_MAP_TYPE_LRU_HASH, BpfMapType.BPF_MAP_TYPE_PERCPU_HASH,
                        BpfMapType.BPF_MAP_TYPE_PERCPU_ARRAY,
                        BpfMapType.BPF_MAP_TYPE_LRU_PERCPU_HASH})
_MAP_ENTRIES = 8


@dataclass
class KernelEvidence:
    """The kernel verifier's verdict here: ``judged`` False when it could not judge
    (``error`` says why); else ``accepted``, and ``error`` its first error."""

    judged: bool
    accepted: bool = False
    route: str = ""  # "libbpf" (the system libbpf) or "linked" (our linked code)
    error: str = ""

    def describe(self) -> str:
        if self.accepted:
            return f"kernel accepts it here ({self.route})"
        if self.judged:
            return f"kernel refuses it here ({self.route}): {self.error}"
        return f"kernel cannot judge it: {self.error}"


#: (object path, program name, program type or None) -> the kernel's verdict.
KernelJudge = Callable[[Path, str, int | None], KernelEvidence]


@dataclass
class RunEvidence:
    """Bounds-checked runs of one program."""

    runs: int = 0
    #: runs that ended at the program's exit
    completed: int = 0
    #: runs stopped at a poisoned instruction (a CO-RE relocation left unsatisfied)
    poisoned: int = 0
    violations: list[str] = field(default_factory=list)
    #: other run-time stops (errno name -> runs): a helper's refusal, the budget
    stopped: Counter[str] = field(default_factory=Counter)
    #: why nothing ran (the object did not load unverified, no context for the type)
    error: str = ""

    @property
    def clean(self) -> bool:
        """Runs happened, none violated a bound, some ran the program to its exit."""
        return self.runs > 0 and not self.violations and self.completed > 0 and not self.error

    @property
    def vacuous(self) -> bool:
        """Every run stopped at a poisoned instruction: the code verified is not the
        program (CO-RE against the host's BTF failed), so it proves nothing."""
        return self.runs > 0 and self.poisoned == self.runs

    def describe(self) -> str:
        if self.error:
            return f"runs: none ({self.error})"
        text = (f"{self.runs} bounds-checked runs, {len(self.violations)} violations, "
                f"{self.completed} to exit")
        if self.poisoned:
            text += f", {self.poisoned} stopped at a poisoned CO-RE relocation"
        if self.stopped:
            text += ", stopped: " + ", ".join(f"{k} {n}" for k, n in sorted(self.stopped.items()))
        if self.violations:
            text += f"; first violation: {self.violations[0]}"
        return text


@dataclass
class LeadEvidence:
    obj: str
    section: str
    function: str
    kernel: KernelEvidence
    runs: RunEvidence | None = None
    #: poisoned instructions in the code verified (CO-RE relocations the host's BTF
    #: cannot satisfy): a run reaching one stops, so the code verified is not the program
    poisoned: int = 0

    @property
    def shown_safe(self) -> str | None:
        """"kernel" when the kernel accepts it here, "runs" when bounds-checked runs
        went clean (and the kernel does not refuse it), else None."""
        if self.kernel.accepted:
            return "kernel"
        if self.runs is not None and self.runs.clean and not self.kernel.judged:
            return "runs"
        return None

    def describe(self) -> str:
        safe = self.shown_safe
        parts = [f"shown safe ({safe})" if safe else "NOT shown safe", self.kernel.describe()]
        if self.runs is not None:
            parts.append(self.runs.describe())
        if self.poisoned:
            parts.append(f"its linked code has {self.poisoned} poisoned CO-RE relocations "
                         "(the host BTF lacks the types they name): what verified stops at "
                         "them, it is not the program")
        return "; ".join(parts)


def poisoned_instructions(path: Path, program: str) -> int:
    """Calls to the poison helper in ``program``'s linked code (what the verifier saw)."""
    previous = libbpf_set_print(None)
    try:
        obj = BpfObject.open_file(path, bpf_object_open_opts())
    except LibbpfError:
        return 0
    finally:
        libbpf_set_print(previous)
    try:
        prog = next((p for p in obj.programs + obj.subprograms if p.name == program), None)
        if prog is None:
            return 0
        try:
            code = linked_code(obj, prog, _btf_ext(obj), _target_btf(obj))
        except LibbpfError:
            return 0
        return sum(1 for i in decode(code)
                   if i.opcode == op.OPCODE_CALL and i.src == 0 and i.imm == POISON_HELPER)
    finally:
        obj.close()


def program_abi(path: Path, program: str) -> str | None:
    """The ABI (``linux`` / ``windows``) of ``program`` in the object, None if absent."""
    previous = libbpf_set_print(None)
    try:
        obj = BpfObject.open_file(path, bpf_object_open_opts())
    except LibbpfError:
        return None
    finally:
        libbpf_set_print(previous)
    try:
        prog = next((p for p in obj.programs + obj.subprograms if p.name == program), None)
        return None if prog is None else prog.abi
    finally:
        obj.close()


def kernel_evidence(path: Path, program: str, prog_type: int | None,
                    judge: KernelJudge | None, why_no_judge: str = "") -> KernelEvidence:
    """The kernel's verdict, or why it cannot give one (a Windows ABI program, no judge)."""
    if program_abi(path, program) == "windows":
        return KernelEvidence(False, error="eBPF-for-Windows ABI program (Windows helper "
                                           "numbers and contexts): the Linux kernel cannot "
                                           "judge it")
    if judge is None:
        return KernelEvidence(False, error=why_no_judge or "no kernel judge given")
    return judge(path, program, prog_type)


def _run_type(obj: BpfObject, prog: Program, prog_type: int | None) -> int:
    """The type to run an untyped program as: ``prog_type`` (the one the corpus verified
    it as) when it has a context for the program's ABI, else the one its typed siblings
    share (a Windows object's ``bind/N`` tail-call targets of its ``bind`` program), else
    SOCKET_FILTER."""
    if prog.prog_type:
        return prog.prog_type
    if prog_type and program_context(prog_type, prog.abi)[0] is not None:
        return prog_type
    typed = {p.prog_type for p in obj.programs if p.prog_type}
    if len(typed) == 1:
        return typed.pop()
    return prog_type or BpfProgType.BPF_PROG_TYPE_SOCKET_FILTER


def _maps_as_the_kernel_takes(obj: BpfObject) -> None:
    """Ring buffers and perf event arrays declared with a value type (as cilium/ebpf's
    examples do; its Go loader ignores it) get the sizes the kernel requires."""
    for m in obj.maps:
        d = m.definition
        if d.type == BpfMapType.BPF_MAP_TYPE_RINGBUF and (d.key_size or d.value_size):
            d.key_size = d.value_size = 0
        elif d.type == BpfMapType.BPF_MAP_TYPE_PERF_EVENT_ARRAY and d.value_size != 4:
            d.key_size = d.value_size = 4


def _fill_maps(obj: BpfObject, prog: Program, rng: random.Random) -> None:
    """Random contents for the object's hash and array maps; program arrays get the
    loaded programs of ``prog``'s type in random slots."""
    same = [p.fd for p in obj.programs if p.fd >= 0 and p.prog_type == prog.prog_type]
    for m in obj.maps:
        d, native = m.definition, m.native
        if native is None:
            continue
        try:
            if d.type == BpfMapType.BPF_MAP_TYPE_PROG_ARRAY and d.key_size == 4 and same:
                for slot in range(min(d.max_entries, 64)):
                    if rng.random() < 0.7:
                        native.update(struct.pack("<I", slot),
                                      struct.pack("<I", rng.choice(same)), 0)
            elif d.type in _HASH_LIKE and d.key_size and d.value_size:
                for _ in range(rng.randint(0, _MAP_ENTRIES)):
                    key = (struct.pack("<I", rng.randrange(min(d.max_entries, 16)))
                           if d.type in (BpfMapType.BPF_MAP_TYPE_ARRAY,
                                         BpfMapType.BPF_MAP_TYPE_PERCPU_ARRAY)
                           else _small_key(rng, d.key_size))
                    native.update(key, rng.randbytes(d.value_size), 0)
        except LibbpfError:
            continue  # full, or a shape the map refuses: the runs go on without it


def _small_key(rng: random.Random, size: int) -> bytes:
    """Keys programs are likely to look up: small numbers (pids, indices), else random."""
    if rng.random() < 0.7:
        return rng.randrange(8).to_bytes(size, "little") if size <= 8 else bytes(size)
    return rng.randbytes(size)


def _region_length(rng: random.Random) -> int:
    return rng.choice((*_LENGTHS, rng.randint(0, 256), rng.randint(0, 4096)))


def _native_ctx(layout: CtxLayout, start: int, end: int, rng: random.Random) -> bytearray:
    """A context in the layout the VM runs the program on: random fields, the pointer
    fields bounding the region (``*_end`` / the layout's last packet field its end, the
    others its start), zeros between fields."""
    ctx = bytearray(layout.size)
    last = layout.packet[-1] if layout.packet else None
    for f in layout.fields:
        if f.pointer:
            value = end if f.name == last or (last is None and f.name.endswith("_end")) else start
            ctx[f.offset:f.offset + f.size] = value.to_bytes(f.size, "little")
        else:
            ctx[f.offset:f.offset + f.size] = rng.randbytes(f.size)
    return ctx


def _one_run(prog: Program, layout: CtxLayout | None, rng: random.Random) -> None:
    """One run on a random context and region (packet, application id) of any length
    from empty up; raises what the run raised."""
    assert prog.vm is not None
    if layout is None or not any(f.pointer for f in layout.fields):
        prog.vm.run_repeat(bytearray(rng.randbytes(layout.size if layout else 64)), 1)
        return
    length = _region_length(rng)
    region = bytearray(rng.randbytes(length)) if length else bytearray(1)
    writable = prog.prog_type not in _READ_ONLY_REGION
    view = memoryview(region)
    try:
        with ffi.from_buffer("uint8_t[]", region) as buf:
            start = int(ffi.cast("uintptr_t", buf))
            ctx = _native_ctx(layout, start, start + length, rng)
            prog.vm.run_repeat(ctx, 1, regions=[(view, writable)])
    finally:
        view.release()


def run_evidence(path: Path, program: str, prog_type: int | None = None,
                 runs: int = RUNS, seed: int = 0) -> RunEvidence:
    """Load the object unverified (VM bounds checks on) and run ``program`` ``runs``
    times over random inputs and map contents."""
    evidence = RunEvidence()
    previous = libbpf_set_print(None)
    try:
        obj = BpfObject.open_file(path, bpf_object_open_opts(verify=False))
    except LibbpfError as exc:
        libbpf_set_print(previous)
        evidence.error = f"cannot open: {exc}"
        return evidence
    try:
        chosen = next((p for p in obj.programs if p.name == program), None)
        if chosen is None:
            evidence.error = "not a program of its own (a sub-program)"
            return evidence
        run_type = _run_type(obj, chosen, prog_type)
        _maps_as_the_kernel_takes(obj)
        for p in obj.programs:
            if not p.prog_type:
                p.set_type(run_type)
        try:
            obj.load()
        except LibbpfError:  # another program of the object: load this one alone
            obj.close()
            obj = BpfObject.open_file(path, bpf_object_open_opts(verify=False))
            _maps_as_the_kernel_takes(obj)
            for p in obj.programs:
                if not p.prog_type:
                    p.set_type(run_type)
                p.set_autoload(p.name == program)
            try:
                obj.load()
            except LibbpfError as exc:
                evidence.error = f"does not load unverified: {exc}"
                return evidence
        prog = next(p for p in obj.programs if p.name == program)
        assert prog.vm is not None and prog.vm.bounds_check
        hooked = hook_contexts(prog.prog_type, prog.abi)
        layout = hooked[1] if hooked else program_context(prog.prog_type, prog.abi)[0]
        rng = random.Random(seed)
        for _ in range(runs):
            _fill_maps(obj, prog, rng)
            evidence.runs += 1
            try:
                _one_run(prog, layout, rng)
            except LibbpfError as exc:
                if isinstance(exc.__cause__, ReachedPoison) or isinstance(exc, ReachedPoison):
                    evidence.poisoned += 1
                elif exc.errno == errno.EFAULT:
                    evidence.violations.append(str(exc))
                else:
                    evidence.stopped[errno.errorcode.get(exc.errno or 0, str(exc.errno))] += 1
                continue
            evidence.completed += 1
        return evidence
    finally:
        obj.close()
        libbpf_set_print(previous)


def gather(path: Path, obj: str, section: str, function: str, prog_type: int | None,
           judge: KernelJudge | None, why_no_judge: str = "", runs: int = RUNS,
           seed: int = 0) -> LeadEvidence:
    """The evidence for one lead: the kernel's verdict, and bounds-checked runs when the
    kernel does not accept it."""
    kernel = kernel_evidence(path, function, prog_type, judge, why_no_judge)
    lead = LeadEvidence(obj, section, function, kernel,
                        poisoned=poisoned_instructions(path, function))
    if not kernel.accepted:
        lead.runs = run_evidence(path, function, prog_type, runs, seed)
    return lead


__all__ = ["RUNS", "KernelEvidence", "KernelJudge", "LeadEvidence", "RunEvidence", "gather",
           "kernel_evidence", "poisoned_instructions", "program_abi",
           "run_evidence"]
