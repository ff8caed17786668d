"""KPROBE, TRACEPOINT, RAW_TRACEPOINT and PERF_EVENT: simulated event
sources a host fires, libbpf's attach calls, read-only contexts, and
test_run where Linux has one (raw tracepoints; the kernel is the oracle)."""

from __future__ import annotations

import errno
import os
import shutil
import struct
import subprocess
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import isa
from libbpf_compat import libbpf_object as lb
from libbpf_compat.abi.ctx_rewrite import rewrite_context_accesses
from libbpf_compat.attach import (
    bpf_link__pin,
    bpf_link__unpin,
    bpf_link_get_next_id,
    bpf_program__attach_kprobe,
    bpf_program__attach_perf_event,
    bpf_program__attach_raw_tracepoint,
    bpf_program__attach_tracepoint,
    bpf_program__attach_uprobe,
)
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.tracing import (
    KPROBE_NATIVE,
    PT_REGS,
    PT_REGS_NAMES,
    TRACEPOINT_NATIVE,
    TRACEPOINT_RECORD,
    TraceEvents,
    default_events,
    pt_regs,
)
from libbpf_compat.libbpf_maps import bpf_map_lookup_elem
from libbpf_compat.links import bpf_link__destroy, bpf_program__attach
from libbpf_compat.object import BpfObject, Program
from libbpf_compat.pinning import PIN_ROOT_ENV
from libbpf_compat.runtime import Task
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from libbpf_compat.test_run_hooks import ENOTSUPP
from tests import kernel_bpf

FIXTURE = Path(__file__).parent / "fixtures" / "hooks" / "tracing.o"


@pytest.fixture
def obj() -> Iterator[BpfObject]:
    o = lb.bpf_object__open_file(FIXTURE)
    o.load()
    yield o
    o.close()


def prog(o: BpfObject, name: str) -> Program:
    p = o.find_program_by_name(name)
    assert p is not None and p.vm is not None
    return p


def last(o: BpfObject, slot: int) -> int:
    fd = o.find_map_fd_by_name("last")
    value: int = struct.unpack("<Q", bpf_map_lookup_elem(fd, struct.pack("<I", slot)))[0]
    return value


def test_pt_regs_layout_agrees_with_the_uapi_header(tmp_path: Path) -> None:
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    checks = ['_Static_assert(sizeof(struct pt_regs) == 168, "size");',
              '_Static_assert(sizeof(struct bpf_perf_event_data) == 184, "perf");',
              '_Static_assert(__builtin_offsetof(struct bpf_perf_event_data, addr) == 176, "");']
    for f in PT_REGS.fields:
        checks.append(f"_Static_assert(__builtin_offsetof(struct pt_regs, {f.name}) == "
                      f"{f.offset}, \"{f.name}\");")
    src = tmp_path / "check.c"
    src.write_text("#include <linux/bpf_perf_event.h>\n#include <asm/ptrace.h>\n"
                   + "\n".join(checks) + "\n")
    arch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
    done = subprocess.run(["clang", "-target", "bpf", "-fsyntax-only", "-I",
                           f"/usr/include/{arch}", str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(("layout", "native", "text"), [
    (PT_REGS, KPROBE_NATIVE, "r2 = 1\n*(u64 *)(r1 + 104) = r2"),
    (TRACEPOINT_RECORD, TRACEPOINT_NATIVE, "r2 = 1\n*(u32 *)(r1 + 8) = r2"),
])
def test_contexts_are_read_only(layout: object, native: object, text: str) -> None:
    code = isa.assemble(text + "\nr0 = 0\nexit", syntax="kernel")
    with pytest.raises(LibbpfError) as info:
        rewrite_context_accesses(code, layout, native, "t")  # type: ignore[arg-type]
    assert info.value.errno == errno.EACCES
    assert "read-only" in str(info.value) and "offset" in str(info.value)


def test_kprobe_and_kretprobe_fire(obj: BpfObject) -> None:
    events = TraceEvents()
    src = events.kprobe("do_sys_openat2")
    entry = bpf_program__attach_kprobe(prog(obj, "on_open"), False, "do_sys_openat2",
                                       events=events)
    ret = bpf_program__attach_kprobe(prog(obj, "on_open_ret"), True, "do_sys_openat2",
                                     events=events)
    task = Task(pid=4321, tgid=1234, comm="cat")
    assert src.fire(pt_regs(rdi=0xFFFFFF9C, rsi=0x7000), task=task).retvals == (0,)
    assert last(obj, 0) == 0x7000 and last(obj, 1) == (1234 << 32) | 4321
    assert src.fire_return(pt_regs(rax=5)).retvals == (0,)
    assert last(obj, 2) == 5
    bpf_link__destroy(entry)
    assert src.fire(pt_regs(rsi=1)).retvals == ()
    bpf_link__destroy(ret)
    with pytest.raises(LibbpfError) as info:
        bpf_program__attach_kprobe(prog(obj, "on_open"), False, "no_such_function",
                                   events=events)
    assert info.value.errno == errno.ENOENT
    with pytest.raises(LibbpfError) as info:
        src.fire(bytes(100))  # not a pt_regs
    assert info.value.errno == errno.EINVAL


def test_uprobe_pid_filter(obj: BpfObject) -> None:
    events = TraceEvents()
    link = bpf_program__attach_uprobe(prog(obj, "on_readline"), False, 77, "/bin/bash",
                                      0x1234, events=events)
    src = events.uprobe("/bin/bash", 0x1234)
    assert src.fire(pt_regs(rdi=41), task=Task(pid=78, tgid=77)).retvals == (0,)
    assert last(obj, 3) == 42
    assert src.fire(pt_regs(rdi=1), task=Task(pid=5, tgid=5)).retvals == ()  # other process
    assert last(obj, 3) == 42
    bpf_link__destroy(link)


def test_auto_attach_by_section(obj: BpfObject) -> None:
    events = default_events()
    tp = events.tracepoint("sched", "sched_process_exec", record_size=16)
    raw = events.raw_tracepoint("sys_enter", nargs=2)
    events.kprobe("do_sys_openat2")
    links = [bpf_program__attach(prog(obj, n)) for n in ("on_exec", "on_sys_enter", "on_open")]
    record = struct.pack("<QII", 0, 300, 299)
    assert tp.fire(record).retvals == (1,)
    assert last(obj, 4) == (299 << 32) | 300
    assert raw.fire_args(0xFFFF8000, 59).retvals == (59,)
    assert last(obj, 5) == 59
    ids = [link.id for link in links]
    assert bpf_link_get_next_id(min(ids) - 1) == min(ids)
    for link in links:
        bpf_link__destroy(link)
    assert tp.fire(record).retvals == ()
    # uretprobe//usr/bin/bash:readline: the function the host defined there
    with pytest.raises(LibbpfError) as info:
        bpf_program__attach(prog(obj, "on_readline_ret"))
    assert info.value.errno == errno.ENOENT
    bash = events.uprobe("/usr/bin/bash", 0xB0F0, "readline")
    ret = bpf_program__attach(prog(obj, "on_readline_ret"))
    assert bash.fire(pt_regs(rax=1)).retvals == ()  # a return probe: not on entry
    assert bash.fire_return(pt_regs(rax=0x55AA)).retvals == (0,)
    assert last(obj, 7) == 0x55AA
    bpf_link__destroy(ret)
    # SEC("uprobe") names no binary: libbpf cannot auto-attach it
    with pytest.raises(LibbpfError) as info:
        bpf_program__attach(prog(obj, "on_readline"))
    assert info.value.errno == errno.EOPNOTSUPP


def test_attach_checks_how_far_the_program_reads(obj: BpfObject) -> None:
    events = TraceEvents()
    events.tracepoint("sched", "short", record_size=12)
    with pytest.raises(LibbpfError) as info:  # on_exec reads 16 bytes of the record
        bpf_program__attach_tracepoint(prog(obj, "on_exec"), "sched", "short", events=events)
    assert info.value.errno == errno.EACCES
    events.raw_tracepoint("one_arg", nargs=1)
    with pytest.raises(LibbpfError) as info:  # on_sys_enter reads args[1]
        bpf_program__attach_raw_tracepoint(prog(obj, "on_sys_enter"), "one_arg", events=events)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(LibbpfError) as info:
        bpf_program__attach_tracepoint(prog(obj, "on_exec"), "sched", "missing", events=events)
    assert info.value.errno == errno.ENOENT
    with pytest.raises(LibbpfError) as info:  # a kprobe program on a tracepoint
        bpf_program__attach_tracepoint(prog(obj, "on_open"), "sched", "short", events=events)
    assert info.value.errno == errno.EINVAL


def test_perf_event(obj: BpfObject) -> None:
    src = TraceEvents().perf_event("cpu-clock")
    link = bpf_program__attach_perf_event(prog(obj, "on_sample"), src)
    regs = pt_regs(rip=0x401000)
    assert src.sample(regs, 100000).retvals == (0,)
    assert last(obj, 6) == 100000 + 0x401000
    bpf_link__destroy(link)
    with pytest.raises(LibbpfError) as info:
        bpf_program__attach_perf_event(prog(obj, "on_sample"), 12345)
    assert info.value.errno == errno.EBADF


def test_test_run_raw_tracepoint_and_enotsupp(obj: BpfObject) -> None:
    raw = prog(obj, "on_sys_enter")
    opts = bpf_test_run_opts(ctx_in=struct.pack("<QQ", 1, 231))
    assert bpf_prog_test_run_opts(raw.fd, opts) == 0
    assert opts.retval == 231 and last(obj, 5) == 231
    for bad in (bpf_test_run_opts(ctx_in=bytes(8)),                  # shorter than it reads
                bpf_test_run_opts(ctx_in=bytes(104)),                # 13 arguments
                bpf_test_run_opts(ctx_in=bytes(16), repeat=2),
                bpf_test_run_opts(ctx_in=bytes(16), data_in=b"x")):
        with pytest.raises(LibbpfError) as info:
            bpf_prog_test_run_opts(raw.fd, bad)
        assert info.value.errno == errno.EINVAL
    for name in ("on_open", "on_exec", "on_sample"):
        with pytest.raises(LibbpfError) as info:
            bpf_prog_test_run_opts(prog(obj, name).fd, bpf_test_run_opts(ctx_in=bytes(168)))
        assert info.value.errno == ENOTSUPP


def test_kernel_agrees_on_raw_tracepoint_test_run(obj: BpfObject, tmp_path: Path) -> None:
    bpftool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    if bpftool is None or os.geteuid() != 0 or not Path("/sys/fs/bpf").is_dir():
        pytest.skip("needs root, bpftool and a bpffs to run the program in the kernel")
    pins = Path(f"/sys/fs/bpf/lbc_test_tracing_{os.getpid()}")
    load = subprocess.run([bpftool, "prog", "loadall", str(FIXTURE), str(pins)],
                          capture_output=True, text=True, timeout=60)
    if load.returncode != 0:
        pytest.skip(f"the kernel refused the programs: {load.stderr.strip()[:200]}")
    try:
        raw_fd = kernel_bpf.obj_get(str(pins / "on_sys_enter"))
        kprobe_fd = kernel_bpf.obj_get(str(pins / "on_open"))
        assert raw_fd >= 0 and kprobe_fd >= 0
        for args in ((0, 59), (7, 1 << 40), (1, 2, 3), (5,), tuple(range(13))):
            ctx = b"".join(struct.pack("<Q", a) for a in args)
            rc, retval, _, _ = kernel_bpf.prog_test_run(raw_fd, ctx_in=ctx)
            ours = bpf_test_run_opts(ctx_in=ctx)
            try:
                bpf_prog_test_run_opts(prog(obj, "on_sys_enter").fd, ours)
                assert rc == 0 and ours.retval == retval
            except LibbpfError as exc:
                assert rc == -(exc.errno or 0), args
        rc, *_ = kernel_bpf.prog_test_run(raw_fd, ctx_in=bytes(16), repeat=2)
        assert rc == -errno.EINVAL
        rc, *_ = kernel_bpf.prog_test_run(kprobe_fd, ctx_in=bytes(168))
        assert rc == -ENOTSUPP
        os.close(raw_fd)
        os.close(kprobe_fd)
    finally:
        shutil.rmtree(pins, ignore_errors=True)


def test_pt_regs_helper() -> None:
    regs = pt_regs(rax=1, rip=2)
    assert len(regs) == 8 * len(PT_REGS_NAMES)
    assert struct.unpack_from("<Q", regs, 80)[0] == 1
    with pytest.raises(LibbpfError):
        pt_regs(xyz=1)


def test_pinned_link_outlives_destroy_until_unpinned(obj: BpfObject, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PIN_ROOT_ENV, str(tmp_path))
    events = TraceEvents()
    src = events.kprobe("vfs_read")
    link = bpf_program__attach_kprobe(prog(obj, "on_open"), False, "vfs_read", events=events)
    bpf_link__pin(link, "/sys/fs/bpf/my_link")
    assert (tmp_path / "my_link").exists()
    with pytest.raises(LibbpfError) as info:
        bpf_link__pin(link, "/sys/fs/bpf/other")
    assert info.value.errno == errno.EBUSY
    other = bpf_program__attach_kprobe(prog(obj, "on_open_ret"), True, "vfs_read",
                                       events=events)
    with pytest.raises(LibbpfError) as info:
        bpf_link__pin(other, "/sys/fs/bpf/my_link")
    assert info.value.errno == errno.EEXIST
    bpf_link__destroy(other)
    bpf_link__destroy(link)  # the pin holds it: still attached
    assert src.fire(pt_regs(rsi=9)).retvals == (0,)
    assert bpf_link_get_next_id(link.id - 1) == link.id
    bpf_link__unpin(link)
    assert not (tmp_path / "my_link").exists()
    assert src.fire(pt_regs(rsi=9)).retvals == ()
    with pytest.raises(LibbpfError) as info:
        bpf_link__unpin(link)
    assert info.value.errno == errno.EINVAL
