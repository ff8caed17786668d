"""The process hook (eBPF for Windows PROCESS programs): a Windows-built
program denies command lines containing "forbidden" by reading the command
line region; deletions cannot be refused; links, test_run, bad input."""

from __future__ import annotations

import errno
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import isa
from libbpf_compat import libbpf as lb
from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.abi.ctx_rewrite import rewrite_context_accesses
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks import process
from libbpf_compat.hooks.contexts import PROCESS_NATIVE, PROCESS_WINDOWS
from libbpf_compat.hooks.process import (
    MAX_COMMAND_LINE,
    MAX_IMAGE_PATH,
    NATIVE_PROCESS_CTX,
    ProcessHook,
    ProcessVerdict,
)
from libbpf_compat.links import ProcessLink, attach_process
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import BpfObject, Program
from libbpf_compat.vm import Vm

FIXTURES = Path(__file__).parent / "fixtures" / "abi"


@pytest.fixture
def obj() -> Iterator[BpfObject]:
    o = lb.bpf_object__open_file(FIXTURES / "process_deny.windows.o")
    o.load()
    yield o
    o.close()


def program(o: BpfObject) -> Program:
    p = o.programs[0]
    assert p.vm is not None
    return p


def seen(o: BpfObject) -> tuple[int, ...]:
    fd = o.find_map_fd_by_name("seen")
    return tuple(struct.unpack("<Q", lb.bpf_map_lookup_elem(fd, struct.pack("<I", k)))[0]
                 for k in range(3))


class _Raw:
    """A hand-assembled process program (Windows layout)."""

    prog_type = windows_abi.INTERNAL_PROG_PROCESS
    abi = "windows"

    def __init__(self, text: str, name: str = "raw") -> None:
        code = isa.assemble(text, syntax="kernel")
        self.vm = Vm(rewrite_context_accesses(code, PROCESS_WINDOWS, PROCESS_NATIVE, name),
                     bounds_check=True)
        self.name = name


def test_layout_and_program_type_follow_abi_md(obj: BpfObject) -> None:
    assert PROCESS_WINDOWS.size == NATIVE_PROCESS_CTX.size == 56
    assert [(f.name, f.offset) for f in PROCESS_WINDOWS.fields] == [
        ("command_start", 0), ("command_end", 8), ("process_id", 16),
        ("parent_process_id", 24), ("creating_process_id", 32), ("creating_thread_id", 40),
        ("operation", 48)]
    p = program(obj)
    assert p.abi == "windows" and p.section_name == "process"
    assert p.prog_type == windows_abi.INTERNAL_PROG_PROCESS


def test_forbidden_command_lines_are_denied(obj: BpfObject) -> None:
    hook = ProcessHook()
    hook.attach(program(obj))
    ok = hook.create(100, 4, "C:\\Windows\\notepad.exe readme.txt")
    assert ok.verdict is ProcessVerdict.PERMIT and ok.permitted and ok.retvals == (0,)
    denied = hook.create(101, 4, "cmd.exe /c forbidden.bat")
    assert denied.verdict is ProcessVerdict.DENY and not denied.permitted
    assert denied.retvals == (1,)
    # the match must lie inside the region: a prefix of the word is not enough
    assert hook.create(102, 4, "run forbidde").permitted
    assert not hook.create(103, 4, b"forbidden").permitted  # at both ends of the region
    assert hook.create(104, 4, "").permitted
    assert hook.delete(101, 4, "cmd.exe /c forbidden.bat").permitted  # deletion is not refused
    assert seen(obj) == (3, 2, 1)


def test_ids_reach_the_program_and_a_deny_stops_the_run(obj: BpfObject) -> None:
    hook = ProcessHook()
    # deny when parent_process_id is 666; return creating_thread_id otherwise on delete
    deny_parent = _Raw("r2 = *(u64 *)(r1 + 24)\nr0 = 0\nif r2 != 666 goto +1\nr0 = 5\nexit",
                       "deny_parent")
    echo = _Raw("r0 = *(u64 *)(r1 + 40)\nexit", "echo")
    hook.attach(deny_parent)  # type: ignore[arg-type]
    hook.attach(program(obj))
    hook.attach(echo)  # type: ignore[arg-type]
    r = hook.create(1, 666, "forbidden", creating_thread_id=9)
    assert r.verdict is ProcessVerdict.DENY and r.retvals == (5,)
    r = hook.create(1, 2, "ok", creating_thread_id=9)
    assert r.verdict is ProcessVerdict.DENY and r.retvals == (0, 0, 9)
    r = hook.delete(1, 666, creating_thread_id=9)
    assert r.verdict is ProcessVerdict.PERMIT and r.retvals == (5, 0, 9)
    assert hook.detach_program(program(obj)) == 1
    assert hook.create(1, 2, "forbidden").retvals == (0, 0)


def test_the_command_line_is_read_only() -> None:
    with pytest.raises(LibbpfError):
        ProcessHook().attach(_Raw("r2 = 1\n*(u64 *)(r1 + 16) = r2\nr0 = 0\nexit"))  # type: ignore[arg-type]
    hook = ProcessHook()
    hook.attach(_Raw("r2 = *(u64 *)(r1 + 0)\nr3 = 65\n*(u8 *)(r2 + 0) = r3\n"  # type: ignore[arg-type]
                     "r0 = 0\nexit"))
    with pytest.raises(LibbpfError) as info:
        hook.create(1, 2, "abc")
    assert info.value.errno == errno.EFAULT


def test_auto_attach_links(obj: BpfObject) -> None:
    hook = process.default_hook()
    link = lb.bpf_program__attach(program(obj))
    assert isinstance(link, ProcessLink) and fd_table.get(link.fd) is link
    assert "process hook" in repr(link)
    assert not hook.create(5, 4, "forbidden").permitted
    fd = link.fd
    lb.bpf_link__destroy(link)
    assert fd not in fd_table and hook.create(5, 4, "forbidden").retvals == ()
    lb.bpf_program__attach(program(obj))
    obj.close()  # closing the object detaches its links
    assert hook.create(5, 4, "forbidden").retvals == ()


def test_bad_input(obj: BpfObject) -> None:
    hook = ProcessHook()
    xdp = lb.bpf_object__open_file(FIXTURES / "xdp_count.linux.o")
    xdp.load()
    try:
        for bad, err in ((lambda: hook.attach(xdp.programs[0]), errno.EINVAL),
                         (lambda: attach_process(xdp.programs[0], hook=hook), errno.EINVAL),
                         (lambda: hook.create(-1, 0, "x"), errno.EINVAL),
                         (lambda: hook.create(1, 1 << 64, "x"), errno.EINVAL),
                         (lambda: hook.create(1, 0, 42), errno.EINVAL),  # type: ignore[arg-type]
                         (lambda: hook.request(7, 1), errno.EINVAL),
                         (lambda: hook.create(1, 0, b"a" * (MAX_COMMAND_LINE + 1)),
                          errno.E2BIG)):
            with pytest.raises(LibbpfError) as info:
                bad()
            assert info.value.errno == err
    finally:
        xdp.close()
    hook.attach(program(obj))
    with pytest.raises(LibbpfError) as info:
        hook.attach(program(obj))
    assert info.value.errno == errno.EEXIST
    assert not hook.create(1, 0, "forbidden").permitted  # unharmed


def test_test_run_fills_the_command_line_from_data_in(obj: BpfObject) -> None:
    fd = program(obj).fd
    ctx = NATIVE_PROCESS_CTX.pack(0, 0, 10, 4, 4, 8, 0)
    opts = lb.bpf_test_run_opts(data_in=b"x forbidden y", ctx_in=ctx, repeat=2)
    assert lb.bpf_prog_test_run_opts(fd, opts) == 0
    assert opts.retval == 1
    assert opts.ctx_out == NATIVE_PROCESS_CTX.pack(0, 13, 10, 4, 4, 8, 0)
    opts = lb.bpf_test_run_opts(data_in=b"fine")
    lb.bpf_prog_test_run_opts(fd, opts)
    assert opts.retval == 0
    opts = lb.bpf_test_run_opts(ctx_in=NATIVE_PROCESS_CTX.pack(0, 0, 1, 1, 1, 1, 1))
    lb.bpf_prog_test_run_opts(fd, opts)  # a deletion
    assert opts.retval == 0 and seen(obj) == (1, 2, 1)
    for bad in (lb.bpf_test_run_opts(ctx_in=NATIVE_PROCESS_CTX.pack(1, 2, 0, 0, 0, 0, 0)),
                lb.bpf_test_run_opts(ctx_in=ctx + b"\0")):
        with pytest.raises(LibbpfError) as info:
            lb.bpf_prog_test_run_opts(fd, bad)
        assert info.value.errno == errno.EINVAL


def test_layout_agrees_with_the_c_header(tmp_path: Path) -> None:
    """process_md_t as clang lays out the project's eBPF-for-Windows header."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    inc = Path(lb.__file__).parent / "include"
    checks = ["_Static_assert(sizeof(process_md_t) == 56, \"size\");"]
    for f in PROCESS_WINDOWS.fields:
        checks.append(f"_Static_assert(__builtin_offsetof(process_md_t, {f.name}) == "
                      f"{f.offset} && sizeof(((process_md_t *)0)->{f.name}) == {f.size}, "
                      f"\"{f.name}\");")
    src = tmp_path / "check.c"
    src.write_text('#include "bpf/bpf_helpers.h"\n' + "\n".join(checks) + "\n")
    compiled = subprocess.run(["clang", "-target", "bpf", "-fsyntax-only", "-I", str(inc),
                               "-DLBC_ABI_WINDOWS", str(src)], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr[-2000:]


# -- bpf_process_get_image_path ---------------------------------------------------
IMAGE_FIXTURE = Path(__file__).parent / "fixtures" / "hooks" / "process_image.o"


def test_get_image_path_reads_what_the_host_gave() -> None:
    obj = lb.bpf_object__open_file(IMAGE_FIXTURE)
    obj.load()
    prog = obj.find_program_by_name("check_image")
    assert prog is not None
    images = obj.find_map_fd_by_name("images")

    def seen() -> tuple[int, bytes]:
        result, path = struct.unpack("<q32s", lb.bpf_map_lookup_elem(images, bytes(4)))
        return result, path.rstrip(b"\0")

    hook = ProcessHook()
    hook.attach(prog)
    try:
        assert hook.create(10, 1, "good.exe -v", image_path=r"C:\good.exe").permitted
        assert seen() == (len(r"C:\good.exe"), rb"C:\good.exe")
        assert not hook.create(11, 1, "bad", image_path="bad.exe").permitted
        # longer than the program's 32 bytes: -EINVAL, nothing copied
        assert hook.create(12, 1, image_path=b"x" * 33).permitted
        assert seen() == (-errno.EINVAL, b"")
        assert hook.create(13, 1).permitted and seen() == (0, b"")  # no image path given
        assert hook.delete(13).permitted and seen() == (0, b"")     # deletions have none
        with pytest.raises(LibbpfError) as info:
            hook.request(process.ProcessOperation.DELETE, 13, image_path="x.exe")
        assert info.value.errno == errno.EINVAL
        with pytest.raises(LibbpfError) as info:
            hook.create(14, 1, image_path=b"x" * (MAX_IMAGE_PATH + 1))
        assert info.value.errno == errno.E2BIG
    finally:
        hook.detach(prog)
        obj.close()
