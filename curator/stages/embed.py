"""Embed stage: one L2-normalised vector per distinct readable image, cached by content.

Writes ``embeddings/vectors.npy`` + ``embeddings/ids.parquet`` (row i is sample_id i) and
``embed.json``, which records exactly which model and weights, or which fallback and why.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator import artifacts
from curator.features.embeddings import (
    Embedder,
    embed_open_clip,
    fallback_file,
    resolve_embedder,
)
from curator.io.embedding_cache import EmbeddingCache
from curator.io.parallel import parallel_map
from curator.io.tables import atomic_path, read_parquet, write_json, write_parquet
from curator.params import Params
from curator.stages import unique_contents

log = logging.getLogger(__name__)


def compute(embedder: Embedder, paths: list[Path], params: Params) -> tuple[np.ndarray, dict]:
    """Embed ``paths`` with the resolved embedder; returns (vectors, run facts)."""
    max_pixels = params.ingest.max_image_pixels
    if embedder.backend == "open_clip":
        return embed_open_clip(embedder, paths, params.embed, max_pixels)
    name = embedder.backend.removeprefix("fallback:")
    work = partial(
        fallback_file, name=name, size=params.embed.fallback_size, max_image_pixels=max_pixels
    )
    start = time.perf_counter()
    rows = parallel_map(work, paths, params.embed.workers, f"embed: {name}")
    rate = len(paths) / (time.perf_counter() - start)
    vectors = np.asarray(rows, dtype=np.float32).reshape(len(paths), -1)
    return vectors, {"device": "cpu", "precision": "fp32", "images_per_second": rate}


def run(params: Params, data_dir: Path, audits_dir: Path) -> dict[str, Any]:
    audits = Path(audits_dir)
    contents = unique_contents(read_parquet(audits / artifacts.MANIFEST, "curator ingest"))
    embedder = resolve_embedder(params.embed)
    if embedder.reason:
        log.warning("embed: %s", embedder.reason)
    cache = EmbeddingCache(Path(params.embed.cache_dir) / embedder.key)
    known = cache.load()
    ids = contents["sample_id"].tolist()
    todo = [i for i, sid in enumerate(ids) if sid not in known]
    facts: dict[str, Any] = {"device": None, "precision": None, "images_per_second": None}
    if todo:
        vectors, facts = compute(
            embedder, [Path(data_dir) / contents.at[i, "path"] for i in todo], params
        )
        cache.add([ids[i] for i in todo], vectors)
        known.update(zip((ids[i] for i in todo), vectors, strict=True))
    dim = len(next(iter(known.values()))) if known else 0
    matrix = np.stack([known[sid] for sid in ids]) if ids else np.zeros((0, dim), np.float32)
    with atomic_path(audits / artifacts.EMBED_VECTORS) as tmp, tmp.open("wb") as fh:
        np.save(fh, matrix.astype(np.float32))
    write_parquet(pd.DataFrame({"sample_id": ids}, dtype="string"), audits / artifacts.EMBED_IDS)
    summary = embedder.record() | {"n_vectors": len(ids), "dim": dim, "params": vars(params.embed)}
    write_json(summary, audits / artifacts.EMBED_SUMMARY)
    return summary | {"n_embedded_now": len(todo), "n_from_cache": len(ids) - len(todo)} | facts
