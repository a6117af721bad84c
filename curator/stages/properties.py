"""Properties stage: brightness, contrast, sharpness, saturation and entropy of every readable
image (once per distinct content, streamed and resumable like hash), and the image-condition
findings judged from them (checks/properties.py)."""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from curator import artifacts
from curator.checks import CheckInputs, run_check
from curator.engine import run_sharded
from curator.features.properties import PROPERTY_NAMES, properties_of_bytes
from curator.io.tables import outputs_committed_together, read_parquet, write_parquet
from curator.io.uris import UriList, read_uri, root_key
from curator.params import Params
from curator.stages import read_contents, require_unchanged, write_check_result


def properties_uri(uri: str, max_image_pixels: int) -> dict[str, Any]:
    data = read_uri(uri)
    return properties_of_bytes(data, max_image_pixels) | {
        "content": hashlib.sha256(data).hexdigest()
    }


@outputs_committed_together()
def run(params: Params, data_dir: Path, audits_dir: Path) -> dict[str, Any]:
    audits = Path(audits_dir)
    contents = read_contents(audits)
    ids = contents["sample_id"].tolist()
    max_pixels = params.ingest.max_image_pixels
    measured, _ = run_sharded(
        "properties",
        UriList(data_dir, contents["path"]),
        partial(properties_uri, max_image_pixels=max_pixels),
        params.engine,
        Path(params.engine.work_dir),
        f"properties|{root_key(data_dir)}|{max_pixels}",
        lambda start, stop: ids[start:stop],
        params.properties.workers,
    )
    if len(measured):
        require_unchanged(data_dir, contents["path"].tolist(), ids, measured["content"].tolist())
    table = pd.DataFrame({"sample_id": pd.Series(ids, dtype="string")})
    for name in PROPERTY_NAMES:
        table[name] = measured[name].to_numpy(float) if len(measured) else []
    write_parquet(table, audits / artifacts.PROPERTIES)
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    result = run_check("properties", CheckInputs(manifest=manifest, properties=table), params)
    write_check_result(result, audits, "properties")
    return result.summary
