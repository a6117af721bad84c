"""Boxes stage: a detection dataset's boxes in one table, and the findings the boxes show.

Reads the annotations named by params (detection.format: coco, yolo or voc) and only the
headers and bytes of the images they list (their size, and the SHA-256 that is their
sample_id everywhere in curator).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from curator import artifacts
from curator.checks import CheckInputs, run_check
from curator.io.boxes import read_boxes
from curator.io.tables import outputs_committed_together, write_parquet
from curator.params import Params
from curator.stages import write_check_result


@outputs_committed_together()
def run(params: Params, data_dir: Path, audits_dir: Path) -> dict[str, Any]:
    audits = Path(audits_dir)
    listing = read_boxes(Path(data_dir), params.detection)
    images = listing.images.copy()
    images["sample_id"] = [
        hashlib.sha256((Path(data_dir) / rel).read_bytes()).hexdigest() for rel in images["path"]
    ]
    result = run_check("boxes", CheckInputs(manifest=images, boxes=listing.boxes), params)
    write_parquet(listing.boxes, audits / artifacts.BOXES)
    write_parquet(result.tables["box_findings"], audits / artifacts.BOX_FINDINGS)
    summary = result.summary | {
        "format": params.detection.format,
        "classes_declared": list(listing.classes),
        "unlisted_images": list(listing.unlisted),
    }
    write_check_result(
        type(result)(result.name, result.flags, summary, result.metrics, result.params),
        audits,
        "boxes",
    )
    return summary
