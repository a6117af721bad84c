"""Shift stage: is each held-out split drawn like train (evaluation/shift.py)? Per image property
(KS) and on the embeddings (an out-of-fold domain classifier), with each held-out image's
score of how unlike train it looks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from curator import __version__, artifacts
from curator.evaluation.shift import domain_classifier, property_shift
from curator.io.tables import outputs_committed_together, read_parquet, write_json, write_parquet
from curator.params import Params
from curator.stages import embeddings_of

MOST_SHIFTED = 24  # held-out images listed per split in shift.json, least like train first


@outputs_committed_together()
def run(params: Params, audits_dir: Path) -> dict[str, Any]:
    audits, p = Path(audits_dir), params.shift
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    items = manifest[manifest["readable"]].reset_index(drop=True)
    props = read_parquet(audits / artifacts.PROPERTIES, "curator properties")
    x = embeddings_of(audits, items["sample_id"])
    is_train = (items["split"] == "train").to_numpy()
    embedding: dict[str, Any] = {}
    scored = []
    for split in sorted(s for s in items["split"].unique() if s != "train"):
        held = (items["split"] == split).to_numpy()
        too_few = min(held.sum(), is_train.sum()) < p.folds
        if too_few:
            embedding[split] = {
                "n": int(held.sum()),
                "n_train": int(is_train.sum()),
                "skipped": f"fewer than shift.folds={p.folds} images in {split} or train",
                "shifted": None,
            }
            continue
        scores, embedding[split] = domain_classifier(x[is_train], x[held], p)
        part = items.loc[held, ["path", "sample_id", "split"]].assign(unlike_train=scores)
        part = part.sort_values(["unlike_train", "path"], ascending=[False, True])
        embedding[split]["most_shifted"] = part.head(MOST_SHIFTED)[
            ["path", "unlike_train"]
        ].to_dict("records")
        scored.append(part)
    table = (
        pd.concat(scored)
        if scored
        else pd.DataFrame(columns=["path", "sample_id", "split", "unlike_train"])
    )
    summary = {
        "properties": property_shift(items.merge(props, on="sample_id"), p.alpha),
        "embedding": embedding,
        "params": vars(p),
        "curator_version": __version__,
    }
    write_parquet(table.reset_index(drop=True), audits / artifacts.SHIFT)
    write_json(summary, audits / artifacts.SHIFT_SUMMARY)
    write_json(headline(summary), audits / artifacts.metrics("shift"))
    return summary


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    """Per held-out split, the domain AUC (the property tests are in shift.json)."""
    return {f"{split}_auc": e.get("auc") for split, e in summary["embedding"].items()}
