"""Events out, bad input: a ring buffer or perf buffer callback that raises
reaches the caller of poll, the records after it stay for the next poll and
the map keeps working; trace_printk output of loaded programs (both ABIs)
through an iterator, a callback and the logging module."""

from __future__ import annotations

import errno
import logging
import struct
from pathlib import Path
from typing import Any

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat import perfbuf
from libbpf_compat.errors import LibbpfError
from libbpf_compat.libbpf_maps import bpf_map_create
from libbpf_compat.mapstore import fd_table, num_possible_cpus
from libbpf_compat.object import BpfObject
from libbpf_compat.ringbuf import ring_buffer__free, ring_buffer__new, ring_buffer__poll
from libbpf_compat.runtime import Runtime, TracePipe
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from libbpf_compat.trace import (
    TRACE_LOGGER,
    TraceFollower,
    trace_lines,
    trace_poll,
    trace_read,
    trace_to_logging,
)
from libbpf_compat.uapi import BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF
from tests.test_map_perf import CUR
from tests.test_map_perf import output_program as perf_output_program
from tests.test_ringbuf import output_program as ring_output_program

FIXTURES = Path(__file__).parent / "fixtures" / "helpers"


class Boom(Exception):
    pass


def test_ring_buffer_callback_that_raises_reaches_poll() -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "rb", 0, 0, 4096)
    vm = ring_output_program(fd_table.get_map(fd).native_address)
    for i in range(3):
        assert vm.run(bytes([i])) == 0
    seen: list[bytes] = []

    def sample(ctx: object, data: bytes, size: int) -> int:
        if data == b"\x01" and not seen.count(b"\x01"):
            seen.append(data)
            raise Boom("callback bug")
        seen.append(data)
        return 0

    rb = ring_buffer__new(fd, sample)
    try:
        with pytest.raises(LibbpfError) as info:
            ring_buffer__poll(rb, 0)
        assert isinstance(info.value.__cause__, Boom) and "callback bug" in str(info.value)
        assert seen == [b"\x00", b"\x01"]
        assert ring_buffer__poll(rb, 0) == 1  # the record after it was kept
        assert seen[-1] == b"\x02"
        assert vm.run(b"\x07") == 0  # the producer and the map go on
        assert ring_buffer__poll(rb, 100) == 1 and seen[-1] == b"\x07"
    finally:
        ring_buffer__free(rb)


def test_perf_buffer_callback_that_raises_reaches_poll() -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_PERF_EVENT_ARRAY, "events", 4, 4, num_possible_cpus())
    got: list[bytes] = []

    def sample(ctx: Any, cpu: int, data: bytes, size: int) -> None:
        got.append(data[:8])
        if data[:8] == b"second!!" and got.count(b"second!!") == 1:
            raise Boom("perf callback bug")

    pb = perfbuf.perf_buffer__new(fd, 1, sample, None, None)
    try:
        vm = perf_output_program(fd_table.get_map(fd).native_address)
        for payload in (b"first!!!", b"second!!", b"third!!!"):
            assert vm.run(bytearray(struct.pack("<Q", CUR) + payload)) == 0
        with pytest.raises(Boom):
            perfbuf.perf_buffer__poll(pb, 100)
        assert got == [b"first!!!", b"second!!"]
        assert perfbuf.perf_buffer__poll(pb, 100) == 1 and got[-1] == b"third!!!"
        assert vm.run(bytearray(struct.pack("<Q", CUR) + b"fourth!!")) == 0
        perfbuf.perf_buffer__consume(pb)
        assert got[-1] == b"fourth!!"
    finally:
        perfbuf.perf_buffer__free(pb)


@pytest.fixture(params=["linux", "windows"])
def printer(request: pytest.FixtureRequest) -> Any:
    obj: BpfObject = lb.bpf_object__open_file(FIXTURES / f"printk.{request.param}.o")
    obj.load()
    prog = obj.find_program_by_name("print_len")
    assert prog is not None
    trace_read()  # start from an empty pipe
    yield lambda packet: bpf_prog_test_run_opts(prog.fd, bpf_test_run_opts(data_in=packet))
    obj.close()


def test_printk_of_a_loaded_program_reaches_the_iterator(printer: Any) -> None:
    printer(b"\xab" + bytes(63))
    printer(b"\x01" + bytes(99))
    assert list(trace_lines()) == ["len 64 first ab", "len 100 first 1"]
    assert list(trace_lines(timeout=0.01)) == []


def test_printk_through_a_callback(printer: Any) -> None:
    printer(b"\x10" + bytes(20))
    lines: list[str] = []
    assert trace_poll(lines.append, 0) == 1 and lines == ["len 21 first 10"]
    assert trace_poll(lines.append, 10) == 0

    for n in range(3):
        printer(bytes([n]) + bytes(20))

    def fails_on_the_second(line: str) -> None:
        lines.append(line)
        if len(lines) == 3:
            raise Boom(line)

    with pytest.raises(Boom):
        trace_poll(fails_on_the_second)
    assert trace_read() == ["len 21 first 2"]  # the line after the failure is kept


def test_printk_through_logging(printer: Any, caplog: pytest.LogCaptureFixture) -> None:
    printer(b"\x42" + bytes(30))
    with caplog.at_level(logging.INFO, logger=TRACE_LOGGER.name):
        assert trace_to_logging() == 1
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("libbpf_compat.trace", logging.INFO, "len 31 first 42")]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tool"), \
            TraceFollower(logger=logging.getLogger("tool"), level=logging.DEBUG):
        printer(b"\x05" + bytes(19))
    assert [r.getMessage() for r in caplog.records] == ["len 20 first 5"]


def test_trace_follower_surfaces_a_raising_callback(printer: Any) -> None:
    def broken(line: str) -> None:
        raise Boom(line)

    follower = TraceFollower(broken).start()
    printer(b"\x07" + bytes(19))
    with pytest.raises(LibbpfError) as info:
        follower.stop()
    assert isinstance(info.value.__cause__, Boom)
    printer(b"\x08" + bytes(19))
    assert trace_read() == ["len 20 first 8"]  # the pipe goes on


def test_own_pipe_and_bad_arguments() -> None:
    pipe = TracePipe()
    Runtime(trace_pipe=pipe)
    assert list(trace_lines(pipe=pipe)) == []
    for bad in (lambda: trace_poll("nope"), lambda: trace_poll(print, -2),  # type: ignore[arg-type]
                lambda: list(trace_lines(timeout=-1)), lambda: TraceFollower(interval=0)):
        with pytest.raises(LibbpfError) as info:
            bad()
        assert info.value.errno == errno.EINVAL
