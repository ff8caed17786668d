"""The stack's contents, byte by byte: uninitialised, a number, or part of a stored value.

Offsets are from the bottom of the stack region (``r10`` sits at ``stack_offset``,
usually 512, as in PREVAIL's tests). A store of width ``w`` at ``o`` records the
register's abstract value in cell ``(o, w)`` and marks the bytes it covers; a load
of the same cell gets the value back (a spill and fill); other loads of bytes that
all hold numbers give an unknown number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from libbpf_compat.verifier.numeric import Scalar
from libbpf_compat.verifier.types import UNINIT_VALUE, RegValue


@dataclass
class Stack:
    """Cells keyed by (offset, width), and the numeric bytes."""

    cells: dict[tuple[int, int], RegValue] = field(default_factory=dict)
    numeric: frozenset[int] = frozenset()  # bytes known to hold (part of) a number
    #: runs S -> end: a number whose ``stack_run`` is S says how many bytes from S hold
    #: numbers (up to ``end``); made at joins (verifier.relations)
    runs: dict[int, int] = field(default_factory=dict)
    #: starts of runs a store or havoc ended on some path here: never made again there
    #: (a number may still name one)
    dead: frozenset[int] = frozenset()

    def copy(self) -> Stack:
        return Stack(dict(self.cells), self.numeric, dict(self.runs), self.dead)

    def _end_runs(self, lo: int, hi: int) -> None:
        """Bytes ``[lo, hi)`` may no longer hold numbers: the runs over them end."""
        ended = [s for s, end in self.runs.items() if s < hi and lo < end]
        for start in ended:
            del self.runs[start]
        if ended:
            self.dead = self.dead | frozenset(ended)

    def store(self, offset: int, width: int, value: RegValue) -> None:
        span = set(range(offset, offset + width))
        for key in [k for k in self.cells if set(range(k[0], k[0] + k[1])) & span]:
            del self.cells[key]
        self.cells[(offset, width)] = value
        if value.is_number:
            self.numeric = self.numeric | span
        else:
            self.numeric = self.numeric - span
            if self.runs:
                self._end_runs(offset, offset + width)

    def havoc(self, lo: int, hi: int) -> None:
        """An unknown store somewhere in bytes ``[lo, hi)``: forget them."""
        span = set(range(lo, hi))
        for key in [k for k in self.cells if set(range(k[0], k[0] + k[1])) & span]:
            del self.cells[key]
        self.numeric = self.numeric - span
        if self.runs:
            self._end_runs(lo, hi)

    def mark_numeric(self, lo: int, hi: int, value: Scalar | None = None) -> None:
        span = set(range(lo, hi))
        for key in [k for k in self.cells if set(range(k[0], k[0] + k[1])) & span]:
            del self.cells[key]
        self.numeric = self.numeric | span
        if value is not None:
            self.cells[(lo, hi - lo)] = RegValue.number(value)

    def load(self, offset: int, width: int) -> RegValue:
        cell = self.cells.get((offset, width))
        if cell is not None:
            return cell
        if all(b in self.numeric for b in range(offset, offset + width)):
            return RegValue.number()
        return UNINIT_VALUE

    def all_numeric(self, lo: int, hi: int) -> bool:
        return all(b in self.numeric for b in range(lo, hi))

    def join(self, other: Stack) -> Stack:
        cells = {k: v.join(other.cells[k]) for k, v in self.cells.items() if k in other.cells}
        # runs are made again by the state's join, for the numbers that still name them
        return Stack(cells, self.numeric & other.numeric, {}, self.dead | other.dead)

    def widen(self, other: Stack, thresholds: tuple[int, ...] = ()) -> Stack:
        cells = {k: v.widen(other.cells[k], thresholds) for k, v in self.cells.items()
                 if k in other.cells}
        return Stack(cells, self.numeric & other.numeric, {},
                     self.dead | other.dead | frozenset(self.runs) | frozenset(other.runs))

    def leq(self, other: Stack) -> bool:
        if not other.numeric <= self.numeric:
            return False
        if not (self.dead <= other.dead and other.runs.keys() <= self.runs.keys()):
            return False
        return all(k in self.cells and self.cells[k].leq(v) for k, v in other.cells.items())

