"""The example tools of the repository's ``examples/`` directory, found
from the package: ``python -m libbpf_compat`` runs the XDP firewall on its
shipped capture, ``python -m libbpf_compat example NAME [ARGS]`` any of them.

The examples live beside the package in the source tree (each is a BPF C
source, its committed builds and a Python front end), not inside it: an
editable install (``pip install -e .``) imports the package from the clone,
so ``examples/`` is the package directory's sibling. A wheel does not carry
them; :func:`examples_dir` then says where to get them, and
``$LIBBPF_COMPAT_EXAMPLES`` can point at a copy.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from libbpf_compat.errors import LibbpfError

#: Example name -> its front end, relative to the examples directory.
EXAMPLES = {
    "xdp_firewall": "xdp_firewall/firewall.py",
    "connect4_redirector": "connect4_redirector/redirector.py",
    "bind_port_quota": "bind_port_quota/port_quota.py",
    "process_monitor": "process_monitor/procmon.py",
}
MAIN_EXAMPLE = "xdp_firewall"


def examples_dir() -> Path:
    """The examples directory: ``$LIBBPF_COMPAT_EXAMPLES``, else the
    ``examples/`` beside the package (a clone, or an editable install)."""
    override = os.environ.get("LIBBPF_COMPAT_EXAMPLES")
    path = Path(override) if override else Path(__file__).resolve().parent.parent / "examples"
    if not (path / EXAMPLES[MAIN_EXAMPLE]).is_file():
        raise LibbpfError(errno.ENOENT, f"the example tools are not in {path}: they come with "
                                        "the source tree (install it with pip install -e .), "
                                        "or set LIBBPF_COMPAT_EXAMPLES to a copy of examples/")
    return path


def load(name: str) -> ModuleType:
    """The front end module of example ``name`` (imported once)."""
    if name not in EXAMPLES:
        raise LibbpfError(errno.EINVAL, f"no example {name!r} (there are: "
                                        f"{', '.join(sorted(EXAMPLES))})")
    module_name = f"libbpf_compat_examples.{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = examples_dir() / EXAMPLES[name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise LibbpfError(errno.ENOENT, f"example {name!r}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while it runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def run(name: str, argv: list[str]) -> int:
    """Run example ``name``'s ``main(argv)``; its exit status."""
    status = load(name).main(argv)
    return int(status)


__all__ = ["EXAMPLES", "MAIN_EXAMPLE", "examples_dir", "load", "run"]
