"""Properties stage: brightness, contrast, sharpness, saturation and entropy of every readable
image (once per distinct content, streamed and resumable like hash), and the image-condition
findings judged from them (checks/properties.py)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from curator import artifacts
from curator.checks import CheckInputs, run_check
from curator.features.properties import PROPERTY_NAMES, properties_of_bytes
from curator.io.tables import outputs_committed_together, read_parquet, write_parquet
from curator.params import Params
from curator.stages import measure_contents, read_contents, write_check_result


@outputs_committed_together()
def run(params: Params, data_dir: Path, audits_dir: Path) -> dict[str, Any]:
    audits = Path(audits_dir)
    contents = read_contents(audits)
    max_pixels = params.ingest.max_image_pixels
    measure = partial(properties_of_bytes, max_image_pixels=max_pixels)
    measured, _ = measure_contents(
        "properties",
        params,
        data_dir,
        contents,
        measure,
        str(max_pixels),
        params.properties.workers,
    )
    table = pd.DataFrame({"sample_id": contents["sample_id"].astype("string")})
    for name in PROPERTY_NAMES:
        table[name] = measured[name].to_numpy(float) if len(measured) else []
    write_parquet(table, audits / artifacts.PROPERTIES)
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    result = run_check("properties", CheckInputs(manifest=manifest, properties=table), params)
    write_check_result(result, audits, "properties")
    return result.summary
