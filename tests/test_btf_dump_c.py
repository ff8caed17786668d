"""dump_c against ``bpftool btf dump file X format c``, and the dump compiles."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from libbpf_compat.btf import Btf, dump_c

FIXTURES = Path(__file__).parent / "fixtures" / "btf"
OBJECTS = sorted(FIXTURES.glob("*.bpf.o"))


def bpftool_c(path: Path) -> str:
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool is not installed")
    return subprocess.run(["bpftool", "btf", "dump", "file", str(path), "format", "c"],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.stem)
def test_dump_equals_bpftool(path: Path) -> None:
    assert dump_c(Btf.from_file(path)) == bpftool_c(path)


def test_dump_shows_each_construct() -> None:
    text = dump_c(Btf.from_file(FIXTURES / "types.bpf.o"))
    for snippet in (
        "struct opaque;\n",  # forward declaration
        "\tunsigned int a: 3;\n",  # bitfield
        "\tstruct {\n\t\t__u16 x;\n\t\t__u16 y;\n\t} pos;\n",  # anonymous struct inline
        "\t__s8 grid[2][3];\n",  # array of arrays
        "typedef int (*handler_t)(void *, __u32);\n",  # function pointer typedef
        "\tvoid (*notify)(struct event *, int);\n",
        "typedef enum {\n\tMODE_A = 1,\n\tMODE_B = 2,\n} mode_t;\n",
        "} __attribute__((packed));\n",
        "\tchar * const name;\n",
        "\tint * restrict rp;\n",
    ):
        assert snippet in text
    # a definition follows what it embeds
    assert text.index("struct flags {") < text.index("struct event {")
    assert text.index("typedef unsigned int __u32;") < text.index("union num {")


def test_dump_compiles(tmp_path: Path) -> None:
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    header = tmp_path / "types.h"
    header.write_text(dump_c(Btf.from_file(FIXTURES / "types.bpf.o")))
    src = tmp_path / "use.c"
    src.write_text('#include "types.h"\n'
                   "int size_ok[sizeof(struct event) == 144 ? 1 : -1];\n"
                   "int packed_ok[sizeof(struct packed_rec) == 5 ? 1 : -1];\n")
    result = subprocess.run(["clang", "-target", "bpf", "-fsyntax-only", str(src)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
