"""Embed stage: one L2-normalised vector per distinct readable image, cached by content.

Writes ``embeddings/vectors.npy`` + ``embeddings/ids.parquet`` (row i is sample_id i) and
``embed.json``, which records exactly which model and weights, or which fallback and why.
"""

from __future__ import annotations

import hashlib
import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator import __version__, artifacts
from curator.engine import embed_open_clip_ray, ray_map
from curator.features.embeddings import (
    Embedder,
    embed_open_clip,
    fallback_file,
    resolve_embedder,
)
from curator.io.embedding_cache import EmbeddingCache
from curator.io.parallel import parallel_map
from curator.io.tables import atomic_path, outputs_committed_together, write_json, write_parquet
from curator.io.uris import join_uri, read_uri
from curator.params import Params
from curator.stages import read_contents, require_unchanged

log = logging.getLogger(__name__)


def fallback_uri(uri: str, name: str, size: int, max_image_pixels: int) -> dict[str, list]:
    return {"vector": fallback_file(uri, name, size, max_image_pixels).tolist()}


def compute(embedder: Embedder, uris: list[str], params: Params) -> tuple[np.ndarray, dict]:
    """Embed ``uris`` with the resolved embedder on the configured engine; (vectors, facts)."""
    max_pixels = params.ingest.max_image_pixels
    start = time.perf_counter()
    if embedder.backend == "open_clip":
        if params.engine.name == "ray":
            vectors = embed_open_clip_ray(embedder, uris, params)
            facts = {"device": "ray actors", "precision": params.embed.precision}
        else:
            return embed_open_clip(embedder, uris, params.embed, max_pixels)
    else:
        name = embedder.backend.removeprefix("fallback:")
        work = partial(
            fallback_uri, name=name, size=params.embed.fallback_size, max_image_pixels=max_pixels
        )
        if params.engine.name == "ray":
            rows = ray_map(work, uris, params.engine)
        else:
            rows = parallel_map(work, uris, params.embed.workers, f"embed: {name}")
        vectors = np.asarray([r["vector"] for r in rows], dtype=np.float32).reshape(len(uris), -1)
        facts = {"device": "cpu", "precision": "fp32"}
    return vectors, facts | {"images_per_second": len(uris) / (time.perf_counter() - start)}


@outputs_committed_together()
def run(params: Params, data_dir: Path, audits_dir: Path) -> dict[str, Any]:
    audits = Path(audits_dir)
    contents = read_contents(audits)
    embedder = resolve_embedder(params.embed)
    if embedder.reason:
        log.warning("embed: %s", embedder.reason)
    cache = EmbeddingCache(Path(params.embed.cache_dir) / embedder.key)
    known = cache.load()
    ids = contents["sample_id"].tolist()
    todo = [i for i, sid in enumerate(ids) if sid not in known]
    facts: dict[str, Any] = {"device": None, "precision": None, "images_per_second": None}
    # Shard by shard into the content-addressed cache: a killed run resumes where it stopped.
    for start in range(0, len(todo), params.engine.shard_size):
        chunk = todo[start : start + params.engine.shard_size]
        uris = [join_uri(data_dir, contents.at[i, "path"]) for i in chunk]
        vectors, facts = compute(embedder, uris, params)
        found = [hashlib.sha256(read_uri(u)).hexdigest() for u in uris]
        require_unchanged(
            data_dir, contents["path"][chunk].tolist(), [ids[i] for i in chunk], found
        )
        cache.add([ids[i] for i in chunk], vectors)
        known.update(zip((ids[i] for i in chunk), vectors, strict=True))
    dim = len(next(iter(known.values()))) if known else 0
    matrix = np.stack([known[sid] for sid in ids]) if ids else np.zeros((0, dim), np.float32)
    with atomic_path(audits / artifacts.EMBED_VECTORS) as tmp, tmp.open("wb") as fh:
        np.save(fh, matrix.astype(np.float32))
    write_parquet(pd.DataFrame({"sample_id": ids}, dtype="string"), audits / artifacts.EMBED_IDS)
    summary = embedder.record() | {"n_vectors": len(ids), "dim": dim, "params": vars(params.embed)}
    summary["curator_version"] = __version__
    write_json(summary, audits / artifacts.EMBED_SUMMARY)
    return summary | {"n_embedded_now": len(todo), "n_from_cache": len(ids) - len(todo)} | facts
