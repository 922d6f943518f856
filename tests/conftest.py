"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from einnas.benchmark_data import benchmark_dir_or_none


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The tabular benchmark folder; tests that use it skip cleanly when it is absent."""
    folder = benchmark_dir_or_none()
    if folder is None:
        pytest.skip(
            "benchmark data folder not found (set EINNAS_BENCHMARK_DIR or provide ../shared/data)"
        )
    return folder
