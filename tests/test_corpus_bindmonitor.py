"""invalid/dac31099…: a well-formed eBPF-for-Windows bind monitor that PREVAIL
cannot prove (its inventory marks the section 'reject': the app-id copy loop ends
on ``i != 64``, which an interval domain does not bound) and that this verifier
proves. It loads; this test shows it behaves as the monitor it is, both as
verified (unchecked) code and under VM bounds checks over random requests, with
no bounds violation."""

from __future__ import annotations

import random
import struct

import pytest

from libbpf_compat.hooks.bind import BindHook, BindOperation, BindVerdict
from libbpf_compat.object import BpfObject, bpf_object_open_opts
from tests.shared_data import shared_path

NAME = "dac31099c3bb5b6395908c82cc8540e77a6a1849"


@pytest.mark.parametrize("verify", [True, False])
def test_bindmonitor_limits_binds_per_process(verify: bool) -> None:
    path = shared_path("corpus", "ebpf-samples", "invalid", NAME)
    obj = BpfObject.open_file(path, bpf_object_open_opts(verify=verify))
    obj.load()
    try:
        prog = obj.programs[0]
        assert prog.vm is not None and prog.vm.bounds_check is (not verify)
        limits = obj.find_map_by_name("limits_map")
        assert limits is not None and limits.native is not None
        limits.native.update(struct.pack("<I", 0), struct.pack("<I", 2), 0)
        hook = BindHook()
        hook.attach(prog)
        rng = random.Random(20261126)
        held: dict[int, int] = {}
        for _ in range(400):
            pid = rng.randrange(1, 6)
            app = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 90)))
            if rng.random() < 0.6:
                verdict = hook.bind(pid, "0.0.0.0", 80, app_id=app).verdict
                expected = BindVerdict.DENY if held.get(pid, 0) >= 2 else BindVerdict.PERMIT
                assert verdict is expected
                if verdict is BindVerdict.PERMIT:
                    held[pid] = held.get(pid, 0) + 1
            else:
                result = hook.request(pid, "0.0.0.0", 80, operation=BindOperation.UNBIND,
                                      app_id=app)
                assert result.verdict is BindVerdict.PERMIT
                if held.get(pid, 0):
                    held[pid] -= 1
    finally:
        obj.close()
