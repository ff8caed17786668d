"""Process-creation monitor, eBPF-for-Windows style: load
process_monitor.windows.o, give it the image names to block, attach it to
the process hook (bpf_program__attach) and simulate process creations and
exits; print the log the program sends on its ring buffer (process, parent,
command line, and whether it refused the creation) and a summary.

    python3 examples/process_monitor/procmon.py [--block IMAGE ...]
        [--event 'create PID PPID COMMAND LINE' | 'exit PID' ...] [--events FILE]

Events: one a line, ``create PID PPID COMMAND LINE`` or ``exit PID``
('#' at the start of a line is a comment). An image is the command line's
first word without its directory, compared case-insensitively. With no
events it runs a sample session that blocks mimikatz.exe and nc.exe.
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
from libbpf_compat.hooks.process import ProcessVerdict, default_hook

HERE = Path(__file__).resolve().parent
OBJECT = HERE / "process_monitor.windows.o"
IMAGE_MAX = 32
CMD_MAX = 192
#: struct process_event: process_id, parent_process_id, creating_process_id,
#: operation, denied, command_length, command[192], image[32].
EVENT = struct.Struct(f"<QQQIII{CMD_MAX}s{IMAGE_MAX}s4x")

SAMPLE_BLOCKED = ["mimikatz.exe", "nc.exe"]
SAMPLE_EVENTS = [
    "create 4100 700 C:\\Windows\\explorer.exe",
    "create 4200 4100 C:\\Windows\\System32\\cmd.exe /k",
    "create 4300 4200 \"C:\\Program Files\\Git\\bin\\git.exe\" status",
    "exit 4300",
    "create 4400 4200 C:\\Tools\\Mimikatz.exe privilege::debug",
    "create 4500 4200 powershell.exe -NoProfile -Command Get-Process",
    "create 4600 4500 C:\\Tools\\NC.EXE -l -p 4444",
    "create 4700 4500 notepad.exe C:\\notes\\nc.exe.txt",
    "exit 4500",
    "exit 4200",
]


@dataclass(frozen=True)
class Event:
    """One simulated creation or exit."""

    operation: str  # "create" or "exit"
    process_id: int
    parent_process_id: int = 0
    command_line: str = ""


@dataclass(frozen=True)
class LogEntry:
    """One record the program sent."""

    operation: str
    process_id: int
    parent_process_id: int
    creating_process_id: int
    denied: bool
    command_line: str
    command_length: int
    image: str

    @classmethod
    def decode(cls, raw: bytes) -> LogEntry:
        pid, ppid, creator, op, denied, length, command, image = EVENT.unpack(raw)
        return cls("create" if op == 0 else "exit", pid, ppid, creator, bool(denied),
                   command[:min(length, CMD_MAX)].decode("utf-8", "replace"), length,
                   image.rstrip(b"\0").decode("utf-8", "replace"))

    def line(self) -> str:
        if self.operation == "exit":
            return f"EXIT    pid {self.process_id}"
        more = "..." if self.command_length > CMD_MAX else ""
        verdict = "DENIED " if self.denied else "CREATE "
        return (f"{verdict} pid {self.process_id:<6} ppid {self.parent_process_id:<6} "
                f"{self.command_line}{more}")


def parse_event(text: str) -> Event:
    parts = text.split(None, 3)
    if parts and parts[0] == "exit" and len(parts) == 2 and parts[1].isdigit():
        return Event("exit", int(parts[1]))
    if (len(parts) == 4 and parts[0] == "create" and parts[1].isdigit()
            and parts[2].isdigit()):
        return Event("create", int(parts[1]), int(parts[2]), parts[3])
    raise ValueError(f"{text!r}: expected 'create PID PPID COMMAND LINE' or 'exit PID'")


def image_key(image: str) -> bytes:
    """The blocked map's key for ``image`` (lower case, NUL padded)."""
    raw = image.lower().encode("utf-8")
    if not raw or len(raw) >= IMAGE_MAX or b"\\" in raw or b"/" in raw:
        raise ValueError(f"{image!r}: an image name is 1..{IMAGE_MAX - 1} bytes, no directory")
    return raw.ljust(IMAGE_MAX, b"\0")


def run(events: list[Event], blocked: list[str]) -> tuple[list[bool], list[LogEntry]]:
    """Simulate ``events`` with ``blocked`` images; returns whether each
    event was permitted (exits always are) and the program's log."""
    keys = [image_key(image) for image in blocked]
    # the verifier proves the program at load (the command's length, end - start,
    # bounds the copy), so it runs without the VM's bounds checks
    obj = lb.bpf_object__open_file(OBJECT)
    log: list[LogEntry] = []
    try:
        lb.bpf_object__load(obj)
        prog = lb.bpf_object__find_program_by_name(obj, "monitor_processes")
        if prog is None:
            raise LibbpfError(errno.ENOENT, f"{OBJECT} has no program monitor_processes")
        blocked_fd = lb.bpf_object__find_map_fd_by_name(obj, "blocked")
        for rule, key in enumerate(keys):
            lb.bpf_map_update_elem(blocked_fd, key, struct.pack("<I", rule), lb.BPF_ANY)

        def record(_ctx: object, data: bytes, _size: int) -> int:
            log.append(LogEntry.decode(data))
            return 0

        ring = lb.ring_buffer__new(lb.bpf_object__find_map_fd_by_name(obj, "events"), record)
        link = lb.bpf_program__attach(prog)
        permitted = []
        try:
            hook = default_hook()
            for ev in events:
                if ev.operation == "create":
                    result = hook.create(ev.process_id, ev.parent_process_id, ev.command_line,
                                         creating_process_id=ev.parent_process_id)
                else:
                    result = hook.delete(ev.process_id)
                permitted.append(result.verdict == ProcessVerdict.PERMIT)
                lb.ring_buffer__consume(ring)
        finally:
            lb.bpf_link__destroy(link)
            lb.ring_buffer__free(ring)
    finally:
        lb.bpf_object__close(obj)
    return permitted, log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="process_monitor", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--block", action="append", default=None, metavar="IMAGE",
                        help="an image name whose creation to deny (repeatable; default "
                             "with the sample: " + ", ".join(SAMPLE_BLOCKED) + ")")
    parser.add_argument("--event", action="append", default=[],
                        help="an event to simulate (repeatable, in order)")
    parser.add_argument("--events", type=Path, help="file of events, one a line")
    args = parser.parse_args(argv)
    sample = not args.event and args.events is None
    blocked = args.block if args.block is not None else (SAMPLE_BLOCKED if sample else [])
    try:
        lines = SAMPLE_EVENTS if sample else list(args.event)
        if args.events is not None:
            lines += [line for line in args.events.read_text().splitlines()
                      if line.strip() and not line.lstrip().startswith("#")]
        events = [parse_event(line) for line in lines]
        _permitted, log = run(events, blocked)
    except (OSError, ValueError) as exc:
        if isinstance(exc, LibbpfError):
            print(f"process_monitor: {exc}", file=sys.stderr)
            return 1
        print(f"process_monitor: {exc}", file=sys.stderr)
        return 2
    print(f"process_monitor: {len(events)} events, blocking "
          f"{', '.join(blocked) if blocked else 'nothing'}")
    for entry in log:
        print(entry.line())
    creations = [e for e in log if e.operation == "create"]
    print(f"created {sum(not e.denied for e in creations)}, "
          f"denied {sum(e.denied for e in creations)}, "
          f"exited {len(log) - len(creations)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
