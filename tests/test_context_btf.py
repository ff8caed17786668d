"""The default CO-RE target: the BTF of the hook context types, rebuilt
from libbpf_compat/hooks/context_types.c by build_context_btf.sh."""

from __future__ import annotations

from libbpf_compat.btf import Btf
from libbpf_compat.btf.types import Composite
from libbpf_compat.hooks.contexts import XDP_LINUX, context_types_btf


def test_context_types_are_there_with_linux_layouts() -> None:
    btf = context_types_btf()
    assert isinstance(btf, Btf)
    for name in ("xdp_md", "__sk_buff", "bpf_sock_addr", "bpf_sock_ops", "bpf_sock"):
        assert btf.find(name), name
    (xdp_id,) = btf.find("xdp_md")
    xdp = btf.type_by_id(xdp_id)
    assert isinstance(xdp, Composite) and xdp.size == XDP_LINUX.size
    offsets = {m.name: m.bit_offset // 8 for m in xdp.members}
    assert offsets == {f.name: f.offset for f in XDP_LINUX.fields}
