"""Reading what programs print with ``bpf_trace_printk`` / ``bpf_printk``
(and eBPF for Windows' ``bpf_printk`` forms), like Linux's
``/sys/kernel/tracing/trace_pipe``: taking each line once, in the order
printed, three ways --

- an iterator: ``for line in trace_lines(timeout=1.0): ...``;
- a callback, called by :func:`trace_poll` for each line (as
  ``ring_buffer__poll`` calls its sample callback);
- the :mod:`logging` module: :func:`trace_to_logging` logs each line
  through a logger (``libbpf_compat.trace`` by default), and
  :class:`TraceFollower` does so (or calls a callback) from a background
  thread until stopped.

Programs loaded from objects print to the process-wide pipe
(:data:`libbpf_compat.runtime.DEFAULT_TRACE_PIPE`); a Vm given a
:class:`~libbpf_compat.runtime.Runtime` with a pipe of its own prints
there, and each function takes that pipe as ``pipe``. A callback that
raises stops the poll: the exception reaches the caller, the lines after
it stay in the pipe.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from libbpf_compat.errors import LibbpfError
from libbpf_compat.runtime import DEFAULT_TRACE_PIPE, TracePipe

#: The logger trace lines go to by default.
TRACE_LOGGER = logging.getLogger("libbpf_compat.trace")
_POLL_PAUSE = 0.005

#: Lines taken from a pipe but not yet handed out (a callback raised), per pipe.
_pending: dict[int, deque[str]] = {}
_pending_lock = threading.Lock()


def _queue(pipe: TracePipe) -> deque[str]:
    with _pending_lock:
        return _pending.setdefault(id(pipe), deque())


def _fill(pipe: TracePipe) -> deque[str]:
    queue = _queue(pipe)
    with _pending_lock:
        queue.extend(pipe.read_lines())
    return queue


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout >= 0):
        raise LibbpfError(errno.EINVAL, f"trace: invalid timeout {timeout!r} (seconds >= 0 "
                                        "or None to wait forever)")


def trace_read(pipe: TracePipe = DEFAULT_TRACE_PIPE) -> list[str]:
    """Take every line printed so far."""
    queue = _fill(pipe)
    with _pending_lock:
        lines = list(queue)
        queue.clear()
    return lines


def trace_lines(timeout: float | None = 0.0, pipe: TracePipe = DEFAULT_TRACE_PIPE
                ) -> Iterator[str]:
    """Yield lines as they are printed; stop once ``timeout`` seconds pass
    without a new line (0: stop when the pipe is empty, None: never)."""
    _check_timeout(timeout)
    queue = _queue(pipe)
    idle_since = time.monotonic()
    while True:
        _fill(pipe)
        with _pending_lock:
            line = queue.popleft() if queue else None
        if line is not None:
            idle_since = time.monotonic()
            yield line
            continue
        if timeout is not None and time.monotonic() - idle_since >= timeout:
            return
        time.sleep(_POLL_PAUSE if timeout is None else min(_POLL_PAUSE, timeout))


def trace_poll(callback: Callable[[str], object], timeout_ms: int = 0,
               pipe: TracePipe = DEFAULT_TRACE_PIPE) -> int:
    """Call ``callback(line)`` for each line printed; when there is none,
    wait up to ``timeout_ms`` (-1: forever) for some. Returns the number of
    lines handed over. An exception the callback raises propagates; the
    lines after the one it failed on stay for the next poll."""
    if not callable(callback):
        raise LibbpfError(errno.EINVAL, "trace_poll: the callback is not callable")
    if type(timeout_ms) is not int or timeout_ms < -1:
        raise LibbpfError(errno.EINVAL, f"trace_poll: invalid timeout_ms {timeout_ms!r}")
    deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
    queue = _queue(pipe)
    while True:
        _fill(pipe)
        count = 0
        while True:
            with _pending_lock:
                if not queue:
                    break
                line = queue.popleft()
            callback(line)
            count += 1
        if count or (deadline is not None and time.monotonic() >= deadline):
            return count
        time.sleep(_POLL_PAUSE)


def trace_to_logging(logger: logging.Logger | None = None, level: int = logging.INFO,
                     timeout_ms: int = 0, pipe: TracePipe = DEFAULT_TRACE_PIPE) -> int:
    """Log each line printed through ``logger`` (TRACE_LOGGER by default) at
    ``level``; waits as :func:`trace_poll`. Returns the number of lines."""
    target = logger or TRACE_LOGGER
    return trace_poll(lambda line: target.log(level, "%s", line), timeout_ms, pipe)


class TraceFollower:
    """Hands lines to ``callback`` (or, without one, to the logging module
    as :func:`trace_to_logging`) from a background thread, as they are
    printed, until :meth:`stop` (or the end of a ``with`` block). An
    exception the callback raises stops the follower; :meth:`stop` raises
    it again in the caller."""

    def __init__(self, callback: Callable[[str], object] | None = None, *,
                 logger: logging.Logger | None = None, level: int = logging.INFO,
                 pipe: TracePipe = DEFAULT_TRACE_PIPE, interval: float = 0.01) -> None:
        if callback is not None and not callable(callback):
            raise LibbpfError(errno.EINVAL, "TraceFollower: the callback is not callable")
        if not (isinstance(interval, (int, float)) and interval > 0):
            raise LibbpfError(errno.EINVAL, f"TraceFollower: invalid interval {interval!r}")
        target = logger or TRACE_LOGGER
        self._callback: Callable[[str], object] = callback or (
            lambda line: target.log(level, "%s", line))
        self._pipe = pipe
        self._interval = float(interval)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="libbpf_compat-trace",
                                        daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                trace_poll(self._callback, 0, self._pipe)
                self._stop.wait(self._interval)
            trace_poll(self._callback, 0, self._pipe)  # what was printed before stop
        except BaseException as exc:  # handed to the caller of stop()
            self._error = exc

    def start(self) -> TraceFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join()
        if self._error is not None:
            err, self._error = self._error, None
            raise LibbpfError(errno.ECANCELED, f"trace callback raised {err!r}") from err

    def __enter__(self) -> TraceFollower:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["TRACE_LOGGER", "TraceFollower", "trace_lines", "trace_poll", "trace_read",
           "trace_to_logging"]
