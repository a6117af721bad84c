"""Fixtures the review tests share."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def audits(audited_demo, tmp_path: Path) -> Path:
    """A copy of the audited demo's outputs this test may change."""
    _, source, _ = audited_demo
    copy = tmp_path / "audits"
    shutil.copytree(source, copy)
    return copy
