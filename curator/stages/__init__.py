"""One module per dvc.yaml stage; each exposes ``run(params, paths...)``. Helpers shared by
several stages (reading common inputs, writing check outputs) live here."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator import __version__, artifacts
from curator.checks.base import CheckResult
from curator.engine import ShardRun, run_sharded
from curator.errors import DataError
from curator.io.tables import read_parquet, write_json, write_parquet
from curator.io.uris import UriList, read_uri, root_key
from curator.params import Params


def unique_contents(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct readable content (sample_id), at its first path."""
    readable = manifest[manifest["readable"]]
    return readable.drop_duplicates("sample_id").reset_index(drop=True)


def read_contents(audits: Path) -> pd.DataFrame:
    """``unique_contents`` of the manifest, reading only the three columns it needs (the
    per-file stages stay small at millions of files)."""
    columns = ["sample_id", "path", "readable"]
    return unique_contents(read_parquet(audits / artifacts.MANIFEST, "curator ingest", columns))


def _measure_uri(uri: str, measure: Callable[[bytes], dict[str, Any]]) -> dict[str, Any]:
    data = read_uri(uri)
    return measure(data) | {"content": hashlib.sha256(data).hexdigest()}


def measure_contents(
    stage: str,
    params: Params,
    data_dir: Path | str,
    contents: pd.DataFrame,
    measure: Callable[[bytes], dict[str, Any]],
    key: str,
    workers: int,
) -> tuple[pd.DataFrame, ShardRun]:
    """``measure(bytes)`` of every distinct content (``read_contents``), in order: sharded and
    resumable, shards named by the contents' sample_ids, and refused for a file whose bytes no
    longer match its sample_id. ``measure`` must be picklable; ``key`` names what else changes
    the rows (params)."""
    ids = contents["sample_id"].tolist()
    rows, run = run_sharded(
        stage,
        UriList(data_dir, contents["path"]),
        partial(_measure_uri, measure=measure),
        params.engine,
        Path(params.engine.work_dir),
        f"{stage}|{root_key(data_dir)}|{key}",
        lambda start, stop: ids[start:stop],
        workers,
    )
    if len(rows):
        require_unchanged(data_dir, contents["path"].tolist(), ids, rows["content"].tolist())
    return rows, run


def require_unchanged(
    data_dir: Path | str, paths: Sequence[str], expected: Sequence[str], found: Sequence[str]
) -> None:
    """Refuse results for files whose bytes (``found``: SHA-256) no longer match the sample_id
    ingest gave them (``expected``): they would be filed, and cached, under the old content."""
    changed = [p for p, e, f in zip(paths, expected, found, strict=True) if e != f]
    if changed:
        raise DataError(
            f"{len(changed)} file(s) changed since ingest read them, e.g. {data_dir}/"
            f"{changed[0]}: run `curator ingest` again (or `dvc repro`), then this stage."
        )


def load_embeddings(audits: Path) -> tuple[list[str], np.ndarray]:
    """The embed stage's output: (sample_ids, vectors), row i of vectors belonging to id i."""
    ids = read_parquet(audits / artifacts.EMBED_IDS, "curator embed")["sample_id"].tolist()
    return ids, np.load(audits / artifacts.EMBED_VECTORS)


def embeddings_of(audits: Path, sample_ids: pd.Series) -> np.ndarray:
    """The embedding of each given sample_id, in order (rows of the embed stage's output)."""
    ids, vectors = load_embeddings(audits)
    return vectors[sample_ids.map({s: k for k, s in enumerate(ids)}).to_numpy()]


def write_check_result(result: CheckResult, audits: Path, stage: str) -> None:
    """The three outputs every checking stage writes, named by the stage: findings/<stage>.parquet,
    <stage>.json (summary + params) and metrics/<stage>.json."""
    write_parquet(result.flags, audits / artifacts.findings(stage))
    write_json(
        result.summary | {"params": result.params, "curator_version": __version__},
        audits / artifacts.summary(stage),
    )
    write_json(result.metrics, audits / artifacts.metrics(stage))
