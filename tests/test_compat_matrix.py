"""compat_matrix.md is what the registries generate today, and its
instruction table covers every form once."""

from __future__ import annotations

from libbpf_compat import isa
from libbpf_compat.compat_matrix import MATRIX, interpreter_status, render


def test_matrix_is_current() -> None:
    assert MATRIX.read_text() == render(), (
        "compat_matrix.md is stale: run python -m libbpf_compat.compat_matrix --write")


def test_instruction_table_counts_every_form_once() -> None:
    section = render().split("## Instruction set")[1].split("\n## ")[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ")
            and line.split(" | ")[1].isdigit()]
    assert sum(int(row[1]) for row in rows) == len(isa.FORMS)


def test_interpreter_status_reflects_the_vm() -> None:
    by_name = {f.name: f for f in isa.FORMS}
    assert interpreter_status(by_name["add64_imm"]) == "executes"
    assert interpreter_status(by_name["ldabsdw"]).startswith("refused: not RFC 9669")
    pseudo = [f for f in isa.FORMS if f.group == "lddw" and f.fixed_fields.get("src")]
    assert pseudo and all("object loader" in interpreter_status(f) for f in pseudo)


def _rows(section_title: str) -> dict[str, list[str]]:
    section = render().split(f"## {section_title}\n")[1].split("\n## ")[0]
    return {cells[0]: cells[1:] for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()
             if line.startswith("| ") and not line.startswith("|---"))}


def test_helper_rows_name_the_helpers_as_programs_call_them() -> None:
    rows = _rows("Helpers")
    # the sample extension's helpers have no bpf_ prefix on Windows
    assert "sample_ebpf_extension_find" in rows and "bpf_sample_ebpf_extension_find" not in rows
    assert rows["bpf_map_lookup_elem"][-1].endswith("Linux and eBPF-for-Windows objects")
    assert rows["bpf_probe_read_kernel"][-1].endswith("runs for Linux objects")
    net = rows["bpf_sock_addr_get_network_context"]
    assert net[2:] == ["cgroup_sock_addr",
                       "implemented (C), runs for eBPF-for-Windows objects"]
    assert rows["bpf_sock_ops_get_flow_id"][2] == "sock_ops"
    assert rows["bpf_spin_lock"][2].startswith("all but ")


def test_program_type_and_hook_rows_say_which_objects_run() -> None:
    types = _rows("Program types")
    assert types["xdp"][3] == "Linux and eBPF-for-Windows objects"
    assert types["bind"][3] == "eBPF-for-Windows objects"
    assert types["socket_filter"][3] == "Linux objects"
    hooks = _rows("Hooks")
    assert hooks["sock_addr sendmsg4 (hooks.sock_addr)"][1] == "Linux objects"
    assert hooks["sock_addr recv_accept4 (hooks.sock_addr)"][1] == "eBPF-for-Windows objects"
    assert hooks["sock_addr connect4 (hooks.sock_addr)"][1] == (
        "Linux and eBPF-for-Windows objects")
