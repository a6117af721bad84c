"""Hash stage: pHash, dHash and wHash of every readable image (once per distinct content)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator import artifacts
from curator.features.hashes import HASH_KINDS, hash_file
from curator.io.parallel import parallel_map
from curator.io.tables import read_parquet, write_parquet
from curator.params import Params
from curator.stages import unique_contents


def run(params: Params, data_dir: Path, audits_dir: Path) -> dict[str, Any]:
    audits = Path(audits_dir)
    contents = unique_contents(read_parquet(audits / artifacts.MANIFEST, "curator ingest"))
    work = partial(
        hash_file,
        max_image_pixels=params.ingest.max_image_pixels,
        decode_size=params.hash.decode_size,
    )
    paths = [Path(data_dir) / p for p in contents["path"]]
    codes = np.array(parallel_map(work, paths, params.hash.workers, "hash"), dtype=np.uint64)
    table = pd.DataFrame({"sample_id": contents["sample_id"].astype("string")})
    for k, kind in enumerate(HASH_KINDS):
        table[kind] = codes[:, k] if len(codes) else np.zeros(0, np.uint64)
    write_parquet(table, audits / artifacts.HASHES)
    return {"n_hashed": len(table), "kinds": list(HASH_KINDS)}
