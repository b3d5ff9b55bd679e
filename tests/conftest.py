"""Shared fixtures. The real Dutch sample data lives in ../shared/data (read-only)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("TWEELING_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = data_dir()
    if not (path / "delft" / "delft.city.json").exists():
        # Never skip: CI must have the data beside the checkout.
        pytest.fail(f"sample data not found at {path} (set TWEELING_DATA)")
    return path
