"""A tiny wrapper of the Linux bpf() system call for map commands (and
BPF_OBJ_GET / BPF_PROG_TEST_RUN of programs bpftool loaded), so tests
and benchmarks can run the same operations on a kernel map and on the
native store. x86-64 only (syscall number 321); ``unavailable()`` says why
it cannot be used here, or returns None when it can.

Every call returns ``(rc, result)`` with rc 0 or a negative errno, like the
native store's C API, so the two can be compared errno for errno.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

NR_BPF = 321
BPF_MAP_CREATE = 0
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_MAP_GET_NEXT_KEY = 4
BPF_OBJ_GET = 7
BPF_PROG_TEST_RUN = 10
BPF_MAP_LOOKUP_AND_DELETE_ELEM = 21
BPF_MAP_FREEZE = 22
BPF_MAP_LOOKUP_BATCH = 24
BPF_MAP_LOOKUP_AND_DELETE_BATCH = 25
BPF_MAP_UPDATE_BATCH = 26
BPF_MAP_DELETE_BATCH = 27

ATTR_SIZE = 128

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_uint]


def bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    """bpf(cmd, attr): the result, or a negative errno."""
    rc = _syscall(NR_BPF, cmd, ctypes.addressof(attr), ATTR_SIZE)
    return -ctypes.get_errno() if rc < 0 else int(rc)


def possible_cpus() -> int:
    """libbpf_num_possible_cpus(): from /sys/devices/system/cpu/possible."""
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read().strip()
    return max(int(part.split("-")[-1]) for part in text.split(",")) + 1


def _addr(buf: ctypes.Array[ctypes.c_char] | None) -> int:
    return 0 if buf is None else ctypes.addressof(buf)


def create_map(map_type: int, key_size: int, value_size: int, max_entries: int,
               map_flags: int = 0, name: bytes = b"", map_extra: int = 0,
               inner_map_fd: int = 0) -> int:
    """A kernel map's fd, or a negative errno."""
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into("IIIIIII16s", attr, 0, map_type, key_size, value_size, max_entries,
                     map_flags, inner_map_fd, 0, name[:15])
    struct.pack_into("Q", attr, 64, map_extra)
    return bpf(BPF_MAP_CREATE, attr)


def unavailable() -> str | None:
    """Why bpf() cannot run map tests here, or None when it can."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return "bpf() is only wrapped for Linux on x86-64"
    fd = create_map(1, 4, 4, 1)
    if fd < 0:
        return f"bpf(BPF_MAP_CREATE) is not permitted here: {os.strerror(-fd)}"
    os.close(fd)
    return None


class KernelMap:
    """A kernel map, operated through bpf() with the same calling shape as
    the native store (values in user form: per-CPU values for every CPU)."""

    def __init__(self, fd: int, key_size: int, value_size: int, percpu: bool) -> None:
        self.fd = fd
        self.key_size = key_size
        self.user_value_size = (((value_size + 7) & ~7) * possible_cpus() if percpu
                                else value_size)
        self._attr = ctypes.create_string_buffer(ATTR_SIZE)
        self._key = ctypes.create_string_buffer(max(key_size, 1))
        self._val = ctypes.create_string_buffer(max(self.user_value_size, 1))

    @classmethod
    def create(cls, map_type: int, key_size: int, value_size: int, max_entries: int,
               map_flags: int = 0, map_extra: int = 0) -> KernelMap | int:
        fd = create_map(map_type, key_size, value_size, max_entries, map_flags,
                        map_extra=map_extra)
        if fd < 0:
            return fd
        return cls(fd, key_size, value_size, map_type in (5, 6, 10))

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> KernelMap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _elem(self, cmd: int, key: bytes | None, value: bytes | None, flags: int,
              out: ctypes.Array[ctypes.c_char] | None) -> int:
        a = self._attr
        ctypes.memset(a, 0, ATTR_SIZE)
        kbuf = None
        if key is not None:
            kbuf = self._key
            ctypes.memmove(kbuf, key, len(key))
        vbuf = out
        if value is not None:
            vbuf = self._val
            ctypes.memmove(vbuf, value, len(value))
        struct.pack_into("IIQQQ", a, 0, self.fd, 0, _addr(kbuf), _addr(vbuf), flags)
        return bpf(cmd, a)

    def lookup(self, key: bytes | None, flags: int = 0) -> tuple[int, bytes | None]:
        rc = self._elem(BPF_MAP_LOOKUP_ELEM, key, None, flags, self._val)
        return rc, (self._val.raw[:self.user_value_size] if rc == 0 else None)

    def bloom_peek(self, value: bytes, flags: int = 0) -> int:
        """BPF_MAP_LOOKUP_ELEM on a bloom filter: the value is the input."""
        return self._elem(BPF_MAP_LOOKUP_ELEM, None, value, flags, None)

    def update(self, key: bytes | None, value: bytes, flags: int = 0) -> int:
        return self._elem(BPF_MAP_UPDATE_ELEM, key, value, flags, None)

    def delete(self, key: bytes | None) -> int:
        return self._elem(BPF_MAP_DELETE_ELEM, key, None, 0, None)

    def lookup_and_delete(self, key: bytes | None, flags: int = 0) -> tuple[int, bytes | None]:
        rc = self._elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, key, None, flags, self._val)
        return rc, (self._val.raw[:self.user_value_size] if rc == 0 else None)

    def get_next_key(self, key: bytes | None) -> tuple[int, bytes | None]:
        nxt = ctypes.create_string_buffer(max(self.key_size, 1))
        rc = self._elem(BPF_MAP_GET_NEXT_KEY, key, None, 0, nxt)
        return rc, (nxt.raw[:self.key_size] if rc == 0 else None)

    def freeze(self) -> int:
        a = self._attr
        ctypes.memset(a, 0, ATTR_SIZE)
        struct.pack_into("I", a, 0, self.fd)
        return bpf(BPF_MAP_FREEZE, a)

    def lookup_batch(self, in_batch: bytes | None, count: int, elem_flags: int = 0,
                     delete: bool = False
                     ) -> tuple[int, bytes, list[bytes], list[bytes]]:
        """(rc, out_batch, keys, values), as the native ``lookup_batch``."""
        tok_in = ctypes.create_string_buffer(8)
        if in_batch is not None:
            ctypes.memmove(tok_in, in_batch, len(in_batch))
        tok_out = ctypes.create_string_buffer(8)
        keys = ctypes.create_string_buffer(max(count * self.key_size, 1))
        values = ctypes.create_string_buffer(max(count * self.user_value_size, 1))
        a = self._attr
        ctypes.memset(a, 0, ATTR_SIZE)
        struct.pack_into("QQQQIIQQ", a, 0, 0 if in_batch is None else _addr(tok_in),
                         _addr(tok_out), _addr(keys), _addr(values), count, self.fd,
                         elem_flags, 0)
        rc = bpf(BPF_MAP_LOOKUP_AND_DELETE_BATCH if delete else BPF_MAP_LOOKUP_BATCH, a)
        # count is only meaningful on success or at the end (ENOENT)
        got = struct.unpack_from("I", a, 32)[0] if rc in (0, -2) else 0
        ks, vs = self.key_size, self.user_value_size
        kraw, vraw = keys.raw, values.raw
        return (rc, tok_out.raw[:len(in_batch) if in_batch else 4],
                [kraw[i * ks:(i + 1) * ks] for i in range(got)],
                [vraw[i * vs:(i + 1) * vs] for i in range(got)])

    def _batch(self, cmd: int, keys: bytes, values: bytes | None, count: int,
               elem_flags: int) -> tuple[int, int]:
        kbuf = ctypes.create_string_buffer(keys, max(len(keys), 1))
        vbuf = ctypes.create_string_buffer(values, max(len(values), 1)) if values else None
        a = self._attr
        ctypes.memset(a, 0, ATTR_SIZE)
        struct.pack_into("QQQQIIQQ", a, 0, 0, 0, _addr(kbuf), _addr(vbuf), count, self.fd,
                         elem_flags, 0)
        rc = bpf(cmd, a)
        return rc, int(struct.unpack_from("I", a, 32)[0])

    def update_batch(self, keys: bytes, values: bytes, count: int,
                     elem_flags: int = 0) -> tuple[int, int]:
        return self._batch(BPF_MAP_UPDATE_BATCH, keys, values, count, elem_flags)

    def delete_batch(self, keys: bytes, count: int, elem_flags: int = 0) -> tuple[int, int]:
        return self._batch(BPF_MAP_DELETE_BATCH, keys, None, count, elem_flags)




def obj_get(path: str) -> int:
    """BPF_OBJ_GET: an fd of what is pinned at ``path``, or a negative errno."""
    name = ctypes.create_string_buffer(path.encode())
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into("Q", attr, 0, ctypes.addressof(name))
    return bpf(BPF_OBJ_GET, attr)


def prog_test_run(prog_fd: int, *, data_in: bytes | None = None, ctx_in: bytes | None = None,
                  repeat: int = 0, data_size_out: int = 0,
                  ctx_size_out: int = 0) -> tuple[int, int, bytes | None, bytes | None]:
    """BPF_PROG_TEST_RUN: (rc, retval, data_out, ctx_out) with rc 0 or a
    negative errno; an output is None when no buffer was asked for."""
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    din = ctypes.create_string_buffer(data_in, len(data_in)) if data_in else None
    cin = ctypes.create_string_buffer(ctx_in, len(ctx_in)) if ctx_in else None
    dout = ctypes.create_string_buffer(data_size_out) if data_size_out else None
    cout = ctypes.create_string_buffer(ctx_size_out) if ctx_size_out else None
    struct.pack_into("IIIIQQII", attr, 0, prog_fd, 0, len(data_in or b""), data_size_out,
                     _addr(din), _addr(dout), repeat, 0)
    struct.pack_into("IIQQ", attr, 40, len(ctx_in or b""), ctx_size_out, _addr(cin),
                     _addr(cout))
    rc = bpf(BPF_PROG_TEST_RUN, attr)
    retval, = struct.unpack_from("I", attr, 4)
    out_size, = struct.unpack_from("I", attr, 12)
    ctx_size, = struct.unpack_from("I", attr, 44)
    return (min(rc, 0), retval, dout.raw[:out_size] if dout is not None else None,
            cout.raw[:ctx_size] if cout is not None else None)
