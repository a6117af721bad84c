"""Label-quality stage: predicted probabilities, confident learning, noise rates.

Your model's probabilities come from ``--pred-probs FILE`` (anywhere) or from
``label_quality.pred_probs``, a file inside the data folder: dvc.yaml makes the data folder a
dependency of this stage, so changing the file re-runs it.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from curator import artifacts
from curator.checks import CheckInputs, run_check
from curator.features.embeddings import pick_device
from curator.io.images import open_rgb
from curator.io.parallel import parallel_map
from curator.io.sources import read_table, safe_relpath
from curator.io.tables import outputs_committed_together, read_parquet, write_parquet
from curator.io.uris import join_uri, read_uri
from curator.params import Params
from curator.stages import load_embeddings, unique_contents, write_check_result


def _pixels(uri: str, size: int, max_image_pixels: int) -> np.ndarray:
    img, _, _ = open_rgb(read_uri(uri), max_image_pixels)
    return np.asarray(img.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def image_loader(manifest, data_dir: Path | str, params: Params):
    """sample_ids -> (n, s, s, 3) uint8 images at label_quality.cnn_image_size."""
    first_path = unique_contents(manifest).set_index("sample_id")["path"]
    work = partial(
        _pixels,
        size=params.label_quality.cnn_image_size,
        max_image_pixels=params.ingest.max_image_pixels,
    )

    def load(sample_ids: list[str]) -> np.ndarray:
        uris = [join_uri(data_dir, first_path[s]) for s in sample_ids]
        return np.stack(parallel_map(work, uris, params.ingest.workers, "label_quality: decode"))

    return load


def pred_probs_file(params: Params, data_dir: Path | str, cli_file: Path | None) -> Path | None:
    """The user's probabilities: the CLI's file as given, else the params' file in the data
    folder (refused outside it: DVC would not see it change)."""
    if cli_file is not None:
        return Path(cli_file)
    rel = params.label_quality.pred_probs
    if rel is None:
        return None
    return Path(join_uri(data_dir, safe_relpath(Path(data_dir), rel, "label_quality.pred_probs")))


@outputs_committed_together()
def run(
    params: Params, data_dir: Path | str, audits_dir: Path, pred_probs: Path | None = None
) -> dict[str, Any]:
    """``pred_probs`` (or label_quality.pred_probs) replaces the cross-validated classifier."""
    audits = Path(audits_dir)
    user_file = pred_probs_file(params, data_dir, pred_probs)
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    cnn = user_file is None and params.label_quality.classifier == "cnn"
    inputs = CheckInputs(
        manifest=manifest,
        # the annotators' votes, where there are any, choose the ranking (label_quality.ranked_by)
        annotations=read_parquet(audits / artifacts.ANNOTATIONS, "curator ingest"),
        embeddings=None if user_file or cnn else load_embeddings(audits),
        pred_probs=read_table(user_file, "label_quality.pred_probs") if user_file else None,
        load_images=image_loader(manifest, data_dir, params) if cnn else None,
        device=pick_device(params.label_quality.device) if cnn else "cpu",
    )
    result = run_check("label_quality", inputs, params)
    write_parquet(result.tables["pred_probs"], audits / artifacts.PRED_PROBS)
    write_parquet(result.tables["label_issues"], audits / artifacts.LABEL_ISSUES)
    write_check_result(result, audits, "label_quality")
    return result.summary
