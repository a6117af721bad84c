"""Atomic writes: the file appears whole with ordinary permissions, or not at all."""

import errno
import json
import os

import pandas as pd
import pyarrow.parquet as pq
import pytest

from curator.errors import OutputError
from curator.io.tables import atomic_path, outputs_committed_together, write_json, write_parquet


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


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_full_or_read_only_disk_is_one_clear_error_and_keeps_the_old_output(
    tmp_path, monkeypatch, code
):
    target = tmp_path / "summary.json"
    write_json({"old": 1}, target)

    def fail(*args, **kw):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(pq, "write_table", fail)
    with pytest.raises(
        OutputError, match=rf"cannot write {tmp_path}/t.parquet: {os.strerror(code)}"
    ):
        write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    monkeypatch.setattr("pathlib.Path.write_text", fail)
    with pytest.raises(OutputError, match="earlier outputs are kept as they were"):
        write_json({"new": 2}, target)
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"old": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_other_os_errors_are_not_disguised(tmp_path):
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "x"):
        raise FileNotFoundError(errno.ENOENT, "a missing input, not an output problem")


def test_outputs_committed_together_land_all_or_none(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "sub" / "b.parquet"
    write_json({"v": "old"}, a)
    with pytest.raises(RuntimeError), outputs_committed_together():
        write_json({"v": "new"}, a)
        assert json.loads(a.read_text()) == {"v": "old"}  # not yet renamed into place
        write_parquet(pd.DataFrame({"x": [1]}), b)
        raise RuntimeError("the stage fails before its last output")
    assert json.loads(a.read_text()) == {"v": "old"} and not b.exists()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.json"]

    with outputs_committed_together():
        write_json({"v": "new"}, a)
        with outputs_committed_together():  # a nested block joins the outer one
            write_parquet(pd.DataFrame({"x": [1]}), b)
        assert not b.exists()
        write_parquet(pd.DataFrame({"x": [2]}), tmp_path / "now.parquet", now=True)
        assert (tmp_path / "now.parquet").exists()  # resume shards land at once
    assert json.loads(a.read_text()) == {"v": "new"} and pd.read_parquet(b)["x"].tolist() == [1]
