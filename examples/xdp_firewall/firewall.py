"""XDP firewall over a packet capture: load xdp_firewall.o (the Linux or the
eBPF-for-Windows build of xdp_firewall.c), fill its LPM-trie blocklist with
CIDR prefixes, attach it to an interface and feed that interface every frame
of a pcap/pcapng file; then print the packets and bytes per verdict (the
program's per-CPU counters), the drops per reason and the sources dropped
most (from the drop events the program sent on its ring buffer).

    python3 examples/xdp_firewall/firewall.py [CAPTURE] [--blocklist FILE]
        [--block CIDR ...] [--abi linux|windows] [--top N] [--progress]

With no capture and no blocklist it runs on the capture and blocklist
shipped beside it (capture.pcap, made by gen_capture.py; blocklist.txt).
"""

from __future__ import annotations

import argparse
import collections
import errno
import ipaddress
import json
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import dpkt
from tqdm import tqdm

from libbpf_compat import libbpf as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.xdp import ETH_HLEN, XDP_MAX_PACKET, XdpVerdict, default_hook

HERE = Path(__file__).resolve().parent
DEFAULT_CAPTURE = HERE / "capture.pcap"
DEFAULT_BLOCKLIST = HERE / "blocklist.txt"
IFINDEX = 1
ABIS = ("linux", "windows")

#: struct lpm_key: prefixlen, family, addr[16].
LPM_KEY = struct.Struct("<IB16s3x")
#: struct counter: packets, bytes.
COUNTER = struct.Struct("<QQ")
#: struct drop_event: saddr[16], dport, family, reason, protocol, pad[3], length.
DROP_EVENT = struct.Struct("<16sHBBB3xI")
STATS = {0: "pass", 1: "drop"}
REASONS = {1: "blocklist", 2: "malformed"}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def object_path(abi: str) -> Path:
    """The committed build of xdp_firewall.c for ``abi``."""
    return HERE / f"xdp_firewall.{abi}.o"


def trie_key(net: Network) -> bytes:
    """The blocklist key of ``net``: the family's byte, then the prefix."""
    return LPM_KEY.pack(8 + net.prefixlen, net.version, net.network_address.packed)


def event_source(family: int, saddr: bytes) -> Address:
    """The source address of a drop event of ``family`` (4 or 6)."""
    return ipaddress.IPv4Address(saddr[:4]) if family == 4 else ipaddress.IPv6Address(saddr)


def read_blocklist(path: Path) -> list[Network]:
    """CIDR prefixes, one a line; '#' starts a comment."""
    nets = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
    return nets


def read_frames(path: Path) -> Iterator[tuple[int, bytes]]:
    """(bytes of the file consumed so far, frame) for each frame of a
    pcap or pcapng file of Ethernet frames."""
    with path.open("rb") as f:
        magic = f.read(4)
        f.seek(0)
        reader: Any = (dpkt.pcapng.Reader(f) if magic == b"\x0a\x0d\x0d\x0a"
                       else dpkt.pcap.Reader(f))
        if reader.datalink() != dpkt.pcap.DLT_EN10MB:
            raise ValueError(f"{path}: link type {reader.datalink()}, not Ethernet")
        for _ts, frame in reader:
            yield f.tell(), bytes(frame)


@dataclass
class Report:
    """What a run saw."""

    abi: str
    capture: str
    prefixes: int
    frames: int = 0
    skipped: int = 0  # frames the hook does not take (shorter than 14 bytes, or jumbo)
    packets: dict[str, int] = field(default_factory=dict)
    octets: dict[str, int] = field(default_factory=dict)  # bytes per verdict
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    sources: collections.Counter[str] = field(default_factory=collections.Counter)
    ports: dict[str, collections.Counter[int]] = field(default_factory=dict)
    hook_verdicts: collections.Counter[str] = field(default_factory=collections.Counter)
    """The verdicts the hook returned (the counters' cross-check)."""

    def add_event(self, _ctx: object, raw: bytes, _size: int) -> int:
        """The ring buffer's sample callback: count one drop event."""
        saddr, dport, family, reason, protocol, _length = DROP_EVENT.unpack(raw)
        self.reasons[REASONS.get(reason, f"reason {reason}")] += 1
        if family in (4, 6):
            source = str(event_source(family, saddr))
            self.sources[source] += 1
            if protocol in (6, 17):
                self.ports.setdefault(source, collections.Counter())[dport] += 1
        return 0

    def as_dict(self, top: int) -> dict[str, Any]:
        return {
            "abi": self.abi, "capture": self.capture, "prefixes": self.prefixes,
            "frames": self.frames, "skipped": self.skipped,
            "packets": self.packets, "bytes": self.octets, "reasons": dict(self.reasons),
            "hook_verdicts": dict(self.hook_verdicts),
            "top_sources": [[src, n, dict(self.ports.get(src, {}))]
                            for src, n in self.sources.most_common(top)],
        }


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def per_cpu_sum(raw: bytes) -> tuple[int, int]:
    packets = total = 0
    for p, b in COUNTER.iter_unpack(raw):
        packets += p
        total += b
    return packets, total


def run(capture: Path, blocklist: list[Network], abi: str = "linux",
        progress: bool = False, out: IO[str] | None = None) -> Report:
    """Run the firewall of ``abi`` over ``capture``."""
    report = Report(abi, _shown(capture), len(blocklist))
    obj = lb.bpf_object__open_file(object_path(abi))
    try:
        lb.bpf_object__load(obj)
        prog = lb.bpf_object__find_program_by_name(obj, "xdp_firewall")
        if prog is None:
            raise LibbpfError(errno.ENOENT, f"{object_path(abi)} has no program xdp_firewall")
        trie = lb.bpf_object__find_map_fd_by_name(obj, "blocklist")
        for rule, net in enumerate(blocklist):
            lb.bpf_map_update_elem(trie, trie_key(net), struct.pack("<I", rule), lb.BPF_ANY)
        ring = lb.ring_buffer__new(lb.bpf_object__find_map_fd_by_name(obj, "drops"),
                                   report.add_event)
        hook = default_hook()
        link = lb.bpf_program__attach_xdp(prog, IFINDEX)
        try:
            size = capture.stat().st_size
            with tqdm(total=size, unit="B", unit_scale=True, disable=not progress,
                      desc=capture.name, file=out if out is not None else sys.stderr) as bar:
                done = 0
                for offset, frame in read_frames(capture):
                    report.frames += 1
                    if not ETH_HLEN <= len(frame) <= XDP_MAX_PACKET:
                        report.skipped += 1
                    else:
                        verdict = hook.receive(frame, IFINDEX).verdict
                        report.hook_verdicts[XdpVerdict(verdict).name.lower()] += 1
                    if report.frames % 256 == 0:
                        lb.ring_buffer__consume(ring)
                        bar.update(offset - done)
                        done = offset
                bar.update(size - done)
            lb.ring_buffer__consume(ring)
        finally:
            lb.bpf_link__destroy(link)
            lb.ring_buffer__free(ring)
        stats = lb.bpf_object__find_map_fd_by_name(obj, "stats")
        for key, name in STATS.items():
            raw = lb.bpf_map_lookup_elem(stats, struct.pack("<I", key))
            report.packets[name], report.octets[name] = per_cpu_sum(raw)
    finally:
        lb.bpf_object__close(obj)
    return report


def render(report: Report, top: int) -> str:
    lines = [f"xdp_firewall ({report.abi} build): {report.frames} frames from "
             f"{report.capture}, {report.prefixes} blocked prefixes"]
    if report.skipped:
        lines.append(f"  {report.skipped} frames skipped (the XDP hook takes "
                     f"{ETH_HLEN}..{XDP_MAX_PACKET} bytes)")
    lines.append(f"{'verdict':<10}{'packets':>10}{'bytes':>12}")
    for name in STATS.values():
        lines.append(f"{name:<10}{report.packets[name]:>10}{report.octets[name]:>12}")
    if report.reasons:
        lines.append("drops by reason: " + ", ".join(
            f"{reason} {n}" for reason, n in sorted(report.reasons.items())))
    lines.append(f"top dropped sources (of {len(report.sources)}):")
    for source, n in report.sources.most_common(top):
        ports = report.ports.get(source, collections.Counter())
        shown = ", ".join(f"{port}x{count}" for port, count in ports.most_common(3))
        lines.append(f"  {source:<22}{n:>6}  ports {shown or '-'}")
    if not report.sources:
        lines.append("  (none)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="xdp_firewall", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("capture", nargs="?", type=Path, default=DEFAULT_CAPTURE,
                        help="pcap or pcapng file of Ethernet frames (default: the shipped "
                             "capture.pcap)")
    parser.add_argument("--blocklist", type=Path, action="append", default=[],
                        help="file of CIDR prefixes to drop (repeatable; default: the shipped "
                             "blocklist.txt when no --block is given either)")
    parser.add_argument("--block", action="append", default=[], metavar="CIDR",
                        help="a prefix to drop (repeatable)")
    parser.add_argument("--abi", choices=ABIS, default="linux",
                        help="which build of xdp_firewall.c to run (default linux)")
    parser.add_argument("--top", type=int, default=5, help="how many sources to list")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar (default: when stdout is a terminal)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.top < 0:
        parser.error("--top must be >= 0")
    files = args.blocklist or ([] if args.block else [DEFAULT_BLOCKLIST])
    try:
        nets = [net for path in files for net in read_blocklist(path)]
        nets += [ipaddress.ip_network(text, strict=False) for text in args.block]
    except (OSError, ValueError) as exc:
        print(f"xdp_firewall: blocklist: {exc}", file=sys.stderr)
        return 2
    progress = args.progress if args.progress is not None else sys.stdout.isatty()
    try:
        report = run(args.capture, nets, args.abi, progress=progress)
    except (OSError, ValueError, dpkt.dpkt.Error) as exc:
        if isinstance(exc, LibbpfError):
            print(f"xdp_firewall: {exc}", file=sys.stderr)
            return 1
        print(f"xdp_firewall: {args.capture}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict(args.top)) if args.json else render(report, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
