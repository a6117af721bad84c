"""Atomic writes: the file appears whole with ordinary permissions, or not at all."""

import os

import pandas as pd
import pytest

from curator.io.tables import atomic_path, write_json, write_parquet


def test_written_files_get_ordinary_permissions(tmp_path):
    write_json({"a": 1}, tmp_path / "x.json")
    write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "x.parquet")
    umask = os.umask(0)
    os.umask(umask)
    for name in ("x.json", "x.parquet"):  # what open() would give, not mkstemp's private 0600
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_write_leaves_neither_target_nor_temporary(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
