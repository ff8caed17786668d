"""The BTF string section: NUL-terminated names looked up by byte offset.

A split BTF's string offsets continue its base's: offsets below the base's
length name base strings.
"""

from __future__ import annotations

from libbpf_compat.errors import einval


class StringTable:
    """Decoded, cached access to one string section (and its base's)."""

    __slots__ = ("_base", "_data", "_start", "by_offset")

    def __init__(self, data: bytes, base: StringTable | None = None) -> None:
        if data and data[-1] != 0:
            raise einval("BTF string section must end with a NUL byte")
        if base is None and data and data[0] != 0:
            raise einval("BTF string section must start with a NUL byte")
        self._data = data
        self._base = base
        self._start = base.end if base is not None else 0
        #: Every string by the offset it starts at (base strings included);
        #: offsets into the middle of a string are served by :meth:`get`.
        self.by_offset: dict[int, str] = dict(base.by_offset) if base is not None else {}
        pos = self._start
        for chunk in data.split(b"\0")[:-1]:
            self.by_offset[pos] = chunk.decode("utf-8", "replace")
            pos += len(chunk) + 1
        self.by_offset.setdefault(0, "")

    @property
    def end(self) -> int:
        """One past the last offset this table (with its base) covers."""
        return self._start + len(self._data)

    @property
    def data(self) -> bytes:
        return self._data

    def get(self, offset: int) -> str | None:
        """The string at ``offset``, or None when the offset is out of range."""
        cached = self.by_offset.get(offset)
        if cached is not None:
            return cached
        if offset < self._start:
            return self._base.get(offset) if self._base is not None else None
        local = offset - self._start
        if local >= len(self._data):
            return None
        end = self._data.index(b"\0", local)
        return self._data[local:end].decode("utf-8", "replace")

    def at(self, offset: int, what: str) -> str:
        """The string at ``offset``; LibbpfError(EINVAL) naming ``what`` if out of range."""
        text = self.get(offset)
        if text is None:
            raise einval(f"{what}: string offset {offset} is outside the string section "
                         f"(size {self.end})")
        return text


__all__ = ["StringTable"]
