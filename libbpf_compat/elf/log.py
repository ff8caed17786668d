"""The loader's message sink, libbpf_set_print's target (levels as libbpf's)."""

from __future__ import annotations

import sys
from collections.abc import Callable

LIBBPF_WARN = 0
LIBBPF_INFO = 1
LIBBPF_DEBUG = 2

PrintFn = Callable[[int, str], object]


def _default_print(level: int, message: str) -> None:
    """libbpf's default: warnings and information to stderr, debug dropped."""
    if level != LIBBPF_DEBUG:
        sys.stderr.write(message)


_printer: PrintFn | None = _default_print


def libbpf_set_print(fn: PrintFn | None) -> PrintFn | None:
    """Send libbpf messages ``(level, message)`` to ``fn`` (None: silence); returns the previous."""
    global _printer
    previous, _printer = _printer, fn
    return previous


def pr(level: int, message: str) -> None:
    """Emit one message (a trailing newline is added as libbpf's messages have one)."""
    if _printer is not None:
        _printer(level, message if message.endswith("\n") else message + "\n")


def pr_warn(message: str) -> None:
    pr(LIBBPF_WARN, "libbpf: " + message)


def pr_debug(message: str) -> None:
    pr(LIBBPF_DEBUG, "libbpf: " + message)


__all__ = [
    "LIBBPF_DEBUG",
    "LIBBPF_INFO",
    "LIBBPF_WARN",
    "PrintFn",
    "libbpf_set_print",
    "pr",
    "pr_debug",
    "pr_warn",
]
