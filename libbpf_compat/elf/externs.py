"""Externs: ``.kconfig`` values and ``.ksyms`` kernel symbols, from the BTF DATASECs.

``.kconfig`` externs (``LINUX_KERNEL_VERSION``, ``CONFIG_*``) live in one
internal map, ``.kconfig``, laid out as libbpf lays it out (largest
alignment first, then by name); its contents come from the ``kconfig``
open option, text in the kernel's ``.config`` syntax
(``CONFIG_X=y``, ``CONFIG_N=42``, ``CONFIG_S="text"``). ``.ksyms`` externs
(variables and kfuncs) need a provider at load time.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Container

from libbpf_compat.btf.btf import Btf
from libbpf_compat.btf.types import (
    Array,
    BtfKind,
    Datasec,
    Enum,
    Func,
    Int,
    IntEncoding,
    Linkage,
    Var,
)
from libbpf_compat.elf.reader import STB_WEAK, ElfFile
from libbpf_compat.elf.relocations import Extern, RelocKind
from libbpf_compat.errors import LibbpfError

DEFAULT_KERNEL_VERSION = (6 << 16) | (1 << 8)
"""LINUX_KERNEL_VERSION when the kconfig option does not give it: KERNEL_VERSION(6, 1, 0)."""

_LINE = re.compile(r"^(CONFIG_\w+|LINUX_\w+)=(.*)$")


def parse_kconfig(text: str | None) -> dict[str, str]:
    """``NAME=value`` lines of a kconfig text; comments and blank lines skipped.

    Raises EINVAL naming the line for anything else.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise LibbpfError(errno.EINVAL, f"kconfig line {number}: cannot parse {line!r}")
        values[match.group(1)] = match.group(2).strip()
    return values


def _encode_value(btf: Btf, var: Var, size: int, text: str) -> bytes:
    where = f"kconfig extern {var.name!r}"
    target = btf.resolved(var.type)
    if isinstance(target, Array):
        element = btf.resolved(target.type)
        if not (isinstance(element, Int) and element.size == 1):
            raise LibbpfError(errno.EINVAL, f"{where}: only char arrays take strings")
        if not (len(text) >= 2 and text[0] == text[-1] == '"'):
            raise LibbpfError(errno.EINVAL, f"{where}: expected a quoted string, got {text!r}")
        data = text[1:-1].encode()[: size - 1]
        return data + bytes(size - len(data))
    tristate = {"y": 1, "n": 0, "m": 2}
    if text in tristate:
        number = tristate[text]
        if number == 2 and not isinstance(target, Enum):
            raise LibbpfError(errno.EINVAL, f"{where}: 'm' needs an enum libbpf_tristate")
    else:
        try:
            number = int(text, 0)
        except ValueError as exc:
            raise LibbpfError(errno.EINVAL, f"{where}: {text!r} is not a number") from exc
    if isinstance(target, Int) and target.encoding & IntEncoding.BOOL and number not in (0, 1):
        raise LibbpfError(errno.EINVAL, f"{where}: a bool takes y or n, not {text!r}")
    signed = isinstance(target, Int) and target.signed
    low = -(1 << (8 * size - 1)) if signed else 0
    high = (1 << (8 * size - (1 if signed else 0))) - 1
    if not low <= number <= high:
        raise LibbpfError(errno.ERANGE, f"{where}: {number} does not fit in {size} bytes")
    if btf.endianness in ("little", "<"):
        return number.to_bytes(size, "little", signed=number < 0)
    return number.to_bytes(size, "big", signed=number < 0)


class ExternTable:
    """The externs of an object and the ``.kconfig`` map's initial value."""

    def __init__(self, elf: ElfFile, btf: Btf | None, kconfig: str | None) -> None:
        self.externs: dict[str, Extern] = {}
        self.kconfig_value = b""
        self.missing: list[str] = []
        if btf is None:
            return
        weak = {s.name for s in elf.symbols if s.is_undefined and s.bind == STB_WEAK}
        self._ksyms(btf, weak)
        self._kconfig(btf, weak, parse_kconfig(kconfig))

    def _datasec(self, btf: Btf, name: str) -> Datasec | None:
        ids = btf.find(name, BtfKind.DATASEC)
        datasec = btf.types[ids[0]] if ids else None
        return datasec if isinstance(datasec, Datasec) else None

    def _ksyms(self, btf: Btf, weak: set[str]) -> None:
        datasec = self._datasec(btf, ".ksyms")
        for info in datasec.vars if datasec else ():
            entry = btf.type_by_id(info.type)
            if isinstance(entry, Func):
                kind = RelocKind.KFUNC
            elif isinstance(entry, Var):
                kind = RelocKind.KSYM
            else:
                raise LibbpfError(
                    errno.EINVAL, f".ksyms extern [{info.type}] is a {entry.kind.name}"
                )
            self.externs[entry.name] = Extern(entry.name, kind, weak=entry.name in weak)

    def _kconfig(self, btf: Btf, weak: set[str], values: dict[str, str]) -> None:
        datasec = self._datasec(btf, ".kconfig")
        if datasec is None:
            return
        entries: list[tuple[int, int, str, Var]] = []
        for info in datasec.vars:
            var = btf.type_by_id(info.type)
            if not isinstance(var, Var) or var.linkage != Linkage.EXTERN:
                raise LibbpfError(
                    errno.EINVAL, f".kconfig entry [{info.type}] is not an extern variable"
                )
            entries.append((-btf.align_of(var.type), btf.size_of(var.type), var.name, var))
        entries.sort(key=lambda e: (e[0], e[2]))
        layout = bytearray()
        for negative_align, size, name, var in entries:
            align = -negative_align
            layout += bytes(-len(layout) % align)
            offset = len(layout)
            text = values.get(name)
            if text is None and name == "LINUX_KERNEL_VERSION":
                text = str(DEFAULT_KERNEL_VERSION)
            if text is None:
                if name not in weak:
                    self.missing.append(name)
                layout += bytes(size)
            else:
                layout += _encode_value(btf, var, size, text)
            self.externs[name] = Extern(name, RelocKind.KCONFIG, offset, size, name in weak)
        self.kconfig_value = bytes(layout)

    def check_resolved(self, provided: Container[str]) -> None:
        """Refuse (ESRCH, naming it) the first strong extern nobody supplies.

        ``.kconfig`` values must have come from the kconfig option;
        ``.ksyms`` symbols from ``provided`` (what the hooks export). Weak
        externs may stay unresolved (they read as zero / NULL).
        """
        for name in self.missing:
            raise LibbpfError(errno.ESRCH, f"extern (kconfig) {name!r}: value not found "
                                           "(give it in the kconfig open option)")
        for extern in self.externs.values():
            if extern.kind is RelocKind.KCONFIG or extern.weak or extern.name in provided:
                continue
            what = "kfunc" if extern.kind is RelocKind.KFUNC else "ksym"
            raise LibbpfError(errno.ESRCH, f"extern ({what}) {extern.name!r}: not found: no "
                                           "hook provides it")


__all__ = ["DEFAULT_KERNEL_VERSION", "ExternTable", "parse_kconfig"]
