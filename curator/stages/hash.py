"""Hash stage: pHash, dHash, wHash and mirrored dHash of every readable image (once per
distinct content)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator import artifacts
from curator.features.hashes import STORED_KINDS, hash_bytes
from curator.io.tables import outputs_committed_together, write_parquet
from curator.params import Params
from curator.stages import measure_contents, read_contents


def hash_codes(data: bytes, max_image_pixels: int, decode_size: int) -> dict[str, int]:
    codes = hash_bytes(data, max_image_pixels, decode_size)
    # stored as int64 bit patterns: parquet and Ray carry them exactly; uint64 again below
    pairs = zip(STORED_KINDS, codes, strict=True)
    return {kind: int(np.uint64(c).astype(np.int64)) for kind, c in pairs}


@outputs_committed_together()
def run(params: Params, data_dir: Path, audits_dir: Path) -> dict[str, Any]:
    audits = Path(audits_dir)
    contents = read_contents(audits)
    p, max_pixels = params.hash, params.ingest.max_image_pixels
    measure = partial(hash_codes, max_image_pixels=max_pixels, decode_size=p.decode_size)
    key = f"{max_pixels}|{p.decode_size}|{'+'.join(STORED_KINDS)}"
    codes, run = measure_contents("hash", params, data_dir, contents, measure, key, p.workers)
    table = pd.DataFrame({"sample_id": contents["sample_id"].astype("string")})
    for kind in STORED_KINDS:
        column = codes[kind].to_numpy(np.int64) if len(codes) else np.zeros(0, np.int64)
        table[kind] = column.view(np.uint64)
    write_parquet(table, audits / artifacts.HASHES)
    return {
        "n_hashed": len(table),
        "kinds": list(STORED_KINDS),
        "engine": run.engine,
        "shards": run.n_shards,
        "resumed_shards": run.n_resumed,
    }
