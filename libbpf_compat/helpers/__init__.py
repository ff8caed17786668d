"""The helper registry: IDs on both platforms (and, with the runtime,
prototypes and bindings)."""

from __future__ import annotations

from libbpf_compat.helpers.ids import (
    HELPER_IDS,
    HelperId,
    helper_by_internal,
    helper_by_name,
    internal_helper_id,
)

__all__ = ["HELPER_IDS", "HelperId", "helper_by_internal", "helper_by_name", "internal_helper_id"]
