"""The BPF C headers in libbpf_compat/include: generated declarations are
current, the same source builds against either ABI's numbering, and the
two builds call the same helpers once translated."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from libbpf_compat import isa
from libbpf_compat.abi import internal_helper
from libbpf_compat.include_gen import HELPER_DEFS, INCLUDE_DIR, render_helper_defs

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "abi"


def section_code(obj: Path, name: str) -> bytes:
    with obj.open("rb") as f:
        section = ELFFile(f).get_section_by_name(name)
        assert section is not None, f"{obj.name} has no section {name}"
        return bytes(section.data())


def helper_calls(code: bytes) -> list[int]:
    return [i.imm for i in isa.decode(code) if i.opcode == 0x85 and i.src == 0]


def test_helper_defs_are_current() -> None:
    assert HELPER_DEFS.read_text() == render_helper_defs(), (
        "run python -m libbpf_compat.include_gen --write")


def test_include_option_prints_the_header_directory() -> None:
    out = subprocess.run([sys.executable, "-m", "libbpf_compat", "--include"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert Path(out) == INCLUDE_DIR
    assert (Path(out) / "bpf" / "bpf_helpers.h").is_file()


def test_both_builds_call_the_same_helpers_after_translation() -> None:
    linux = helper_calls(section_code(FIXTURES / "xdp_count.linux.o", "xdp"))
    windows = helper_calls(section_code(FIXTURES / "xdp_count.windows.o", "xdp"))
    assert linux == [1, 5]                      # map_lookup_elem, ktime_get_ns
    assert windows == [1, 9]                    # the same helpers, Windows numbers
    assert [internal_helper("windows", h) for h in windows] == linux


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed")
@pytest.mark.parametrize("abi", ["linux", "windows"])
def test_fixture_rebuilds_identically(tmp_path: Path, abi: str) -> None:
    args = ["clang", "-O2", "-g", "-target", "bpf", "-I", str(INCLUDE_DIR), "-c",
            str(FIXTURES / "xdp_count.c"), "-o", str(tmp_path / "out.o")]
    args += ["-DLBC_ABI_WINDOWS"] if abi == "windows" else [
        "-I", f"/usr/include/{subprocess.check_output(['uname', '-m'], text=True).strip()}"
        "-linux-gnu"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if abi == "linux" and "linux/bpf.h" in result.stderr:
        pytest.skip("the Linux UAPI headers are not installed")
    assert result.returncode == 0, result.stderr
    assert section_code(tmp_path / "out.o", "xdp") == section_code(
        FIXTURES / f"xdp_count.{abi}.o", "xdp")
