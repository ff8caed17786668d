"""Bind port-quota monitor, eBPF-for-Windows style: load
bind_port_quota.windows.o, set the quota (sockets one process may have
bound at once), attach it to the bind hook as eBPF for Windows does
(bpf_program__attach) and simulate bind and unbind requests; print each
request's verdict, then the program's counters and what each process holds.

    python3 examples/bind_port_quota/port_quota.py [--quota N]
        [--request 'bind|unbind PID PORT [APP]' ...] [--requests FILE]

Requests: one a line, ``bind PID PORT [APP]`` or ``unbind PID PORT [APP]``
('#' starts a comment); APP is the application id the host passes. With no
requests it runs a sample of three processes, one of them over its quota.
"""

from __future__ import annotations

import argparse
import errno
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from libbpf_compat import libbpf as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.bind import BindOperation, BindResult, BindVerdict, default_hook

HERE = Path(__file__).resolve().parent
OBJECT = HERE / "bind_port_quota.windows.o"
STATS = ("permitted", "denied", "released")
OPERATIONS = {"bind": BindOperation.BIND, "unbind": BindOperation.UNBIND}

SAMPLE_REQUESTS = [
    "bind 1200 8080 \\device\\harddiskvolume2\\web\\server.exe",
    "bind 1200 8081 \\device\\harddiskvolume2\\web\\server.exe",
    "bind 3400 53 \\device\\harddiskvolume2\\dns\\resolver.exe",
    "bind 1200 8082 \\device\\harddiskvolume2\\web\\server.exe",
    "bind 5600 40001 \\device\\harddiskvolume2\\tools\\scanner.exe",
    "bind 5600 40002 \\device\\harddiskvolume2\\tools\\scanner.exe",
    "bind 5600 40003 \\device\\harddiskvolume2\\tools\\scanner.exe",
    "bind 5600 40004 \\device\\harddiskvolume2\\tools\\scanner.exe",
    "unbind 1200 8080 \\device\\harddiskvolume2\\web\\server.exe",
    "bind 1200 8083 \\device\\harddiskvolume2\\web\\server.exe",
    "bind 5600 40005 \\device\\harddiskvolume2\\tools\\scanner.exe",
    "bind 3400 5353 \\device\\harddiskvolume2\\dns\\resolver.exe",
]
SAMPLE_QUOTA = 3


@dataclass(frozen=True)
class Request:
    operation: str  # "bind" or "unbind"
    process_id: int
    port: int
    app_id: str = ""


def parse_request(text: str) -> Request:
    parts = text.split("#", 1)[0].split(None, 3)
    if len(parts) < 3 or parts[0] not in OPERATIONS:
        raise ValueError(f"{text!r}: expected 'bind|unbind PID PORT [APP]'")
    op, pid, port = parts[:3]
    if not pid.isdigit() or not port.isdigit() or int(port) > 0xFFFF:
        raise ValueError(f"{text!r}: PID and PORT are numbers (PORT up to 65535)")
    return Request(op, int(pid), int(port), parts[3] if len(parts) > 3 else "")


def run(requests: list[Request], quota: int) -> tuple[list[BindResult], dict[str, int],
                                                      dict[int, int]]:
    """Run ``requests`` through the monitor with ``quota``; returns each
    request's result, the program's counters and the sockets each process
    holds (the program's table)."""
    obj = lb.bpf_object__open_file(OBJECT)
    try:
        lb.bpf_object__load(obj)
        prog = lb.bpf_object__find_program_by_name(obj, "limit_binds")
        if prog is None:
            raise LibbpfError(errno.ENOENT, f"{OBJECT} has no program limit_binds")
        lb.bpf_map_update_elem(lb.bpf_object__find_map_fd_by_name(obj, "quota"),
                               struct.pack("<I", 0), struct.pack("<I", quota), lb.BPF_ANY)
        link = lb.bpf_program__attach(prog)
        try:
            hook = default_hook()
            results = [hook.request(r.process_id, "0.0.0.0", r.port,
                                    operation=OPERATIONS[r.operation],
                                    app_id=r.app_id.encode("utf-16-le"))
                       for r in requests]
        finally:
            lb.bpf_link__destroy(link)
        stats_fd = lb.bpf_object__find_map_fd_by_name(obj, "stats")
        stats = {name: struct.unpack("<Q", lb.bpf_map_lookup_elem(
            stats_fd, struct.pack("<I", key)))[0] for key, name in enumerate(STATS)}
        bound_fd = lb.bpf_object__find_map_fd_by_name(obj, "bound")
        held: dict[int, int] = {}
        key: bytes | None = None
        while True:
            try:
                key = lb.bpf_map_get_next_key(bound_fd, key)
            except LibbpfError as exc:
                if exc.errno == errno.ENOENT:
                    break
                raise
            (held[struct.unpack("<Q", key)[0]],) = struct.unpack(
                "<I", lb.bpf_map_lookup_elem(bound_fd, key))
    finally:
        lb.bpf_object__close(obj)
    return results, stats, held


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bind_port_quota", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quota", type=int, default=None,
                        help=f"sockets a process may hold bound (0: no limit; default "
                             f"{SAMPLE_QUOTA})")
    parser.add_argument("--request", action="append", default=[],
                        metavar="'bind|unbind PID PORT [APP]'", help="a request (repeatable)")
    parser.add_argument("--requests", type=Path, help="file of requests, one a line")
    args = parser.parse_args(argv)
    quota = SAMPLE_QUOTA if args.quota is None else args.quota
    if not 0 <= quota <= 0xFFFFFFFF:
        parser.error("--quota must be 0..4294967295")
    try:
        lines = list(args.request)
        if args.requests is not None:
            lines += args.requests.read_text().splitlines()
        if not args.request and args.requests is None:
            lines = SAMPLE_REQUESTS
        requests = [parse_request(line) for line in lines if line.split("#", 1)[0].strip()]
    except (OSError, ValueError) as exc:
        print(f"bind_port_quota: {exc}", file=sys.stderr)
        return 2
    try:
        results, stats, held = run(requests, quota)
    except LibbpfError as exc:
        print(f"bind_port_quota: {exc}", file=sys.stderr)
        return 1
    print(f"bind_port_quota: quota {quota or 'unlimited'} per process, "
          f"{len(requests)} requests")
    for req, result in zip(requests, results, strict=True):
        verdict = "DENIED" if result.verdict == BindVerdict.DENY else "permitted"
        app = f"  {req.app_id}" if req.app_id else ""
        print(f"{req.operation:<7}pid {req.process_id:<8}port {req.port:<6}{verdict:<10}{app}")
    print(", ".join(f"{name} {stats[name]}" for name in STATS))
    for pid, n in sorted(held.items()):
        print(f"  pid {pid:<8}holds {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
