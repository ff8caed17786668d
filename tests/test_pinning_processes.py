"""Pinned maps shared between processes: a second Python process opens a
map by path, sees its data and changes it; atomic adds made by programs in
two processes at once count exactly; hash updates from two processes at
once (bucket locks and the element free list live in the shared region)
lose nothing; a process killed with SIGKILL, whether it made the map or was
only using it, leaves the pin intact and usable. Every test has its own pin
root (LIBBPF_COMPAT_PIN_ROOT), passed on to the child processes."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import libbpf_compat
from libbpf_compat import isa, pinning
from libbpf_compat.helpers import helper_by_name
from libbpf_compat.helpers.native import register_c_helpers
from libbpf_compat.libbpf_maps import (
    bpf_map_create,
    bpf_map_lookup_elem,
    bpf_map_update_elem,
    bpf_obj_get,
    bpf_obj_pin,
)
from libbpf_compat.mapstore import fd_table
from libbpf_compat.uapi import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_QUEUE
from libbpf_compat.vm import Vm

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")

PACKAGE_PARENT = Path(libbpf_compat.__file__).resolve().parent.parent
TESTS_PARENT = Path(__file__).resolve().parent.parent

PRELUDE = """\
import json, os, struct, sys, threading, time
from libbpf_compat.libbpf_maps import *
from libbpf_compat.mapstore import fd_table
from tests.test_pinning_processes import adder, hash_writer
"""

LOOPS = 20_000   # atomic adds per program run
RUNS = 40        # runs per thread


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    r = tmp_path / "pins"
    monkeypatch.setenv(pinning.PIN_ROOT_ENV, str(r))
    return r


def u32(i: int) -> bytes:
    return struct.pack("<I", i)


def u64(i: int) -> bytes:
    return struct.pack("<Q", i)


def adder(map_addr: int, loops: int = LOOPS) -> Vm:
    """A program that looks up element 0 of an array through the helper and
    adds 1 to its u64 value ``loops`` times with an atomic add; returns 0
    (1 when the lookup fails)."""
    lookup = helper_by_name("map_lookup_elem")
    assert lookup is not None
    vm = Vm(isa.assemble(f"""
        stw [%r10-4], 0
        lddw %r1, {map_addr:#x}
        mov %r2, %r10
        add %r2, -4
        call {lookup.internal}
        jeq %r0, 0, missing
        mov %r6, 0
    again:
        mov %r1, 1
        lock add [%r0], %r1
        add %r6, 1
        jlt %r6, {loops}, again
        mov %r0, 0
        exit
    missing:
        mov %r0, 1
        exit
    """))
    register_c_helpers(vm)
    return vm


def hash_writer(fd: int, first: int, count: int, rounds: int) -> None:
    """Insert keys first..first+count-1, then update and delete-reinsert
    them ``rounds`` times (each key ends with value key * 3)."""
    for i in range(first, first + count):
        bpf_map_update_elem(fd, u32(i), u64(i), 0)
    m = fd_table.get_map(fd)
    for _ in range(rounds):
        for i in range(first, first + count):
            m.delete(u32(i))
            m.update(u32(i), u64(i * 2))
            m.update(u32(i), u64(i * 3))


def spawn(code: str, root: Path) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env[pinning.PIN_ROOT_ENV] = str(root)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PACKAGE_PARENT), str(TESTS_PARENT), env.get("PYTHONPATH")) if p)
    return subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=TESTS_PARENT)


def finish(p: subprocess.Popen[str], stdin: str = "") -> str:
    out, err = p.communicate(stdin, timeout=120)
    assert p.returncode == 0, f"child failed ({p.returncode}):\n{err}"
    return out


def wait_line(p: subprocess.Popen[str], expected: str) -> None:
    assert p.stdout is not None
    line = p.stdout.readline().strip()
    if line != expected:
        p.kill()
        _, err = p.communicate(timeout=30)
        raise AssertionError(f"child said {line!r}, expected {expected!r}:\n{err}")


def test_a_second_process_sees_and_changes_the_data(root: Path) -> None:
    h = bpf_map_create(BPF_MAP_TYPE_HASH, "sessions", 4, 8, 256)
    a = bpf_map_create(BPF_MAP_TYPE_ARRAY, "config", 4, 8, 4)
    q = bpf_map_create(BPF_MAP_TYPE_QUEUE, "jobs", 0, 8, 8)
    for i in range(50):
        bpf_map_update_elem(h, u32(i), u64(i + 1000), 0)
    bpf_map_update_elem(a, u32(2), u64(42), 0)
    for i in range(3):
        bpf_map_update_elem(q, None, u64(i + 7), 0)
    bpf_obj_pin(h, "/sys/fs/bpf/tool/sessions")
    bpf_obj_pin(a, "/sys/fs/bpf/tool/config")
    bpf_obj_pin(q, "/sys/fs/bpf/tool/jobs")
    out = finish(spawn("""
        h = bpf_obj_get("/sys/fs/bpf/tool/sessions")
        a = bpf_obj_get("/sys/fs/bpf/tool/config")
        q = bpf_obj_get("/sys/fs/bpf/tool/jobs")
        m = fd_table.get_map(h)
        seen = {struct.unpack("<I", k)[0]: struct.unpack("<Q", m.lookup(k))[0]
                for k in m.keys()}
        cfg = struct.unpack("<Q", bpf_map_lookup_elem(a, struct.pack("<I", 2)))[0]
        job = struct.unpack("<Q", bpf_map_lookup_and_delete_elem(q, None))[0]
        for i in range(50):
            bpf_map_delete_elem(h, struct.pack("<I", i))
        for i in range(100, 150):
            bpf_map_update_elem(h, struct.pack("<I", i), struct.pack("<Q", i * 2), 0)
        bpf_map_update_elem(a, struct.pack("<I", 2), struct.pack("<Q", 43), 0)
        bpf_map_update_elem(q, None, struct.pack("<Q", 99), 0)
        print(json.dumps({"seen": seen, "cfg": cfg, "job": job}))
    """, root))
    got = json.loads(out)
    assert got["seen"] == {str(i): i + 1000 for i in range(50)}
    assert got["cfg"] == 42 and got["job"] == 7
    m = fd_table.get_map(h)
    assert sorted(m.keys()) == sorted(u32(i) for i in range(100, 150))
    assert all(m.lookup(u32(i)) == u64(i * 2) for i in range(100, 150))
    assert bpf_map_lookup_elem(a, u32(2)) == u64(43)
    assert [fd_table.get_map(q).lookup_and_delete(None) for _ in range(3)] == [
        u64(8), u64(9), u64(99)]


def test_atomic_adds_from_two_processes_count_exactly(root: Path) -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "counter", 4, 8, 1)
    bpf_obj_pin(fd, "/sys/fs/bpf/counter")
    child = spawn(f"""
        fd = bpf_obj_get("/sys/fs/bpf/counter")
        vm = adder(fd_table.get_map(fd).native_address)
        print("ready", flush=True)
        sys.stdin.readline()
        def work():
            for _ in range({RUNS}):
                assert vm.run() == 0
        ts = [threading.Thread(target=work) for _ in range(2)]
        for t in ts: t.start()
        for t in ts: t.join()
    """, root)
    wait_line(child, "ready")
    vm = adder(fd_table.get_map(fd).native_address)
    assert child.stdin is not None
    child.stdin.write("go\n")
    child.stdin.flush()

    def work() -> None:
        for _ in range(RUNS):
            assert vm.run() == 0

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    finish(child)
    assert bpf_map_lookup_elem(fd, u32(0)) == u64(4 * RUNS * LOOPS)


def test_hash_updates_from_two_processes_lose_nothing(root: Path) -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_HASH, "shared", 4, 8, 1024)
    bpf_obj_pin(fd, "/sys/fs/bpf/shared")
    child = spawn("""
        fd = bpf_obj_get("/sys/fs/bpf/shared")
        print("ready", flush=True)
        sys.stdin.readline()
        hash_writer(fd, 500, 500, 20)
    """, root)
    wait_line(child, "ready")
    assert child.stdin is not None
    child.stdin.write("go\n")
    child.stdin.flush()
    hash_writer(fd, 0, 500, 20)
    finish(child)
    m = fd_table.get_map(fd)
    assert sorted(m.keys()) == sorted(u32(i) for i in range(1000))
    assert all(m.lookup(u32(i)) == u64(i * 3) for i in range(1000))
    # the free list is intact: the map fills to max_entries and no further
    for i in range(1000, 1024):
        m.update(u32(i), u64(0))
    with pytest.raises(OSError):
        m.update(u32(5000), u64(0))


def test_the_pin_outlives_a_killed_creator(root: Path) -> None:
    child = spawn("""
        fd = bpf_map_create(1, "state", 4, 8, 64)      # BPF_MAP_TYPE_HASH
        for i in range(20):
            bpf_map_update_elem(fd, struct.pack("<I", i), struct.pack("<Q", i * 7), 0)
        bpf_obj_pin(fd, "/sys/fs/bpf/app/state")
        print("ready", flush=True)
        time.sleep(600)
    """, root)
    wait_line(child, "ready")
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert sorted(p.name for p in (root / "app").iterdir()) == ["state"]  # no temporaries
    fd = bpf_obj_get("/sys/fs/bpf/app/state")
    assert all(bpf_map_lookup_elem(fd, u32(i)) == u64(i * 7) for i in range(20))
    bpf_map_update_elem(fd, u32(100), u64(1), 0)
    out = finish(spawn("""
        fd = bpf_obj_get("/sys/fs/bpf/app/state")
        print(len(list(fd_table.get_map(fd).keys())))
    """, root))
    assert int(out) == 21


def test_a_user_killed_mid_run_leaves_the_map_usable(root: Path) -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "counter", 4, 8, 1)
    bpf_obj_pin(fd, "/sys/fs/bpf/counter")
    child = spawn("""
        fd = bpf_obj_get("/sys/fs/bpf/counter")
        vm = adder(fd_table.get_map(fd).native_address)
        vm.run()
        print("running", flush=True)
        while True:
            vm.run()
    """, root)
    wait_line(child, "running")
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    before = struct.unpack("<Q", bpf_map_lookup_elem(fd, u32(0)))[0]
    assert before >= LOOPS
    assert adder(fd_table.get_map(fd).native_address).run() == 0
    assert bpf_map_lookup_elem(fd, u32(0)) == u64(before + LOOPS)
    out = finish(spawn("""
        fd = bpf_obj_get("/sys/fs/bpf/counter")
        print(struct.unpack("<Q", bpf_map_lookup_elem(fd, struct.pack("<I", 0)))[0])
    """, root))
    assert int(out) == before + LOOPS
