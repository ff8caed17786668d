"""Errors of the ISA toolkit: both are :class:`LibbpfError` with errno EINVAL."""

from __future__ import annotations

import errno

from libbpf_compat.errors import LibbpfError


class AssemblerError(LibbpfError):
    """Assembly text that cannot be assembled.

    ``line`` is the 1-based line number, ``text`` the offending line as
    written and ``reason`` what is wrong with it.
    """

    def __init__(self, line: int, text: str, reason: str) -> None:
        super().__init__(errno.EINVAL, f"line {line}: {reason}: {text.strip()!r}")
        self.line = line
        self.text = text
        self.reason = reason


class DecodeError(LibbpfError):
    """Bytecode that cannot be split into instructions.

    ``index`` is the slot (8-byte unit) where decoding failed.
    """

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(errno.EINVAL, f"instruction {index}: {reason}")
        self.index = index
        self.reason = reason


__all__ = ["AssemblerError", "DecodeError"]
