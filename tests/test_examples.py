"""The example tools end to end: each front end's main(argv) is run and
what it prints is checked against what its input implies, computed here
independently (the firewall's verdicts from the capture's bytes and the
blocklist with ipaddress, the redirector's round robin, the quota and the
blocked images); the Linux and Windows builds of one C source print the
same."""

from __future__ import annotations

import collections
import ipaddress
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from libbpf_compat import example_tools
from libbpf_compat.errors import LibbpfError

pytest.importorskip("dpkt")
pytest.importorskip("tqdm")

import dpkt

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FIREWALL = EXAMPLES / "xdp_firewall"
ABIS = ("linux", "windows")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def example(name: str) -> ModuleType:
    return example_tools.load(name)


def run_main(capsys: pytest.CaptureFixture[str], name: str, *argv: str) -> tuple[int, str]:
    status = example(name).main(list(argv))
    out = capsys.readouterr().out
    return status, out


# -- (a) the XDP firewall ----------------------------------------------------
@dataclass
class Expected:
    packets: collections.Counter[str] = field(default_factory=collections.Counter)
    bytes: collections.Counter[str] = field(default_factory=collections.Counter)
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    sources: collections.Counter[str] = field(default_factory=collections.Counter)
    ports: dict[str, collections.Counter[int]] = field(default_factory=dict)


def blocklist_file(path: Path) -> list[Network]:
    return [ipaddress.ip_network(line.split("#")[0].strip(), strict=False)
            for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def expected_firewall(capture: Path, nets: list[Network], skip: int = 0) -> Expected:
    """What the firewall must report, from the frames' bytes (after the
    first ``skip`` frames, which the hook does not take)."""
    exp = Expected()
    with capture.open("rb") as f:
        frames = [bytes(buf) for _ts, buf in dpkt.pcap.Reader(f)][skip:]
    for frame in frames:
        size = len(frame)
        ethertype = struct.unpack_from(">H", frame, 12)[0]
        verdict, reason, source, l4, proto = "pass", "", None, 0, 0
        if ethertype == 0x0800:
            if size < 34:
                verdict, reason = "drop", "malformed"
            else:
                ihl = (frame[14] & 15) * 4
                source = ipaddress.ip_address(frame[26:30])
                proto, l4 = frame[23], 14 + ihl
                if ihl < 20 or l4 > size:
                    verdict, reason = "drop", "malformed"
        elif ethertype == 0x86DD:
            if size < 54:
                verdict, reason = "drop", "malformed"
            else:
                source = ipaddress.ip_address(frame[22:38])
                proto, l4 = frame[20], 54
        if verdict == "pass" and source is not None and any(
                source.version == net.version and source in net for net in nets):
            verdict, reason = "drop", "blocklist"
        exp.packets[verdict] += 1
        exp.bytes[verdict] += size
        if verdict == "drop":
            exp.reasons[reason] += 1
            if source is not None:
                exp.sources[str(source)] += 1
                if proto in (6, 17):
                    port = struct.unpack_from(">H", frame, l4 + 2)[0] if l4 + 4 <= size else 0
                    exp.ports.setdefault(str(source), collections.Counter())[port] += 1
    return exp


def firewall_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    status, out = run_main(capsys, "xdp_firewall", "--json", "--top", "1000", *argv)
    assert status == 0
    result: dict[str, Any] = json.loads(out)
    return result


def check_report(report: dict[str, Any], exp: Expected) -> None:
    assert report["packets"] == {"pass": exp.packets["pass"], "drop": exp.packets["drop"]}
    assert report["bytes"] == {"pass": exp.bytes["pass"], "drop": exp.bytes["drop"]}
    assert report["reasons"] == dict(exp.reasons)
    assert report["hook_verdicts"] == {k: v for k, v in exp.packets.items() if v}
    assert {src: n for src, n, _ in report["top_sources"]} == dict(exp.sources)
    assert {src: {int(p): c for p, c in ports.items()}
            for src, _, ports in report["top_sources"]} == {
        src: dict(exp.ports.get(src, {})) for src in exp.sources}


def test_shipped_capture_is_small_and_regenerates_identically(tmp_path: Path) -> None:
    shipped = FIREWALL / "capture.pcap"
    assert shipped.stat().st_size < 500_000
    again = tmp_path / "capture.pcap"
    gen = subprocess.run([sys.executable, str(FIREWALL / "gen_capture.py"), "-o", str(again)],
                         capture_output=True, text=True, timeout=120)
    assert gen.returncode == 0, gen.stderr
    assert again.read_bytes() == shipped.read_bytes()
    exp = expected_firewall(shipped, blocklist_file(FIREWALL / "blocklist.txt"))
    # the capture exercises every path: both verdicts, both reasons, both families
    assert sum(exp.packets.values()) == 3000
    assert exp.reasons["blocklist"] > 0 and exp.reasons["malformed"] > 0
    assert {ipaddress.ip_address(s).version for s in exp.sources} == {4, 6}


@pytest.mark.parametrize("abi", ABIS)
def test_firewall_on_the_shipped_capture(capsys: pytest.CaptureFixture[str], abi: str) -> None:
    report = firewall_json(capsys, "--abi", abi)
    assert report["abi"] == abi and report["frames"] == 3000 and report["skipped"] == 0
    assert report["prefixes"] == 3
    check_report(report, expected_firewall(FIREWALL / "capture.pcap",
                                           blocklist_file(FIREWALL / "blocklist.txt")))


@pytest.mark.parametrize("abi", ABIS)
def test_firewall_with_block_arguments(capsys: pytest.CaptureFixture[str], abi: str) -> None:
    # ::/0 blocks every IPv6 source and no IPv4 one; 10.0.0.5/32 one host
    blocks = ["::/0", "10.0.0.5/32", "198.51.100.0/25"]
    report = firewall_json(capsys, "--abi", abi, *[a for b in blocks for a in ("--block", b)])
    nets = [ipaddress.ip_network(b) for b in blocks]
    exp = expected_firewall(FIREWALL / "capture.pcap", nets)
    check_report(report, exp)
    assert "10.0.0.5" in exp.sources and "10.0.0.66" not in exp.sources


def test_firewall_without_blocklist_drops_only_malformed(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "none.txt"
    empty.write_text("# nothing blocked\n\n")
    report = firewall_json(capsys, "--blocklist", str(empty))
    assert report["prefixes"] == 0
    check_report(report, expected_firewall(FIREWALL / "capture.pcap", []))
    assert set(report["reasons"]) == {"malformed"}


def test_firewall_on_a_generated_capture(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    capture = tmp_path / "other.pcap"
    gen = example_tools.examples_dir() / "xdp_firewall" / "gen_capture.py"
    subprocess.run([sys.executable, str(gen), "--packets", "700", "--seed", "7", "-o",
                    str(capture)], check=True, capture_output=True, timeout=120)
    report = firewall_json(capsys, str(capture), "--block", "2001:db8::/32")
    assert report["frames"] == 700
    check_report(report, expected_firewall(capture, [ipaddress.ip_network("2001:db8::/32")]))


def test_firewall_skips_frames_the_hook_does_not_take(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    frames = [bytes(10), bytes.fromhex("0200000000020200000000010800") + bytes(4000)]
    with (FIREWALL / "capture.pcap").open("rb") as f:
        frames += [bytes(buf) for _ts, buf in dpkt.pcap.Reader(f)][:50]
    capture = tmp_path / "odd.pcap"
    with capture.open("wb") as f:
        writer = dpkt.pcap.Writer(f, snaplen=65535)
        for i, frame in enumerate(frames):
            writer.writepkt_time(frame, i)
    report = firewall_json(capsys, str(capture))
    assert (report["frames"], report["skipped"]) == (52, 2)
    check_report(report, expected_firewall(capture, blocklist_file(FIREWALL / "blocklist.txt"),
                                           skip=2))
    status, out = run_main(capsys, "xdp_firewall", str(capture))
    assert status == 0 and "2 frames skipped (the XDP hook takes 14..3520 bytes)" in out


def test_both_firewall_builds_print_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = {}
    for abi in ABIS:
        status, out = run_main(capsys, "xdp_firewall", "--abi", abi)
        assert status == 0
        outputs[abi] = out.replace(f"({abi} build)", "(build)")
    assert outputs["linux"] == outputs["windows"]


def test_firewall_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run_main(capsys, "xdp_firewall", "--top", "2")
    assert status == 0
    exp = expected_firewall(FIREWALL / "capture.pcap", blocklist_file(FIREWALL / "blocklist.txt"))
    for verdict in ("pass", "drop"):
        assert re.search(rf"^{verdict}\s+{exp.packets[verdict]}\s+{exp.bytes[verdict]}$", out,
                         re.M), out
    top = [line.split() for line in out.split("top dropped sources")[1].splitlines()[1:]]
    assert [(src, int(n)) for src, n, *_ in top] == exp.sources.most_common(2)


def test_firewall_progress_bar_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert example("xdp_firewall").main(["--progress"]) == 0
    captured = capsys.readouterr()
    assert "100%" in captured.err and "capture.pcap" in captured.err
    assert example("xdp_firewall").main([]) == 0  # stdout is not a terminal here
    assert capsys.readouterr().err == ""


def test_firewall_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fw = example("xdp_firewall")
    assert fw.main([str(tmp_path / "missing.pcap")]) == 2
    assert "missing.pcap" in capsys.readouterr().err
    assert fw.main(["--block", "10.0.0.300/8"]) == 2
    assert "10.0.0.300" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("10.0.0.0/8\nnot-a-prefix\n")
    assert fw.main(["--blocklist", str(bad)]) == 2
    assert f"{bad}:2" in capsys.readouterr().err
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture")
    assert fw.main([str(junk)]) == 2
    assert "junk.pcap" in capsys.readouterr().err


# -- (b) the connect4 redirector ---------------------------------------------
def expected_redirects(services: dict[str, list[str]], connections: list[str]) -> list[str]:
    """'-> backend', 'REJECTED' or '(unchanged)' per connection, round robin."""
    turns: collections.Counter[str] = collections.Counter()
    out = []
    for dest in connections:
        backends = services.get(dest)
        if backends is None:
            out.append("(unchanged)")
        elif not backends:
            out.append("REJECTED")
        else:
            out.append(f"-> {backends[turns[dest] % len(backends)]}")
            turns[dest] += 1
    return out


def redirector_lines(out: str) -> list[str]:
    return [line.split(None, 2)[2] for line in out.splitlines() if line.startswith("connect ")]


@pytest.mark.parametrize("abi", ABIS)
def test_redirector_sample(capsys: pytest.CaptureFixture[str], abi: str) -> None:
    mod = example("connect4_redirector")
    status, out = run_main(capsys, "connect4_redirector", "--abi", abi)
    assert status == 0
    services = {vip: [b for b in rest.split(",") if b]
                for vip, rest in (s.split("=") for s in mod.SAMPLE_SERVICES)}
    expected = expected_redirects(services, mod.SAMPLE_CONNECTIONS)
    assert redirector_lines(out) == expected
    redirected = sum(e.startswith("->") for e in expected)
    rejected = expected.count("REJECTED")
    assert (f"passed {len(expected) - redirected - rejected}, redirected {redirected}, "
            f"rejected {rejected}") in out


def test_redirector_both_builds_agree_on_many_connections(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    services = {"10.0.0.1:80": [f"172.16.0.{i}:8000" for i in range(1, 6)],
                "10.0.0.2:443": ["172.16.1.1:443", "172.16.1.2:8443"],
                "10.0.0.3:25": []}
    dests = [*services, "10.0.0.1:81", "10.0.0.9:80"]
    connections = [dests[(i * 7 + i // 3) % len(dests)] for i in range(200)]
    conn_file = tmp_path / "connections.txt"
    conn_file.write_text("# simulated connect() calls\n" + "\n".join(connections) + "\n")
    args = [a for vip, b in services.items() for a in ("--service", f"{vip}={','.join(b)}")]
    outputs = {}
    for abi in ABIS:
        status, out = run_main(capsys, "connect4_redirector", "--abi", abi, *args,
                               "--connections", str(conn_file))
        assert status == 0
        assert redirector_lines(out) == expected_redirects(services, connections)
        outputs[abi] = out.replace(f"({abi} build)", "")
    assert outputs["linux"] == outputs["windows"]


def test_redirector_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    red = example("connect4_redirector")
    assert red.main(["--service", "10.0.0.1:80"]) == 2
    assert red.main(["--connect", "::1:80"]) == 2
    assert red.main(["--connect", "10.0.0.1:99999"]) == 2
    err = capsys.readouterr().err
    assert "VIP:PORT=" in err and "'::1'" in err and "99999" in err
    many = ",".join(f"10.1.{i // 250}.{i % 250 + 1}:80" for i in range(257))
    assert red.main(["--service", f"10.0.0.1:80={many}", "--connect", "10.0.0.1:80"]) == 1
    assert "backends" in capsys.readouterr().err


# -- (c) the bind port-quota monitor -----------------------------------------
def expected_quota(requests: list[str], quota: int) -> tuple[list[str], dict[int, int],
                                                             dict[str, int]]:
    held: dict[int, int] = {}
    verdicts = []
    stats = {"permitted": 0, "denied": 0, "released": 0}
    for line in requests:
        op, pid_text, _port = line.split()[:3]
        pid = int(pid_text)
        if op == "unbind":
            if held.get(pid, 0) > 0:
                held[pid] -= 1
                stats["released"] += 1
            verdicts.append("permitted")
        elif quota and held.get(pid, 0) >= quota:
            stats["denied"] += 1
            verdicts.append("DENIED")
        else:
            held[pid] = held.get(pid, 0) + 1
            stats["permitted"] += 1
            verdicts.append("permitted")
    return verdicts, held, stats


def quota_output(out: str) -> tuple[list[str], dict[int, int], str]:
    verdicts = [line.split()[5] for line in out.splitlines()
                if line.startswith(("bind ", "unbind "))]
    held = {int(m[1]): int(m[2]) for m in re.finditer(r"^  pid (\d+)\s+holds (\d+)$", out,
                                                      re.M)}
    summary = next(line for line in out.splitlines() if line.startswith("permitted "))
    return verdicts, held, summary


def test_port_quota_sample(capsys: pytest.CaptureFixture[str]) -> None:
    mod = example("bind_port_quota")
    status, out = run_main(capsys, "bind_port_quota")
    assert status == 0
    verdicts, held, stats = expected_quota(mod.SAMPLE_REQUESTS, mod.SAMPLE_QUOTA)
    assert "DENIED" in verdicts
    got = quota_output(out)
    assert got == (verdicts, held, ", ".join(f"{k} {v}" for k, v in stats.items()))


@pytest.mark.parametrize("quota", [0, 1, 4])
def test_port_quota_many_requests(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                  quota: int) -> None:
    requests = []
    for i in range(150):
        pid = 100 + i % 4 * 10
        requests.append(f"{'unbind' if i % 7 == 3 else 'bind'} {pid} {20000 + i} app{pid}.exe")
    path = tmp_path / "requests.txt"
    path.write_text("# pid 100..130\n" + "\n".join(requests) + "\n")
    status, out = run_main(capsys, "bind_port_quota", "--quota", str(quota), "--requests",
                           str(path))
    assert status == 0
    verdicts, held, stats = expected_quota(requests, quota)
    assert quota_output(out) == (verdicts, held,
                                 ", ".join(f"{k} {v}" for k, v in stats.items()))


def test_port_quota_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    mod = example("bind_port_quota")
    assert mod.main(["--request", "listen 1 80"]) == 2
    assert mod.main(["--request", "bind x 80"]) == 2
    assert mod.main(["--request", "bind 1 70000"]) == 2
    assert "listen 1 80" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        mod.main(["--quota", "-1"])


# -- (d) the process-creation monitor ----------------------------------------
def image_of(command: str) -> str:
    """The command line's image name as the program defines it."""
    first = command[1:].split('"')[0] if command.startswith('"') else command.split()[0]
    return re.split(r"[\\/]", first)[-1].lower()


def test_process_monitor_sample(capsys: pytest.CaptureFixture[str]) -> None:
    mod = example("process_monitor")
    status, out = run_main(capsys, "process_monitor")
    assert status == 0
    lines = out.splitlines()[1:-1]
    assert len(lines) == len(mod.SAMPLE_EVENTS)
    denied = 0
    for event, line in zip(mod.SAMPLE_EVENTS, lines, strict=True):
        parts = event.split(None, 3)
        if parts[0] == "exit":
            assert line.split() == ["EXIT", "pid", parts[1]]
            continue
        blocked = image_of(parts[3]) in mod.SAMPLE_BLOCKED
        denied += blocked
        assert line.split(None, 5) == ["DENIED" if blocked else "CREATE", "pid", parts[1],
                                       "ppid", parts[2], parts[3]]
    assert denied == 2
    creations = sum(e.startswith("create") for e in mod.SAMPLE_EVENTS)
    exits = len(mod.SAMPLE_EVENTS) - creations
    assert out.splitlines()[-1] == f"created {creations - denied}, denied {denied}, exited {exits}"


def test_process_monitor_log_records(capsys: pytest.CaptureFixture[str]) -> None:
    mod = example("process_monitor")
    long_cmd = "C:\\bin\\tool.exe " + "a" * 300
    events = [mod.Event("create", 10, 1, "C:\\x\\EVIL.exe --now"),
              mod.Event("create", 11, 10, long_cmd),
              mod.Event("create", 12, 10, "\"C:\\Program Files\\evil.exe\" x"),
              mod.Event("create", 13, 10, "evil.exe.bak"),
              mod.Event("create", 14, 10, ""),
              mod.Event("exit", 11)]
    permitted, log = mod.run(events, ["Evil.exe"])
    assert permitted == [False, True, False, True, True, True]
    assert [e.denied for e in log] == [True, False, True, False, False, False]
    assert [e.image for e in log[:5]] == ["evil.exe", "tool.exe", "evil.exe", "evil.exe.bak", ""]
    assert [(e.process_id, e.parent_process_id, e.creating_process_id) for e in log[:2]] == [
        (10, 1, 1), (11, 10, 10)]
    assert log[1].command_length == len(long_cmd)
    assert log[1].command_line == long_cmd[:mod.CMD_MAX]
    assert (log[-1].operation, log[-1].process_id) == ("exit", 11)
    # no blocklist: everything runs, everything is logged
    status, out = run_main(capsys, "process_monitor", "--event", "create 5 1 evil.exe",
                           "--event", "exit 5")
    assert status == 0 and out.splitlines()[-1] == "created 1, denied 0, exited 1"


def test_process_monitor_program_is_proven_safe() -> None:
    """The verifier proves the program (the command's length bounds the copy, the scan
    loops stay in [command_start, command_end)): it loads verified, not bounds-checked."""
    from libbpf_compat.verify import verify_object

    mod = example("process_monitor")
    report = verify_object(mod.OBJECT)
    assert report.ok, [p.messages for p in report.programs]


def test_process_monitor_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    mod = example("process_monitor")
    assert mod.main(["--event", "spawn 1 2 x"]) == 2
    assert mod.main(["--event", "create 1 x"]) == 2
    assert mod.main(["--block", "C:\\dir\\x.exe", "--event", "create 1 2 x"]) == 2
    assert mod.main(["--block", "x" * 40, "--event", "create 1 2 x"]) == 2
    err = capsys.readouterr().err
    assert "spawn 1 2 x" in err and "no directory" in err


# -- the command line --------------------------------------------------------
def test_unknown_example_and_missing_examples_dir(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    with pytest.raises(LibbpfError) as info:
        example_tools.load("nope")
    assert "xdp_firewall" in str(info.value)
    monkeypatch.setenv("LIBBPF_COMPAT_EXAMPLES", str(tmp_path))
    with pytest.raises(LibbpfError) as info:
        example_tools.examples_dir()
    assert str(tmp_path) in str(info.value) and "pip install -e" in str(info.value)


def test_command_line_runs_each_example() -> None:
    for name, argv in (("connect4_redirector", ["--abi", "windows"]),
                       ("bind_port_quota", ["--quota", "2"]), ("process_monitor", [])):
        result = subprocess.run([sys.executable, "-m", "libbpf_compat", "example", name, *argv],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(name), result.stdout


# -- the firewall against the kernel -----------------------------------------
def test_firewall_agrees_with_the_kernel(tmp_path: Path) -> None:
    """The Linux build of xdp_firewall.c, loaded into this machine's kernel
    by bpftool and run on every frame of the capture with
    BPF_PROG_TEST_RUN, returns what it returns on the XDP hook here, and
    its per-CPU counters end up the same."""
    from tests import kernel_bpf

    why = kernel_bpf.unavailable()
    if why is not None:
        pytest.skip(why)
    if shutil.which("bpftool") is None or not Path("/sys/fs/bpf").is_dir():
        pytest.skip("bpftool or /sys/fs/bpf is missing")
    from libbpf_compat import libbpf as lb
    from libbpf_compat.hooks.xdp import XdpHook
    from libbpf_compat.links import attach_xdp

    fw = example("xdp_firewall")
    nets = blocklist_file(FIREWALL / "blocklist.txt")
    with (FIREWALL / "capture.pcap").open("rb") as f:
        frames = [bytes(buf) for _ts, buf in dpkt.pcap.Reader(f)]
    obj_path = FIREWALL / "xdp_firewall.linux.o"
    pins = Path(f"/sys/fs/bpf/lbc_test_examples_{os.getpid()}")
    fds: list[int] = []
    try:
        (pins / "maps").mkdir(parents=True)
        load = subprocess.run(["bpftool", "prog", "loadall", str(obj_path), str(pins), "type",
                               "xdp", "pinmaps", str(pins / "maps")],
                              capture_output=True, text=True, timeout=60)
        if load.returncode != 0:
            pytest.skip(f"the kernel refused the program: {load.stderr.strip()[-300:]}")
        prog_fd, trie_fd, stats_fd = (kernel_bpf.obj_get(str(pins / p)) for p in
                                      ("xdp_firewall", "maps/blocklist", "maps/stats"))
        fds += [prog_fd, trie_fd, stats_fd]
        assert min(fds) >= 0, fds
        trie = kernel_bpf.KernelMap(trie_fd, 24, 4, percpu=False)
        for rule, net in enumerate(nets):
            assert trie.update(fw.trie_key(net), struct.pack("<I", rule)) == 0
        kernel_retvals = []
        for frame in frames:
            rc, retval, _, _ = kernel_bpf.prog_test_run(prog_fd, data_in=frame)
            assert rc == 0, (rc, frame.hex())
            kernel_retvals.append(retval)
        stats = kernel_bpf.KernelMap(stats_fd, 4, 16, percpu=True)
        kernel_stats = [fw.per_cpu_sum(stats.lookup(struct.pack("<I", k))[1]) for k in (0, 1)]
    finally:
        for fd in fds:
            if fd >= 0:
                os.close(fd)
        subprocess.run(["rm", "-rf", str(pins)], check=False)

    obj = lb.bpf_object__open_file(obj_path)
    try:
        lb.bpf_object__load(obj)
        trie_fd = lb.bpf_object__find_map_fd_by_name(obj, "blocklist")
        for rule, net in enumerate(nets):
            lb.bpf_map_update_elem(trie_fd, fw.trie_key(net), struct.pack("<I", rule), 0)
        hook = XdpHook(interfaces=[1])
        prog = lb.bpf_object__find_program_by_name(obj, "xdp_firewall")
        assert prog is not None
        with attach_xdp(prog, 1, hook=hook):
            ours = [hook.receive(frame, 1).retval for frame in frames]
        stats_fd = lb.bpf_object__find_map_fd_by_name(obj, "stats")
        our_stats = [fw.per_cpu_sum(lb.bpf_map_lookup_elem(stats_fd, struct.pack("<I", k)))
                     for k in (0, 1)]
    finally:
        lb.bpf_object__close(obj)
    assert ours == kernel_retvals
    assert our_stats == kernel_stats
    assert set(kernel_retvals) == {1, 2}  # XDP_DROP and XDP_PASS both seen


# -- the committed builds are the sources' -----------------------------------
BUILDS = [("xdp_firewall", "xdp_firewall", "xdp", ABIS),
          ("connect4_redirector", "connect4_redirector", "cgroup/connect4", ABIS),
          ("bind_port_quota", "bind_port_quota", "bind", ("windows",)),
          ("process_monitor", "process_monitor", "process", ("windows",))]


@pytest.mark.parametrize(("directory", "base", "section", "abis"), BUILDS)
def test_committed_objects_rebuild_from_their_source(tmp_path: Path, directory: str, base: str,
                                                     section: str, abis: tuple[str, ...]) -> None:
    """clang (as build.sh runs it) makes the same program and relocations
    as the committed .o files: one C source, each ABI's build."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    version = subprocess.run(["clang", "--version"], capture_output=True, text=True).stdout
    if not re.search(r"clang version 14\.", version):
        pytest.skip("the committed objects are clang 14's; another clang lays code out "
                    "its own way")
    from elftools.elf.elffile import ELFFile

    include = subprocess.run([sys.executable, "-m", "libbpf_compat", "--include"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.strip()
    src = EXAMPLES / directory / f"{base}.c"
    assert (EXAMPLES / directory / "build.sh").is_file()

    def sections(path: Path) -> dict[str, bytes]:
        with path.open("rb") as f:
            elf = ELFFile(f)
            return {s.name: s.data() for s in elf.iter_sections()
                    if s.name in (section, f".rel{section}", ".maps", "license")}

    for abi in abis:
        flags = ["-DLBC_ABI_WINDOWS"] if abi == "windows" else [
            "-I", f"/usr/include/{os.uname().machine}-linux-gnu"]
        out = tmp_path / f"{base}.{abi}.o"
        subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I", include, *flags, "-c",
                        str(src), "-o", str(out)], check=True, capture_output=True, timeout=120)
        committed = sections(EXAMPLES / directory / f"{base}.{abi}.o")
        assert section in committed and f".rel{section}" in committed
        assert sections(out) == committed, abi
