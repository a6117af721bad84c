"""Hash stage: pHash, dHash and wHash of every readable image (once per distinct content)."""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator import artifacts
from curator.engine import run_sharded
from curator.features.hashes import HASH_KINDS, hash_bytes
from curator.io.tables import outputs_committed_together, write_parquet
from curator.io.uris import UriList, read_uri, root_key
from curator.params import Params
from curator.stages import read_contents, require_unchanged


def hash_uri(uri: str, max_image_pixels: int, decode_size: int) -> dict[str, Any]:
    data = read_uri(uri)
    codes = hash_bytes(data, max_image_pixels, decode_size)
    # stored as int64 bit patterns: parquet and Ray carry them exactly; uint64 again below
    return {
        kind: int(np.uint64(c).astype(np.int64)) for kind, c in zip(HASH_KINDS, codes, strict=True)
    } | {"content": hashlib.sha256(data).hexdigest()}


@outputs_committed_together()
def run(params: Params, data_dir: Path, audits_dir: Path) -> dict[str, Any]:
    audits = Path(audits_dir)
    contents = read_contents(audits)
    p = params.hash
    work = partial(
        hash_uri, max_image_pixels=params.ingest.max_image_pixels, decode_size=p.decode_size
    )
    uris = UriList(data_dir, contents["path"])
    key = f"hash|{root_key(data_dir)}|{params.ingest.max_image_pixels}|{p.decode_size}"
    ids = contents["sample_id"].tolist()
    codes, run = run_sharded(
        "hash",
        uris,
        work,
        params.engine,
        Path(params.engine.work_dir),
        key,
        lambda start, stop: ids[start:stop],
        p.workers,
    )
    if len(codes):
        require_unchanged(data_dir, contents["path"].tolist(), ids, codes["content"].tolist())
    table = pd.DataFrame({"sample_id": contents["sample_id"].astype("string")})
    for kind in HASH_KINDS:
        column = codes[kind].to_numpy(np.int64) if len(codes) else np.zeros(0, np.int64)
        table[kind] = column.view(np.uint64)
    write_parquet(table, audits / artifacts.HASHES)
    return {
        "n_hashed": len(table),
        "kinds": list(HASH_KINDS),
        "engine": run.engine,
        "shards": run.n_shards,
        "resumed_shards": run.n_resumed,
    }
