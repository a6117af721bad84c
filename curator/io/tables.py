"""Atomic writes of parquet tables and JSON documents.

A stage that dies halfway must never leave a half-written output that a later stage (or DVC)
takes for a good one: everything is written to a temporary file beside the target and renamed
into place, which is atomic on POSIX filesystems.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator import __version__
from curator.errors import MissingArtifactError, OutputError

_CANNOT_WRITE = {
    errno.ENOSPC: "Free disk space (or write --audits, --reports to a bigger disk) and re-run",
    errno.EDQUOT: "Free space within your quota, or write the outputs elsewhere, and re-run",
    errno.EROFS: "The filesystem is read-only: write --audits, --reports elsewhere",
    errno.EACCES: "Make the folder writable for this user, or write the outputs elsewhere",
    errno.EPERM: "Make the folder writable for this user, or write the outputs elsewhere",
}
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    The file gets the usual permissions (0666 minus the umask), not mkstemp's private 0600.
    A full disk or a read-only folder is one clear error; the old ``target`` stays as it was."""
    target = Path(target)
    tmp_path = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        tmp_path.chmod(0o666 & ~_UMASK)
        os.replace(tmp_path, target)
    except OSError as exc:
        if exc.errno not in _CANNOT_WRITE:
            raise
        raise OutputError(
            f"cannot write {target}: {exc.strerror}. {_CANNOT_WRITE[exc.errno]} "
            "(earlier outputs are kept as they were)."
        ) from exc
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)


def require_writable(folder: Path) -> None:
    """Create ``folder`` and a file in it, or raise the same OutputError a late write would."""
    with atomic_path(Path(folder) / ".curator-write-check") as tmp:
        tmp.write_bytes(b"")
    (Path(folder) / ".curator-write-check").unlink()


def write_parquet(df: pd.DataFrame, target: Path) -> None:
    """Every table records the curator version that wrote it (parquet schema metadata): a
    pipeline outside curator's repository does not depend on its source files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    stamp = {b"curator_version": __version__.encode()}
    with atomic_path(target) as tmp:
        pq.write_table(table.replace_schema_metadata((table.schema.metadata or {}) | stamp), tmp)


def write_csv(df: pd.DataFrame, target: Path) -> None:
    with atomic_path(target) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")


def read_parquet(path: Path, produced_by: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a stage output (only ``columns`` if given), or say which command makes it."""
    path = Path(path)
    if not path.exists():
        raise MissingArtifactError(
            f"{path} does not exist: run `{produced_by}` first (or `dvc repro`)."
        )
    return pd.read_parquet(path, columns=columns)


def to_jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars and containers to plain JSON types (NaN becomes null)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    return value


def write_json(doc: dict[str, Any], target: Path) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(to_jsonable(doc), indent=2, sort_keys=False) + "\n")


def read_json(path: Path, produced_by: str) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise MissingArtifactError(
            f"{path} does not exist: run `{produced_by}` first (or `dvc repro`)."
        )
    return json.loads(path.read_text())
