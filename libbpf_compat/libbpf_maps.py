"""libbpf's map functions (bpf/bpf.h), name for name, over the native store.

File descriptors come from the project's own table (``mapstore.fd_table``);
``close(fd)`` stands for C's ``close(2)`` on such a descriptor (libbpf has no
map-specific close): the map is freed once no fd or loaded program refers to
it. C out-parameters become return values and negative errno returns become
``LibbpfError``:

- ``bpf_map_lookup_elem(fd, key)`` returns the value (bytes);
- ``bpf_map_get_next_key(fd, key)`` returns the next key, raising ENOENT
  after the last one, as libbpf returns -ENOENT;
- ``bpf_map_lookup_batch(fd, in_batch, count, opts)`` returns
  ``(out_batch, keys, values, count)`` with keys and values as C has them:
  flat bytes of ``count`` records (``mapstore.split_records`` makes lists);
  at the end of the map it returns what remains with ``out_batch`` None and
  raises ENOENT only when nothing remains. Pass ``out_batch`` back as the
  next ``in_batch``. ``bpf_map_update_batch`` / ``bpf_map_delete_batch``
  take flat buffers too, or lists.
- ``bpf_map_update_batch`` / ``bpf_map_delete_batch`` return the number of
  elements done; on an error they raise ``BatchError`` whose ``count`` is
  the number done before it.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Sequence
from dataclasses import dataclass

from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import BytesLike, NativeMap, create_map, fd_table, map_by_id
from libbpf_compat.mapstore import next_map_id as _next_map_id
from libbpf_compat.pinning import bpf_map_unpin, bpf_obj_get, bpf_obj_pin
from libbpf_compat.uapi import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_LOCK,
    BPF_F_NUMA_NODE,
    BPF_MAP_TYPE_BLOOM_FILTER,
    BPF_NOEXIST,
)

BPF_OBJ_NAME_LEN = 16
_NAME_OK = re.compile(r"[A-Za-z0-9_.]*")


@dataclass
class bpf_map_create_opts:  # libbpf's name
    """libbpf's ``struct bpf_map_create_opts``."""
    map_flags: int = 0
    numa_node: int = 0
    btf_fd: int = 0
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    btf_vmlinux_value_type_id: int = 0
    inner_map_fd: int = 0
    map_extra: int = 0
    map_ifindex: int = 0


@dataclass
class bpf_map_batch_opts:  # libbpf's name
    """libbpf's ``struct bpf_map_batch_opts``."""
    elem_flags: int = 0
    flags: int = 0


@dataclass
class bpf_map_info:  # libbpf's name
    """The fields of ``struct bpf_map_info`` this store fills in."""
    type: int = 0
    id: int = 0
    key_size: int = 0
    value_size: int = 0
    max_entries: int = 0
    map_flags: int = 0
    name: str = ""
    ifindex: int = 0
    btf_id: int = 0
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    btf_vmlinux_value_type_id: int = 0
    map_extra: int = 0


class BatchError(LibbpfError):
    """A batch update or delete stopped at an error; ``count`` elements were done."""

    def __init__(self, err: int, message: str, count: int) -> None:
        super().__init__(err, message)
        self.count = count


# Info the C store does not keep (BTF ids), per map id.
_btf_ids: dict[int, tuple[int, int, int]] = {}


def _map_name(map_name: str | bytes | None) -> str:
    if map_name is None:
        return ""
    name = map_name.decode("utf-8", "replace") if isinstance(map_name, bytes) else map_name
    name = name[:BPF_OBJ_NAME_LEN - 1]  # libbpf truncates, the kernel checks
    if not _NAME_OK.fullmatch(name):
        raise LibbpfError(errno.EINVAL, f"map name {name!r}: only letters, digits, '_' "
                                        f"and '.' are allowed")
    return name


def bpf_map_create(map_type: int, map_name: str | bytes | None, key_size: int,
                   value_size: int, max_entries: int,
                   opts: bpf_map_create_opts | None = None) -> int:
    """Create a map; returns its fd."""
    o = opts if opts is not None else bpf_map_create_opts()
    name = _map_name(map_name)
    if o.map_flags & BPF_F_NUMA_NODE and o.numa_node != 0:
        raise LibbpfError(errno.EINVAL, f"map '{name}': NUMA node {o.numa_node} does "
                                        f"not exist (only node 0)")
    m = create_map(map_type, name, key_size, value_size, max_entries, o.map_flags,
                   map_extra=o.map_extra, inner_map=o.inner_map_fd or None)
    if o.btf_key_type_id or o.btf_value_type_id or o.btf_vmlinux_value_type_id:
        _btf_ids[m.id] = (o.btf_key_type_id, o.btf_value_type_id,
                          o.btf_vmlinux_value_type_id)
    return fd_table.install(m)


def close(fd: int) -> None:
    """C's ``close(fd)`` for a descriptor of the project's table."""
    fd_table.close(fd)


_maps = fd_table.maps


def _absent(m: NativeMap, key: BytesLike | None) -> LibbpfError:
    what = "map is empty" if key is None else "no element for this key"
    return LibbpfError(errno.ENOENT, f"map '{m.name}': {what}")


def bpf_map_lookup_elem(fd: int, key: BytesLike | None,
                        value: BytesLike | None = None) -> bytes:
    """The value for key; ENOENT when absent. Queue or stack: key None peeks.
    Bloom filter: key None and ``value`` the value to test (C's in-out
    buffer): returns it when maybe present, ENOENT when certainly absent."""
    m = _maps.get(fd)  # the fast path; errors come from get_map
    if m is None:
        m = fd_table.get_map(fd)
    if value is not None and m.map_type == BPF_MAP_TYPE_BLOOM_FILTER:
        if not m.bloom_contains(value):
            raise LibbpfError(errno.ENOENT, f"map '{m.name}': value not in the filter")
        return bytes(memoryview(value))
    v = m.lookup(key, 0)
    if v is None:
        raise _absent(m, key)
    return v


def bpf_map_lookup_elem_flags(fd: int, key: BytesLike | None, flags: int) -> bytes:
    m = fd_table.get_map(fd)
    v = m.lookup(key, flags)
    if v is None:
        raise _absent(m, key)
    return v


def bpf_map_update_elem(fd: int, key: BytesLike | None, value: BytesLike | Sequence[BytesLike],
                        flags: int = BPF_ANY) -> None:
    m = _maps.get(fd)
    (m if m is not None else fd_table.get_map(fd)).update(key, value, flags)


def bpf_map_delete_elem(fd: int, key: BytesLike | None) -> None:
    fd_table.get_map(fd).delete(key)


def bpf_map_lookup_and_delete_elem(fd: int, key: BytesLike | None) -> bytes:
    """Take key's value out; queue or stack: key None pops."""
    return fd_table.get_map(fd).lookup_and_delete(key, 0)


def bpf_map_lookup_and_delete_elem_flags(fd: int, key: BytesLike | None, flags: int) -> bytes:
    return fd_table.get_map(fd).lookup_and_delete(key, flags)


def bpf_map_get_next_key(fd: int, key: BytesLike | None) -> bytes:
    """The key after ``key`` (the first for None or a missing key); ENOENT after the last."""
    m = fd_table.get_map(fd)
    nxt = m.get_next_key(key)
    if nxt is None:
        raise LibbpfError(errno.ENOENT, f"map '{m.name}': no key after this one")
    return nxt


def bpf_map_freeze(fd: int) -> None:
    fd_table.get_map(fd).freeze()


def _info(m: NativeMap) -> bpf_map_info:
    k, v, vm = _btf_ids.get(m.id, (0, 0, 0))
    return bpf_map_info(type=m.map_type, id=m.id, key_size=m.key_size,
                        value_size=m.value_size, max_entries=m.max_entries,
                        map_flags=m.map_flags, name=m.name, btf_key_type_id=k,
                        btf_value_type_id=v, btf_vmlinux_value_type_id=vm)


def bpf_map_get_info_by_fd(fd: int) -> bpf_map_info:
    return _info(fd_table.get_map(fd))


def bpf_obj_get_info_by_fd(fd: int) -> bpf_map_info:
    """For a map fd, the same as ``bpf_map_get_info_by_fd``."""
    return _info(fd_table.get_map(fd))


def bpf_map_get_next_id(start_id: int) -> int:
    """The next live map id above ``start_id``; ENOENT when there is none."""
    nxt = _next_map_id(start_id)
    if nxt is None:
        raise LibbpfError(errno.ENOENT, f"no map id after {start_id}")
    return nxt


def bpf_map_get_fd_by_id(map_id: int) -> int:
    """A new fd for the map with this id; ENOENT when there is none."""
    m = map_by_id(map_id)
    if m is None:
        raise LibbpfError(errno.ENOENT, f"no map with id {map_id}")
    return fd_table.install(m)


# ---- batches ----

def _batch_opts(m: NativeMap, opts: bpf_map_batch_opts | None, what: str) -> int:
    if opts is None:
        return 0
    if opts.flags:
        raise LibbpfError(errno.EINVAL, f"map '{m.name}': {what}: flags must be 0")
    return opts.elem_flags


def _lookup_batch(fd: int, in_batch: bytes | None, count: int,
                  opts: bpf_map_batch_opts | None, delete: bool
                  ) -> tuple[bytes | None, bytes, bytes, int]:
    m = fd_table.get_map(fd)
    what = "lookup_and_delete_batch" if delete else "lookup_batch"
    flags = _batch_opts(m, opts, what)
    if count == 0:
        m.lookup_batch_raw(in_batch, 0, flags, delete)  # still checks the arguments
        return in_batch, b"", b"", 0
    rc, out, keys, values, got = m.lookup_batch_raw(in_batch, count, flags, delete)
    if rc == 0:
        return out, keys, values, got
    if not got:
        raise LibbpfError(errno.ENOENT, f"map '{m.name}': {what}: no more elements")
    return None, keys, values, got


def bpf_map_lookup_batch(fd: int, in_batch: bytes | None, count: int,
                         opts: bpf_map_batch_opts | None = None
                         ) -> tuple[bytes | None, bytes, bytes, int]:
    """Up to ``count`` elements from ``in_batch`` (None: the start)."""
    return _lookup_batch(fd, in_batch, count, opts, False)


def bpf_map_lookup_and_delete_batch(fd: int, in_batch: bytes | None, count: int,
                                    opts: bpf_map_batch_opts | None = None
                                    ) -> tuple[bytes | None, bytes, bytes, int]:
    return _lookup_batch(fd, in_batch, count, opts, True)


def _seq(items: Sequence[BytesLike] | BytesLike, size: int, count: int) -> list[BytesLike]:
    """A list of ``count`` items, from a list or one flat bytes-like object."""
    if isinstance(items, (list, tuple)):
        return list(items[:count])
    flat = bytes(memoryview(items))  # type: ignore[arg-type]
    return [flat[i * size:(i + 1) * size] for i in range(count)]


def bpf_map_update_batch(fd: int, keys: Sequence[BytesLike] | BytesLike,
                         values: Sequence[BytesLike] | BytesLike, count: int,
                         opts: bpf_map_batch_opts | None = None) -> int:
    m = fd_table.get_map(fd)
    flags = _batch_opts(m, opts, "update_batch")
    ks, vs = _seq(keys, m.key_size, count), _seq(values, m.user_value_size, count)
    if len(ks) != count or len(vs) != count:
        raise LibbpfError(errno.EINVAL, f"map '{m.name}': update_batch: count {count} but "
                                        f"{len(ks)} keys and {len(vs)} values")
    rc, done = m.update_batch(ks, vs, flags)
    if rc:
        raise BatchError(-rc, str(m.error(rc, "update_batch").strerror), done)
    return done


def bpf_map_delete_batch(fd: int, keys: Sequence[BytesLike] | BytesLike, count: int,
                         opts: bpf_map_batch_opts | None = None) -> int:
    m = fd_table.get_map(fd)
    flags = _batch_opts(m, opts, "delete_batch")
    ks = _seq(keys, m.key_size, count)
    if len(ks) != count:
        raise LibbpfError(errno.EINVAL, f"map '{m.name}': delete_batch: count {count} but "
                                        f"{len(ks)} keys")
    rc, done = m.delete_batch(ks, flags)
    if rc:
        raise BatchError(-rc, str(m.error(rc, "delete_batch").strerror), done)
    return done


__all__ = [
    "BPF_ANY", "BPF_EXIST", "BPF_F_LOCK", "BPF_NOEXIST", "BatchError", "bpf_map_batch_opts",
    "bpf_map_create", "bpf_map_create_opts", "bpf_map_delete_batch", "bpf_map_delete_elem",
    "bpf_map_freeze", "bpf_map_get_fd_by_id", "bpf_map_get_info_by_fd",
    "bpf_map_get_next_id", "bpf_map_get_next_key", "bpf_map_info",
    "bpf_map_lookup_and_delete_batch", "bpf_map_lookup_and_delete_elem",
    "bpf_map_lookup_and_delete_elem_flags", "bpf_map_lookup_batch", "bpf_map_lookup_elem",
    "bpf_map_lookup_elem_flags", "bpf_map_unpin", "bpf_map_update_batch", "bpf_map_update_elem",
    "bpf_obj_get", "bpf_obj_get_info_by_fd", "bpf_obj_pin", "close",
]
