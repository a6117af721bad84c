"""Atomic writes of parquet tables and JSON documents.

A stage that dies halfway must never leave a half-written output that a later stage (or DVC)
takes for a good one: everything is written to a temporary file beside the target and renamed
into place, which is atomic on POSIX filesystems. Inside ``outputs_committed_together`` (every
stage's ``run``) the renames wait until the stage has written everything, so a failure between
two outputs leaves all the old ones, never a new manifest beside an old summary.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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


# (temporary file, target) renames waiting for the end of an outputs_committed_together block
_PENDING: ContextVar[list[tuple[Path, Path]] | None] = ContextVar("pending", default=None)


def _output_error(target: Path, exc: OSError) -> OSError | OutputError:
    if exc.errno not in _CANNOT_WRITE:
        return exc
    return OutputError(
        f"cannot write {target}: {exc.strerror}. {_CANNOT_WRITE[exc.errno]} "
        "(earlier outputs are kept as they were)."
    )


@contextmanager
def atomic_path(target: Path, now: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success (at the
    end of the enclosing ``outputs_committed_together`` block, unless ``now``: resume shards
    and caches must land at once).

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
        pending = _PENDING.get()
        if pending is None or now:
            os.replace(tmp_path, target)
        else:
            pending.append((tmp_path, target))
            tmp_path = None  # renamed (or removed) when the block ends
    except OSError as exc:
        error = _output_error(target, exc)
        if error is exc:
            raise
        raise error from exc
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)


@contextmanager
def outputs_committed_together() -> Iterator[None]:
    """Defer every ``atomic_path`` rename inside the block to its end: all outputs land, or
    (on any exception) none does and the temporary files are removed. Nested blocks join the
    outermost. Usable as a decorator."""
    if _PENDING.get() is not None:
        yield
        return
    pending: list[tuple[Path, Path]] = []
    token = _PENDING.set(pending)
    try:
        yield
    except BaseException:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        _PENDING.reset(token)
    for tmp, target in pending:
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise _output_error(target, exc) from exc


def require_writable(folder: Path) -> None:
    """Create ``folder`` and a file in it, or raise the same OutputError a late write would."""
    with atomic_path(Path(folder) / ".curator-write-check", now=True) as tmp:
        tmp.write_bytes(b"")
    (Path(folder) / ".curator-write-check").unlink()


def write_parquet(df: pd.DataFrame, target: Path, now: bool = False) -> None:
    """Every table records the curator version that wrote it (parquet schema metadata): a
    pipeline outside curator's repository does not depend on its source files. ``now``: see
    ``atomic_path``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    stamp = {b"curator_version": __version__.encode()}
    with atomic_path(target, now) as tmp:
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


def cluster_of_path(pairs: pd.DataFrame) -> pd.Series:
    """path -> cluster_id for every path in a duplicates.parquet table."""
    sides = [pairs[[f"path_{s}", "cluster_id"]].set_axis(["path", "c"], axis=1) for s in "ab"]
    return pd.concat(sides).drop_duplicates("path").set_index("path")["c"]


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
