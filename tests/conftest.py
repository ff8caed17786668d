"""Fixtures shared by the test modules: the JIT switch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from libbpf_compat.vm import JIT_ENV


@pytest.fixture
def jit_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The JIT as the test asks for it, whatever LIBBPF_COMPAT_JIT says."""
    monkeypatch.delenv(JIT_ENV, raising=False)
    yield


@pytest.fixture(scope="module", params=["interpreter", "jit"])
def vm_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a module's tests twice: every Vm made in them interprets, then
    every Vm is translated to machine code (LIBBPF_COMPAT_JIT=0 / 1; runs
    with bounds checks, a budget or counting interpret either way)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(JIT_ENV, "1" if request.param == "jit" else "0")
        yield str(request.param)
