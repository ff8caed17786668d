"""bpf_map_push_elem / pop / peek on QUEUE and STACK maps, from one source
built for both ABIs (Linux 87-89, eBPF for Windows 16-18)."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat.libbpf_maps import bpf_map_lookup_elem
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts

FIXTURES = Path(__file__).parent / "fixtures" / "helpers"


@pytest.mark.parametrize("abi", ["linux", "windows"])
def test_push_peek_pop(abi: str) -> None:
    obj = lb.bpf_object__open_file(FIXTURES / f"queue.{abi}.o")
    obj.load()
    prog = obj.find_program_by_name("queue_ops")
    assert prog is not None
    bpf_prog_test_run_opts(lb.bpf_program__fd(prog),
                           bpf_test_run_opts(data_in=bytes([11, 22]) + bytes(62)))
    out = lb.bpf_object__find_map_fd_by_name(obj, "out")
    values = [struct.unpack("<q", bpf_map_lookup_elem(out, struct.pack("<I", i)))[0]
              for i in range(5)]
    # queue: oldest first; stack: newest first; the emptied queue pops -ENOENT
    assert values == [11, 11, 22, 0, -errno.ENOENT]
    obj.close()
