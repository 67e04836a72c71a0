"""Shared fixtures: where the real scans are, and tiny volumes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    return Path(os.environ.get("RBL_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (read in place, never copied). CI sets RBL_REQUIRE_SHARED_DATA=1 so a
    missing folder fails the run instead of skipping the real-scan tests."""
    path = _shared_data_dir()
    if not (path / "totalseg-small" / "ct.nii.gz").exists():
        message = f"real test scans not found at {path} (set RBL_SHARED_DATA to their folder)"
        if os.environ.get("RBL_REQUIRE_SHARED_DATA"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def _private_case_cache(tmp_path_factory, monkeypatch):
    """Tests never touch the user's case cache."""
    monkeypatch.setenv("ROBUSTBENCH_LIVER_CACHE", str(tmp_path_factory.mktemp("case-cache")))
