"""A content-addressed store of embeddings: (sample_id, embedder key) -> vector.

Vectors live in append-only shards under ``<cache_dir>/<embedder key>/``, so a re-run, or a
dataset that grew, embeds only images whose bytes were never embedded by the same model and
weights. Shards are written atomically; a torn write leaves no shard at all.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from curator.io.tables import atomic_path


class EmbeddingCache:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def load(self) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for shard in sorted(self.folder.glob("shard-*.npz")):
            with np.load(shard, allow_pickle=False) as data:
                found.update(zip(data["ids"].tolist(), data["vectors"], strict=True))
        return found

    def add(self, ids: list[str], vectors: np.ndarray) -> None:
        if not ids:
            return
        name = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
        with atomic_path(self.folder / f"shard-{name}.npz", now=True) as tmp, tmp.open("wb") as fh:
            np.savez(fh, ids=np.array(ids), vectors=vectors.astype(np.float32))
