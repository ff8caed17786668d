"""Reading one named section out of an ELF object (for ``.BTF`` and ``.BTF.ext``)."""

from __future__ import annotations

import io

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from libbpf_compat.errors import einval


def elf_section(data: bytes, name: str, what: str) -> bytes | None:
    """The contents of section ``name``, None if absent; EINVAL on a malformed ELF."""
    try:
        elf = ELFFile(io.BytesIO(data))
        section = elf.get_section_by_name(name)
        if section is None:
            return None
        content = section.data()
    except ELFError as exc:
        raise einval(f"{what}: malformed ELF ({exc})") from exc
    except Exception as exc:  # pyelftools reports some corruptions with other types
        raise einval(f"{what}: malformed ELF ({exc})") from exc
    if section["sh_type"] != "SHT_NOBITS" and len(content) != section["sh_size"]:
        raise einval(f"{what}: section {name} is truncated")
    return bytes(content)


__all__ = ["elf_section"]
