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
from curator.features.edges import SIZE, edge_magnitude
from curator.features.edits import plant_copy
from curator.io.allocator import keep_freed_blocks
from curator.io.images import open_rgb
from curator.io.parallel import parallel_map, parallel_stack
from curator.io.tables import outputs_committed_together, read_parquet, write_parquet
from curator.io.uris import join_uri, read_uri
from curator.params import Params
from curator.stages import load_embeddings, unique_contents, write_check_result


def _edge_map_file(uri: str, max_image_pixels: int) -> np.ndarray:
    img, _, _ = open_rgb(read_uri(uri), max_image_pixels)
    return edge_magnitude(img)


def _planted_copy_map(job: tuple[str, int], max_image_pixels: int) -> tuple[np.ndarray, float, str]:
    uri, seed = job
    img, _, _ = open_rgb(read_uri(uri), max_image_pixels)
    copy, edits = plant_copy(img, np.random.default_rng(seed))
    return edge_magnitude(copy), copy.width / copy.height, edits


def edge_map_loaders(manifest: pd.DataFrame, data_dir: Path, params: Params) -> tuple:
    """(load, plant): edge maps of images by sample_id; and edge maps, aspects (width /
    height) and edits of edited copies of them."""
    first_path = unique_contents(manifest).set_index("sample_id")["path"]
    limit = params.ingest.max_image_pixels
    workers = params.hash.workers

    def load(sample_ids: list[str]) -> np.ndarray:
        paths = [join_uri(data_dir, first_path[s]) for s in sample_ids]
        work = partial(_edge_map_file, max_image_pixels=limit)
        shape = (SIZE, SIZE)
        return parallel_stack(work, paths, workers, "duplicates: edge maps", shape, np.uint8)

    def plant(sample_ids: list[str], seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        seeds = np.random.SeedSequence(seed).generate_state(len(sample_ids)).tolist()
        jobs = [
            (join_uri(data_dir, first_path[s]), k) for s, k in zip(sample_ids, seeds, strict=True)
        ]
        work = partial(_planted_copy_map, max_image_pixels=limit)
        done = parallel_map(work, jobs, workers, "duplicates: planted copies")
        maps, aspects, edits = zip(*done, strict=True)
        return np.stack(maps), np.array(aspects), list(edits)

    return load, plant


@outputs_committed_together()
def run(params: Params, data_dir: Path, audits_dir: Path) -> dict[str, Any]:
    audits = Path(audits_dir)
    keep_freed_blocks()  # the edge scoring frees and reallocates large arrays per block
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    load, plant = edge_map_loaders(manifest, data_dir, params)
    inputs = CheckInputs(
        manifest=manifest,
        hashes=read_parquet(audits / artifacts.HASHES, "curator hash"),
        embeddings=load_embeddings(audits),
        load_edge_maps=load,
        plant_copies=plant,
    )
    result = run_check("duplicates", inputs, params)
    write_parquet(result.tables["pairs"], audits / artifacts.DUPLICATES)
    write_parquet(result.tables["leakage"], audits / artifacts.LEAKAGE)
    write_check_result(result, audits, "duplicates")
    return result.summary
