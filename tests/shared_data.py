"""Locating the third-party data in ../shared (or $LIBBPF_COMPAT_SHARED);
tests using it skip with a clear reason when it is absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from libbpf_compat.conformance import shared_dir

SHARED = shared_dir()
ABSENT = "is absent (set LIBBPF_COMPAT_SHARED to the shared/ folder to run this test)"


def shared_path(*parts: str) -> Path:
    """The path under the shared data, or skip the calling test."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"third-party data {path} {ABSENT}")
    return path


def shared_params(pattern: str, *parts: str) -> list[Any]:
    """Parameters for the matching files, or one skipped parameter saying why."""
    directory = SHARED.joinpath(*parts)
    files = sorted(directory.glob(pattern)) if directory.is_dir() else []
    if not files:
        reason = f"third-party data {directory}/{pattern} {ABSENT}"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(path, id=path.stem) for path in files]
