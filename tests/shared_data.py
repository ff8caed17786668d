"""Locating the third-party data in ../shared; tests using it skip with a
clear reason when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from libbpf_compat.conformance import shared_dir


def shared_path(*parts: str) -> Path:
    """The path under the shared data, or skip the calling test."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"third-party data not present: {path} (set LIBBPF_COMPAT_SHARED to "
                    "the shared/ folder to run this test)")
    return path


def shared_files(pattern: str, *parts: str) -> list[Path]:
    """Files for parametrizing at collection time; empty when absent."""
    path = shared_dir().joinpath(*parts)
    return sorted(path.glob(pattern)) if path.exists() else []
