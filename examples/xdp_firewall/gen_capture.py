"""Write capture.pcap, the firewall's sample capture, deterministically:
a few thousand Ethernet frames of mixed IPv4/IPv6 TCP/UDP traffic from a
handful of sources, plus some ARP frames and some IP packets cut short
(which the firewall drops as malformed).

    python3 examples/xdp_firewall/gen_capture.py [--packets N] [-o PATH]

The same arguments always give the same bytes (a seeded generator and
fixed timestamps).
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import sys
from pathlib import Path

import dpkt

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "capture.pcap"
SEED = 20261126
START = 1_764_115_200  # the first packet's timestamp (seconds)

#: (source address, weight): which hosts send the traffic, and how much.
SOURCES = [
    ("10.0.0.5", 20), ("10.0.0.66", 12), ("10.0.0.70", 6), ("192.0.2.10", 10),
    ("198.51.100.23", 8), ("203.0.113.7", 9), ("2001:db8::1", 12),
    ("2001:db8:bad::5", 10), ("2001:db8:bad:1::9", 4), ("fd00::17", 9),
]
DESTINATIONS = {4: "10.1.0.1", 6: "2001:db8:1::1"}
PORTS = [22, 53, 80, 123, 443, 3389, 8080]
SRC_MAC = bytes.fromhex("020000000001")
DST_MAC = bytes.fromhex("020000000002")


def _l4(rng: random.Random) -> tuple[int, dpkt.Packet]:
    """A TCP segment or UDP datagram to a random service port."""
    sport = rng.randrange(1024, 65536)
    dport = rng.choice(PORTS)
    payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 48)))
    if dport in (53, 123) or rng.random() < 0.2:
        return dpkt.ip.IP_PROTO_UDP, dpkt.udp.UDP(sport=sport, dport=dport, data=payload,
                                                  ulen=8 + len(payload))
    flags = rng.choice([dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH])
    return dpkt.ip.IP_PROTO_TCP, dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags,
                                              seq=rng.getrandbits(32), data=payload)


def _ip_frame(rng: random.Random, source: str) -> bytes:
    src = ipaddress.ip_address(source)
    dst = ipaddress.ip_address(DESTINATIONS[src.version])
    proto, l4 = _l4(rng)
    ip: dpkt.Packet
    if src.version == 4:
        ip = dpkt.ip.IP(src=src.packed, dst=dst.packed, p=proto, ttl=64,
                        id=rng.randrange(65536), data=l4)
        ethertype = dpkt.ethernet.ETH_TYPE_IP
    else:
        ip = dpkt.ip6.IP6(src=src.packed, dst=dst.packed, nxt=proto, hlim=64, data=l4)
        ip.plen = len(bytes(l4))
        ethertype = dpkt.ethernet.ETH_TYPE_IP6
    frame = bytes(dpkt.ethernet.Ethernet(src=SRC_MAC, dst=DST_MAC, type=ethertype, data=ip))
    if rng.random() < 0.01:  # cut inside the IP header: malformed
        frame = frame[:14 + rng.randrange(1, 20 if src.version == 4 else 40)]
        frame = frame.ljust(14, b"\0")
    return frame


def _arp_frame(rng: random.Random) -> bytes:
    arp = dpkt.arp.ARP(sha=SRC_MAC, spa=bytes([10, 0, 0, rng.randrange(1, 255)]),
                       tpa=bytes([10, 1, 0, 1]))
    return bytes(dpkt.ethernet.Ethernet(src=SRC_MAC, dst=b"\xff" * 6,
                                        type=dpkt.ethernet.ETH_TYPE_ARP, data=arp))


def frames(count: int, seed: int = SEED) -> list[bytes]:
    """The capture's frames, in order."""
    rng = random.Random(seed)
    names = [name for name, _ in SOURCES]
    weights = [weight for _, weight in SOURCES]
    out = []
    for _ in range(count):
        if rng.random() < 0.02:
            out.append(_arp_frame(rng))
        else:
            out.append(_ip_frame(rng, rng.choices(names, weights)[0]))
    return out


def write_capture(path: Path, count: int, seed: int = SEED) -> None:
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f, snaplen=65535)
        for i, frame in enumerate(frames(count, seed)):
            writer.writepkt_time(frame, START + i / 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--packets", type=int, default=3000, help="how many (default 3000)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.packets < 0:
        parser.error("--packets must be >= 0")
    write_capture(args.output, args.packets, args.seed)
    print(f"wrote {args.packets} packets to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
