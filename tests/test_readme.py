"""The README's quick start and examples work as written."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_first_two_commands_are_install_and_run_then_install_and_test() -> None:
    commands = re.findall(r"^(python3 -m pip install .+)$", README, re.M)
    assert commands[0] == "python3 -m pip install -e . && python3 -m libbpf_compat"
    assert commands[1] == "python3 -m pip install -e '.[test]' && python3 -m pytest"
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].replace("python3 -m pip install", "python3 -m pip install -q") in ci


def test_main_job_runs_the_firewall_on_the_shipped_capture() -> None:
    pytest.importorskip("dpkt")
    from tests.test_examples import FIREWALL, blocklist_file, expected_firewall

    result = subprocess.run([sys.executable, "-m", "libbpf_compat"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar when stdout is not a terminal
    exp = expected_firewall(FIREWALL / "capture.pcap", blocklist_file(FIREWALL / "blocklist.txt"))
    for verdict in ("pass", "drop"):
        assert re.search(rf"^{verdict}\s+{exp.packets[verdict]}\s+{exp.bytes[verdict]}$",
                         result.stdout, re.M), result.stdout
    # the README shows the output as it is
    shown = re.search(r"```text\n\$ python3 -m libbpf_compat\n(.*?)```", README, re.S)
    assert shown is not None and shown.group(1) == result.stdout


def test_demo_still_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "libbpf_compat", "demo"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "match" in result.stdout and "MISMATCH" not in result.stdout


def test_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, "README.md", "exec"), {})
        assert out.getvalue().strip() == "42"
