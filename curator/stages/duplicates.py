"""Duplicates stage: exact and near duplicates, clusters, label conflicts and split leakage.

Reads the manifest, hashes and embeddings; decodes only the images that some method proposed
as a near-duplicate candidate, to verify them pixel by pixel.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator import artifacts
from curator.checks import CheckInputs, run_check
from curator.features.edges import edge_map
from curator.io.images import open_rgb
from curator.io.parallel import parallel_map
from curator.io.tables import outputs_committed_together, read_parquet, write_parquet
from curator.io.uris import join_uri, read_uri
from curator.params import Params
from curator.stages import load_embeddings, unique_contents, write_check_result


def _edge_map_file(uri: str, max_image_pixels: int) -> np.ndarray:
    img, _, _ = open_rgb(read_uri(uri), max_image_pixels)
    return edge_map(img)


def edge_map_loader(manifest: pd.DataFrame, data_dir: Path, params: Params):
    first_path = unique_contents(manifest).set_index("sample_id")["path"]
    work = partial(_edge_map_file, max_image_pixels=params.ingest.max_image_pixels)

    def load(sample_ids: list[str]) -> np.ndarray:
        paths = [join_uri(data_dir, first_path[s]) for s in sample_ids]
        return np.stack(parallel_map(work, paths, params.hash.workers, "duplicates: edge maps"))

    return load


@outputs_committed_together()
def run(params: Params, data_dir: Path, audits_dir: Path) -> dict[str, Any]:
    audits = Path(audits_dir)
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    inputs = CheckInputs(
        manifest=manifest,
        hashes=read_parquet(audits / artifacts.HASHES, "curator hash"),
        embeddings=load_embeddings(audits),
        load_edge_maps=edge_map_loader(manifest, data_dir, params),
    )
    result = run_check("duplicates", inputs, params)
    write_parquet(result.tables["pairs"], audits / artifacts.DUPLICATES)
    write_parquet(result.tables["leakage"], audits / artifacts.LEAKAGE)
    write_check_result(result, audits, "duplicates")
    return result.summary
