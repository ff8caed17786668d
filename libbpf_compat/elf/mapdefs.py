"""The map definitions an object declares (before any map is created)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MapDef:
    """One map of an object: a legacy ``maps`` entry, a BTF ``.maps`` entry or internal.

    Numbers are as written in the object (the ABI translation renumbers
    Windows map types later). ``section_index`` / ``section_offset`` locate
    the definition (relocations refer to it there). ``initial_value`` holds
    the contents of a global data map; ``init_slots`` the ``.values`` of a
    prog array or map-in-map (slot → name of the program or map put there).
    ``inner`` is the inner map's definition of a map-in-map.
    """

    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int = 0
    section_name: str = ""
    section_index: int = -1
    section_offset: int = 0
    internal: bool = False
    numa_node: int = 0
    map_extra: int = 0
    pinning: int = 0
    inner_map_idx: int = -1
    inner: MapDef | None = None
    legacy_words: tuple[int, ...] = ()
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    btf_var_type_id: int = 0
    initial_value: bytes | None = None
    init_slots: dict[int, str] = field(default_factory=dict)
    pin_path: str | None = None


__all__ = ["MapDef"]
