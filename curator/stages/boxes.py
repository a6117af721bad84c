"""Boxes stage: a detection dataset's boxes in one table, the findings the boxes show and, with
the user's detector's predictions, its label errors and its COCO numbers on the test split.

Reads the annotations named by params (detection.format: coco, yolo or voc) and only the
headers and bytes of the images they list (their size, and the SHA-256 that is their
sample_id everywhere in curator).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from curator import __version__, artifacts
from curator.checks import CheckInputs, run_check
from curator.checks.base import require_metadata_columns
from curator.evaluation.detection import evaluate_detector
from curator.io.boxes import BoxListing, read_annotators, read_boxes, read_predictions
from curator.io.sources import known_values, read_metadata
from curator.io.tables import outputs_committed_together, write_json, write_parquet
from curator.params import Params
from curator.stages import write_check_result

NO_ANNOTATORS = (
    "not measured: agreement needs two or more annotators' boxes of the same images "
    "(detection.annotators)"
)
NO_PREDICTIONS = (
    "not checked: an object nobody boxed, a box of the wrong class or in the wrong place shows "
    "only against a detector's out-of-sample predictions (detection.predictions)"
)


@outputs_committed_together()
def run(params: Params, data_dir: Path, audits_dir: Path) -> dict[str, Any]:
    audits, data = Path(audits_dir), Path(data_dir)
    listing = read_boxes(data, params.detection)
    images = listing.images.copy()
    images["sample_id"] = _sample_ids(data, images["path"])
    metadata = _metadata(params, data, images)
    images = images.merge(metadata[["path", *params.balance.subgroups]], on="path", how="left")
    preds = (
        read_predictions(data, params.detection, listing) if params.detection.predictions else None
    )
    several, labelled = (
        read_annotators(data, params.detection) if params.detection.annotators else (None, None)
    )
    inputs = CheckInputs(manifest=images, boxes=listing.boxes, box_predictions=preds)
    result = run_check("boxes", inputs, params)
    found = [result.tables["box_findings"]]
    summary = result.summary | {
        "format": params.detection.format,
        "classes_declared": list(listing.classes),
        "unlisted_images": list(listing.unlisted),
        "label_errors": NO_PREDICTIONS,
        "evaluation": NO_PREDICTIONS,
        "agreement": NO_ANNOTATORS,
    }
    if several is not None:
        everyone = CheckInputs(
            manifest=_with_annotators_images(images, labelled, data),
            box_annotations=several,
            box_annotated_images=labelled,
        )
        agreement = run_check("box_agreement", everyone, params)
        write_check_result(agreement, audits, "box_agreement")
        write_parquet(agreement.tables["consensus"], audits / artifacts.BOX_CONSENSUS)
        summary["agreement"] = agreement.summary
    if preds is not None:
        errors = run_check("box_label_quality", inputs, params)
        write_check_result(errors, audits, "box_label_quality")
        found.append(errors.tables["label_errors"])
        summary["label_errors"] = errors.summary
        summary["evaluation"] = _evaluate(params, listing, preds, metadata, audits)
    write_parquet(listing.boxes, audits / artifacts.BOXES)
    write_parquet(pd.concat(found, ignore_index=True), audits / artifacts.BOX_FINDINGS)
    write_check_result(replace(result, summary=summary), audits, "boxes")
    return summary


def _with_annotators_images(images: pd.DataFrame, labelled, data: Path) -> pd.DataFrame:
    """The images table, plus any image only the extra annotators list (with its sample_id)."""
    extra = sorted(set(labelled["path"]) - set(images["path"]))
    if not extra:
        return images
    more = pd.DataFrame({"path": extra, "sample_id": _sample_ids(data, extra)})
    return pd.concat([images, more], ignore_index=True)


def _sample_ids(data: Path, paths) -> list[str]:
    """Each file's SHA-256, its sample_id everywhere in curator (io/images.decode_bytes)."""
    return [hashlib.sha256((data / p).read_bytes()).hexdigest() for p in paths]


def _metadata(params: Params, data: Path, images: pd.DataFrame) -> pd.DataFrame:
    """ingest.metadata's columns by path (the groups of balance.subgroups and
    evaluate.sensitive_features), refused when a named column is not there."""
    wanted = {*params.balance.subgroups, *params.evaluate.sensitive_features}
    rel = params.ingest.metadata
    if rel is None or not (data / rel).is_file():
        table = pd.DataFrame({"path": images["path"]})
        source = "no metadata file"
    else:
        table = read_metadata(data, rel, set(images["path"]))
        source = rel
    require_metadata_columns(params, [c for c in table.columns if c != "path"], source)
    for column in wanted:
        table[column] = known_values(table[column])
    return table


def _evaluate(
    params: Params, listing: BoxListing, preds: pd.DataFrame, metadata: pd.DataFrame, audits: Path
) -> Any:
    """The detector's COCO numbers on evaluate.split (written to detection_evaluation.json);
    the reason when there is nothing to score."""
    split = params.evaluate.split
    images = listing.images[listing.images["split"] == split]
    scored = preds[preds["path"].isin(images["path"])]
    if images.empty or scored.empty:
        return f"not scored: no {'images' if images.empty else 'predictions'} in split {split!r}"
    e = params.evaluate
    groups = {c: metadata.set_index("path")[c] for c in e.sensitive_features}
    doc = evaluate_detector(
        listing.boxes,
        scored,
        images,
        listing.classes,
        groups,
        reps=e.n_bootstrap,
        level=e.ci_level,
        seed=e.seed,
    )
    doc |= {"split": split, "n_predictions": len(scored), "curator_version": __version__}
    write_json(doc, audits / artifacts.DETECTION_EVALUATION)
    overall = doc["overall"]
    return {"split": split, "map": overall["map"], "map50": overall["map50"]}
