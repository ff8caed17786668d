"""The helper registry: IDs on both platforms, prototypes (argument and return
kinds, which the verifier checks calls against) and, with the runtime, bindings."""

from __future__ import annotations

from libbpf_compat.helpers.ids import (
    HELPER_IDS,
    HelperId,
    helper_by_internal,
    helper_by_name,
    internal_helper_id,
)
from libbpf_compat.helpers.prototypes import (
    PROTOTYPES,
    SOCKET_FIELDS,
    Arg,
    Prototype,
    Ret,
    prototype,
    size_argument,
    socket_access_ok,
)

__all__ = ["HELPER_IDS", "PROTOTYPES", "SOCKET_FIELDS", "Arg", "HelperId", "Prototype", "Ret",
           "helper_by_internal", "helper_by_name", "internal_helper_id", "prototype",
           "size_argument", "socket_access_ok"]
