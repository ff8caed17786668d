"""connect4 redirector: load connect4_redirector.o (the Linux or the
eBPF-for-Windows build of connect4_redirector.c), give it services (a
service address and its backends), attach it where each platform attaches
connect programs (a cgroup on Linux, the whole host on Windows) and
simulate connect() calls: print each call's destination as the program
rewrote it, then the program's counters and how many connections each
backend got.

    python3 examples/connect4_redirector/redirector.py
        [--service VIP:PORT=IP:PORT,IP:PORT ...] [--connect IP:PORT ...]
        [--connections FILE] [--abi linux|windows]

With no --service and no connections it runs a small sample: two services
and a dozen connections. Backends are taken round robin per service; a
service with no backends rejects its connections.
"""

from __future__ import annotations

import argparse
import collections
import errno
import ipaddress
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from libbpf_compat import libbpf as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.sock_addr import SockAddrResult, default_hook

HERE = Path(__file__).resolve().parent
ABIS = ("linux", "windows")
CGROUP = 1  # the simulated cgroup the connecting processes belong to
MAX_BACKENDS = 256

#: struct service_key / struct backend: ip4, port (both network order), pad.
ENDPOINT = struct.Struct("<4s2s2x")
#: struct service: first, count, next.
SERVICE = struct.Struct("<IIQ")
STATS = ("passed", "redirected", "rejected")

Endpoint = tuple[ipaddress.IPv4Address, int]

SAMPLE_SERVICES = [
    "10.96.0.10:80=192.168.1.11:8080,192.168.1.12:8080,192.168.1.13:8080",
    "10.96.0.53:53=192.168.2.1:53,192.168.2.2:5353",
    "10.96.0.99:443=",
]
SAMPLE_CONNECTIONS = [
    "10.96.0.10:80", "10.96.0.10:80", "10.96.0.53:53", "10.96.0.10:80",
    "8.8.8.8:53", "10.96.0.10:80", "10.96.0.53:53", "10.96.0.10:8080",
    "10.96.0.53:53", "10.96.0.99:443", "10.96.0.10:80", "93.184.216.34:443",
]


def parse_endpoint(text: str) -> Endpoint:
    """'IP:PORT' with an IPv4 address (connect4)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 0xFFFF:
        raise ValueError(f"{text!r}: expected IPv4:PORT")
    try:
        return ipaddress.IPv4Address(host), int(port)
    except ValueError:
        raise ValueError(f"{text!r}: {host!r} is not an IPv4 address") from None


def parse_service(text: str) -> tuple[Endpoint, list[Endpoint]]:
    """'VIP:PORT=IP:PORT,IP:PORT' (no backends after '=': reject)."""
    vip, sep, rest = text.partition("=")
    if not sep:
        raise ValueError(f"{text!r}: expected VIP:PORT=BACKEND:PORT,...")
    backends = [parse_endpoint(b) for b in rest.split(",") if b.strip()]
    return parse_endpoint(vip), backends


def endpoint_key(ep: Endpoint) -> bytes:
    return ENDPOINT.pack(ep[0].packed, ep[1].to_bytes(2, "big"))


@dataclass(frozen=True)
class Connection:
    """One simulated connect() and what the program made of it."""

    destination: Endpoint
    result: SockAddrResult

    def line(self) -> str:
        dest = f"{self.destination[0]}:{self.destination[1]}"
        if not self.result.allowed:
            return f"connect {dest:<22} REJECTED"
        if self.result.rewritten:
            return f"connect {dest:<22} -> {self.result.address}:{self.result.port}"
        return f"connect {dest:<22} (unchanged)"


def run(services: list[tuple[Endpoint, list[Endpoint]]], connections: list[Endpoint],
        abi: str = "linux") -> tuple[list[Connection], dict[str, int]]:
    """Simulate ``connections`` with the redirector of ``abi`` holding
    ``services``; returns each connection and the program's counters."""
    path = HERE / f"connect4_redirector.{abi}.o"
    obj = lb.bpf_object__open_file(path)
    try:
        lb.bpf_object__load(obj)
        prog = lb.bpf_object__find_program_by_name(obj, "redirect_connect4")
        if prog is None:
            raise LibbpfError(errno.ENOENT, f"{path} has no program redirect_connect4")
        services_fd = lb.bpf_object__find_map_fd_by_name(obj, "services")
        backends_fd = lb.bpf_object__find_map_fd_by_name(obj, "backends")
        first = 0
        for vip, backends in services:
            if first + len(backends) > MAX_BACKENDS:
                raise LibbpfError(errno.E2BIG, f"more than {MAX_BACKENDS} backends in all")
            for i, backend in enumerate(backends):
                lb.bpf_map_update_elem(backends_fd, struct.pack("<I", first + i),
                                       endpoint_key(backend), lb.BPF_ANY)
            lb.bpf_map_update_elem(services_fd, endpoint_key(vip),
                                   SERVICE.pack(first, len(backends), 0), lb.BPF_ANY)
            first += len(backends)
        # Linux attaches connect programs to a cgroup; eBPF for Windows to the host
        link = (lb.bpf_program__attach(prog) if prog.abi == "windows"
                else lb.bpf_program__attach_cgroup(prog, CGROUP))
        try:
            hook = default_hook()
            done = [Connection(dest, hook.connect(dest[0], dest[1], cgroup=CGROUP))
                    for dest in connections]
        finally:
            lb.bpf_link__destroy(link)
        stats_fd = lb.bpf_object__find_map_fd_by_name(obj, "stats")
        stats = {name: struct.unpack("<Q", lb.bpf_map_lookup_elem(
            stats_fd, struct.pack("<I", key)))[0] for key, name in enumerate(STATS)}
    finally:
        lb.bpf_object__close(obj)
    return done, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="connect4_redirector",
        description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--service", action="append", default=[],
                        metavar="VIP:PORT=IP:PORT,...", help="a service and its backends")
    parser.add_argument("--connect", action="append", default=[], metavar="IP:PORT",
                        help="a connect() to simulate (repeatable, in order)")
    parser.add_argument("--connections", type=Path,
                        help="file of connect() destinations, one IP:PORT a line")
    parser.add_argument("--abi", choices=ABIS, default="linux",
                        help="which build of connect4_redirector.c to run (default linux)")
    args = parser.parse_args(argv)
    sample = not args.service and not args.connect and args.connections is None
    try:
        services = [parse_service(s) for s in (SAMPLE_SERVICES if sample else args.service)]
        lines = SAMPLE_CONNECTIONS if sample else list(args.connect)
        if args.connections is not None:
            lines += [line for line in args.connections.read_text().splitlines()
                      if line.split("#", 1)[0].strip()]
        connections = [parse_endpoint(line.split("#", 1)[0]) for line in lines]
    except (OSError, ValueError) as exc:
        print(f"connect4_redirector: {exc}", file=sys.stderr)
        return 2
    try:
        done, stats = run(services, connections, args.abi)
    except LibbpfError as exc:
        print(f"connect4_redirector: {exc}", file=sys.stderr)
        return 1
    print(f"connect4_redirector ({args.abi} build): {len(services)} services, "
          f"{len(connections)} connections")
    for conn in done:
        print(conn.line())
    print(", ".join(f"{name} {stats[name]}" for name in STATS))
    per_backend = collections.Counter(f"{c.result.address}:{c.result.port}" for c in done
                                      if c.result.allowed and c.result.rewritten)
    for backend, n in sorted(per_backend.items()):
        print(f"  backend {backend:<22}{n:>4}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
