"""Linux meanings of the numbers that differ between the ABIs: verdicts and
sock_ops op codes (the internal ABI uses Linux's numbering for everything
else; see libbpf_compat.uapi)."""

from __future__ import annotations

XDP_VERDICTS = {0: "aborted", 1: "drop", 2: "pass", 3: "tx", 4: "redirect"}
SOCK_ADDR_VERDICTS = {0: "reject", 1: "allow"}
SOCK_OPS_OPS = {4: "active_established", 5: "passive_established"}
