"""Pinning maps: the pin root, libbpf's path rules, ``bpf_obj_pin`` /
``bpf_obj_get`` and the helpers the object layer builds ``bpf_map__pin`` /
``__unpin`` and ``LIBBPF_PIN_BY_NAME`` reuse on.

A pinned map is a file under the **pin root**, this project's stand-in for
bpffs: ``$LIBBPF_COMPAT_PIN_ROOT`` when set, else
``$XDG_RUNTIME_DIR/libbpf-compat/bpffs``, else ``libbpf-compat-<user>/bpffs``
in the temporary directory; directories this module creates are owner-only
(0700). Paths keep libbpf's form: ``/sys/fs/bpf/...`` names the pin root (the
host's real bpffs is never touched), and a path inside the pin root may also
be given as it is. A path elsewhere is ``EPERM`` (as the kernel refuses a pin
outside bpffs), one with a ``..`` component ``EINVAL``.

Pinning moves the map's memory into the file (see ``maps/README.md``), so any
process that opens the path maps the same memory: it sees and changes the
same data, and the map's locks and atomic operations hold across processes.
The file outlives the process that pinned it; unpinning removes the name and
the map lives on while some process still has it open.

>>> fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "cfg", 4, 8, 1)
>>> bpf_obj_pin(fd, "/sys/fs/bpf/cfg")        # the file <pin root>/cfg
>>> fd2 = bpf_obj_get("/sys/fs/bpf/cfg")      # here, or in another process
>>> bpf_map_unpin("/sys/fs/bpf/cfg")
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import struct
import tempfile
import threading
import weakref

from libbpf_compat._native import ffi, lib
from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import NativeMap, fd_table, num_possible_cpus
from libbpf_compat.uapi import BpfMapType

#: Environment variable naming the pin root.
PIN_ROOT_ENV = "LIBBPF_COMPAT_PIN_ROOT"
#: libbpf's default pin root; paths under it name this project's pin root.
LINUX_BPFFS = "/sys/fs/bpf"
#: The region header's first words (maps/map_internal.h): magic "LBCM" and
#: the on-disk format version this build reads and writes.
REGION_MAGIC = 0x4D43424C
FORMAT_VERSION = 1

_NAME_LEN = 15  # BPF_OBJ_NAME_LEN - 1
_lock = threading.Lock()
_tmp_seq = itertools.count()
# Maps this process pinned or opened, by the (device, inode) of their file:
# a second bpf_obj_get of the same file gives the same map (and map id), as
# on Linux. An entry lives as long as the map, which keeps the file open, so
# the inode number cannot be reused meanwhile.
_by_inode: weakref.WeakValueDictionary[tuple[int, int], NativeMap] = (
    weakref.WeakValueDictionary())
# The paths each map was pinned at by this process (for unpin_map).
_pinned_at: weakref.WeakKeyDictionary[NativeMap, set[str]] = weakref.WeakKeyDictionary()

_PathLike = str | bytes | os.PathLike[str] | os.PathLike[bytes]


def _user() -> str:
    getuid = getattr(os, "getuid", None)
    if getuid is not None:
        return str(getuid())
    import getpass
    return getpass.getuser()


def _mkdir_private(path: str) -> None:
    """Create one directory owner-only; an existing one must be ours."""
    try:
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # whatever the umask
    except FileExistsError:
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise LibbpfError(errno.ENOTDIR, f"pin root: {path} is not a directory") from None
        getuid = getattr(os, "getuid", None)
        if getuid is not None and st.st_uid != getuid():
            raise LibbpfError(errno.EPERM, f"pin root: {path} belongs to another user "
                                           f"(uid {st.st_uid})") from None


def pin_root(create: bool = True) -> str:
    """The pin root directory (absolute, no trailing separator); created
    owner-only when missing and ``create`` is true."""
    env = os.environ.get(PIN_ROOT_ENV)
    if env:
        root = os.path.abspath(env)
        base, added = os.path.dirname(root), [root]
    else:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        if xdg and os.path.isabs(xdg) and os.path.isdir(xdg):
            base = os.path.join(xdg, "libbpf-compat")
        else:
            base = os.path.join(tempfile.gettempdir(), f"libbpf-compat-{_user()}")
        root = os.path.join(base, "bpffs")
        added = [base, root]
        base = os.path.dirname(base)
    if create and not os.path.isdir(root):
        os.makedirs(base, exist_ok=True)
        for d in added:
            _mkdir_private(d)
    return root


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_pin_path(path: _PathLike, create_root: bool = True) -> str:
    """The file a libbpf pin path names: ``/sys/fs/bpf/a/b`` becomes
    ``<pin root>/a/b``; a path already inside the pin root stays as it is.
    EINVAL for an empty or relative path or one with ``..``; EPERM outside the
    pin root (symbolic links included)."""
    try:
        p = os.fsdecode(path)
    except TypeError:
        raise LibbpfError(errno.EINVAL, f"pin path must be a string, not "
                                        f"{type(path).__name__}") from None
    if not p or "\0" in p:
        raise LibbpfError(errno.EINVAL, f"bad pin path {p!r}")
    parts = p.replace("\\", "/").split("/")
    if ".." in parts:
        raise LibbpfError(errno.EINVAL, f"pin path {p!r}: '..' is not allowed")
    root = pin_root(create_root)
    if p == LINUX_BPFFS or p.startswith(LINUX_BPFFS + "/"):
        rest = [c for c in p[len(LINUX_BPFFS):].split("/") if c and c != "."]
        real = os.path.join(root, *rest) if rest else root
    elif os.path.isabs(p):
        real = os.path.normpath(p)
        if not _within(real, root):
            raise LibbpfError(errno.EPERM, f"pin path {p!r} is outside the pin root {root} "
                                           f"(and {LINUX_BPFFS})")
    else:
        raise LibbpfError(errno.EINVAL, f"pin path {p!r} is not absolute")
    # no symbolic link inside the root may lead out of it
    if (real != root and os.path.lexists(root)
            and not _within(os.path.realpath(os.path.dirname(real)), os.path.realpath(root))):
        raise LibbpfError(errno.EPERM, f"pin path {p!r} leads outside the pin root {root}")
    return real


def _native_error(rc: int, what: str, path: _PathLike) -> LibbpfError:
    err = -rc
    return LibbpfError(err, f"{what} {os.fsdecode(path)!r}: {os.strerror(err)}")


def _remember(m: NativeMap, real: str) -> None:
    st = os.stat(real)
    _by_inode[(st.st_dev, st.st_ino)] = m


def pin_map(m: NativeMap, path: _PathLike) -> None:
    """Pin ``m`` at ``path`` (libbpf's ``bpf_obj_pin`` on its fd). Missing
    parent directories inside the pin root are created (0700). EEXIST when
    the path exists, EOPNOTSUPP for map types that cannot be shared yet."""
    real = resolve_pin_path(path)
    parent = os.path.dirname(real)
    if os.path.lexists(real):
        raise LibbpfError(errno.EEXIST, f"pin {os.fsdecode(path)!r}: file exists")
    os.makedirs(parent, 0o700, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(real)}.{os.getpid()}.{next(_tmp_seq)}.tmp")
    with _lock:
        rc = lib.lbc_map_pin(m.ptr, os.fsencode(real), os.fsencode(tmp))
    if rc == -errno.EOPNOTSUPP:
        try:
            kind = BpfMapType(m.map_type).name
        except ValueError:
            kind = f"map type {m.map_type}"
        raise LibbpfError(errno.EOPNOTSUPP, f"pin {os.fsdecode(path)!r}: map '{m.name}': "
                                            f"{kind} maps cannot be pinned")
    if rc:
        raise _native_error(rc, f"pin map '{m.name}' at", path)
    _remember(m, real)
    _pinned_at.setdefault(m, set()).add(real)


def _why_not_a_map(real: str, path: _PathLike) -> LibbpfError:
    """The EINVAL for a file lbc_map_open_pinned refused, saying why."""
    shown = os.fsdecode(path)
    try:
        with open(real, "rb") as f:
            head = f.read(8)
    except OSError as e:
        return LibbpfError(e.errno or errno.EINVAL, f"open pinned {shown!r}: {e.strerror}")
    if len(head) < 8 or struct.unpack("=I", head[:4])[0] != REGION_MAGIC:
        return LibbpfError(errno.EINVAL, f"{shown!r} is not a pinned map (not a libbpf-compat "
                                         f"map file)")
    version = struct.unpack("=I", head[4:])[0]
    if version > FORMAT_VERSION:
        return LibbpfError(errno.EINVAL, f"{shown!r}: pinned map format version {version} is "
                                         f"newer than this build's ({FORMAT_VERSION})")
    if version != FORMAT_VERSION:
        return LibbpfError(errno.EINVAL, f"{shown!r}: pinned map format version {version} is "
                                         f"not supported (this build reads {FORMAT_VERSION})")
    return LibbpfError(errno.EINVAL, f"{shown!r}: pinned map header is inconsistent (size, "
                                     f"shape or CPU count)")


def open_pinned(path: _PathLike) -> NativeMap:
    """The map pinned at ``path`` (libbpf's ``bpf_obj_get`` without the fd).
    ENOENT when nothing is pinned there; EINVAL for a file that is not a
    pinned map, has a newer format version or an inconsistent header."""
    real = resolve_pin_path(path)
    shown = os.fsdecode(path)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise LibbpfError(errno.ENOENT, f"no pinned object at {shown!r}") from None
    except NotADirectoryError:
        raise LibbpfError(errno.ENOTDIR, f"no pinned object at {shown!r}: a parent is not "
                                         f"a directory") from None
    if not stat.S_ISREG(st.st_mode):
        raise LibbpfError(errno.EPERM, f"{shown!r} is a directory, not a pinned object"
                          if stat.S_ISDIR(st.st_mode) else f"{shown!r} is not a pinned object")
    with _lock:
        known = _by_inode.get((st.st_dev, st.st_ino))
        if known is not None:
            return known
        out = ffi.new("lbc_map **")
        rc = lib.lbc_map_open_pinned(os.fsencode(real), out)
        if rc == -errno.EINVAL:
            raise _why_not_a_map(real, path)
        if rc == -errno.EOPNOTSUPP:
            raise LibbpfError(errno.EINVAL, f"{shown!r}: this map type cannot be opened "
                                            f"from a pin")
        if rc:
            raise _native_error(rc, "open pinned", path)
        ptr = ffi.gc(out[0], lib.lbc_map_free)
        attr = ffi.new("lbc_map_attr *")
        lib.lbc_map_get_attr(ptr, attr)
        m = NativeMap(ptr, int(attr.map_type), os.path.basename(real)[:_NAME_LEN],
                      int(attr.key_size), int(attr.value_size), int(attr.max_entries),
                      int(attr.map_flags), int(attr.spin_lock_off))
        _by_inode[(st.st_dev, st.st_ino)] = m
        return m


def unpin_path(path: _PathLike) -> None:
    """Remove the pin at ``path`` (``unlink``): maps still open anywhere stay
    usable. ENOENT when nothing is pinned there."""
    real = resolve_pin_path(path)
    shown = os.fsdecode(path)
    try:
        st = os.lstat(real)
    except FileNotFoundError:
        raise LibbpfError(errno.ENOENT, f"unpin {shown!r}: nothing is pinned there") from None
    if stat.S_ISDIR(st.st_mode):
        raise LibbpfError(errno.EPERM, f"unpin {shown!r}: is a directory")
    os.unlink(real)
    for paths in list(_pinned_at.values()):
        paths.discard(real)


def unpin_map(m: NativeMap, path: _PathLike | None = None) -> None:
    """libbpf's ``bpf_map__unpin``: remove the pin at ``path``, or with None
    every pin this process made of ``m`` (ENOENT when there is none)."""
    if path is not None:
        unpin_path(path)
        return
    paths = sorted(_pinned_at.get(m, ()))
    if not paths:
        raise LibbpfError(errno.ENOENT, f"map '{m.name}' is not pinned by this process")
    for p in paths:
        if os.path.lexists(p):
            unpin_path(p)
    _pinned_at.pop(m, None)


def pinned_paths(m: NativeMap) -> list[str]:
    """The files this process pinned ``m`` at and has not unpinned."""
    return sorted(_pinned_at.get(m, ()))


def pin_path_for(map_name: str, pin_root_path: str | None = None) -> str:
    """libbpf's ``LIBBPF_PIN_BY_NAME`` path: ``<pin_root_path>/<map name>``,
    ``/sys/fs/bpf`` when no ``pin_root_path`` is given. ENAMETOOLONG past
    PATH_MAX, EINVAL for a name with '/' or one that is empty, '.' or '..'."""
    if not map_name or "/" in map_name or map_name in (".", ".."):
        raise LibbpfError(errno.EINVAL, f"map name {map_name!r} cannot name a pin")
    path = f"{(pin_root_path or LINUX_BPFFS).rstrip('/')}/{map_name}"
    if len(os.fsencode(path)) >= 4096:
        raise LibbpfError(errno.ENAMETOOLONG, f"pin path for map '{map_name}' is too long")
    return path


def open_pinned_if_compatible(path: _PathLike, map_type: int, key_size: int, value_size: int,
                              max_entries: int, map_flags: int,
                              map_extra: int = 0) -> NativeMap | None:
    """``LIBBPF_PIN_BY_NAME`` reuse: the map pinned at ``path`` when its shape
    matches (libbpf's reuse check: type, key and value size, max_entries,
    flags, map_extra), None when nothing is pinned there; EINVAL naming the
    differences when the pinned map does not match."""
    real = resolve_pin_path(path)
    if not os.path.lexists(real):
        return None
    m = open_pinned(path)
    want_max = {max_entries}
    lru = (BpfMapType.BPF_MAP_TYPE_LRU_HASH, BpfMapType.BPF_MAP_TYPE_LRU_PERCPU_HASH)
    if map_type in lru and map_flags & 2:  # BPF_F_NO_COMMON_LRU rounds to the CPU count
        c = num_possible_cpus()
        want_max.add(-(-max_entries // c) * c)
    attr = ffi.new("lbc_map_attr *")
    lib.lbc_map_get_attr(m.ptr, attr)
    diffs = [f"{field} {got} (pinned) != {want}"
             for field, got, want in (("map_type", m.map_type, map_type),
                                      ("key_size", m.key_size, key_size),
                                      ("value_size", m.value_size, value_size),
                                      ("map_flags", m.map_flags, map_flags),
                                      ("map_extra", int(attr.map_extra), map_extra))
             if got != want]
    if m.max_entries not in want_max:
        diffs.append(f"max_entries {m.max_entries} (pinned) != {max_entries}")
    if diffs:
        raise LibbpfError(errno.EINVAL, f"pinned map at {os.fsdecode(path)!r} cannot be "
                                        f"reused: " + ", ".join(diffs))
    return m


# ---- the libbpf mirror ----

def bpf_obj_pin(fd: int, pathname: _PathLike) -> None:
    """libbpf's ``bpf_obj_pin``: pin the map behind ``fd`` at ``pathname``."""
    pin_map(fd_table.get_map(fd), pathname)


def bpf_obj_get(pathname: _PathLike) -> int:
    """libbpf's ``bpf_obj_get``: a new fd on the object pinned at ``pathname``."""
    return fd_table.install(open_pinned(pathname))


def bpf_map_unpin(fd_or_path: int | _PathLike) -> None:
    """Unpin: a path removes that pin (C's ``unlink``); a map fd removes every
    pin this process made of that map."""
    if isinstance(fd_or_path, int):
        unpin_map(fd_table.get_map(fd_or_path))
    else:
        unpin_path(fd_or_path)


__all__ = ["FORMAT_VERSION", "LINUX_BPFFS", "PIN_ROOT_ENV", "REGION_MAGIC", "bpf_map_unpin",
           "bpf_obj_get", "bpf_obj_pin", "open_pinned", "open_pinned_if_compatible",
           "pin_map", "pin_path_for", "pin_root", "pinned_paths", "resolve_pin_path", "unpin_map",
           "unpin_path"]
