"""Train stage: a classifier head on the embeddings; val/test probabilities for evaluation.

Trains on the train split (minus images whose findings are named in ``train.exclude``, so a
clean-vs-raw comparison is one param away), stops early on the validation loss, and saves the
head as safetensors with a JSON record of its config and the data version.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator import artifacts
from curator.checks.balance import class_balanced_weights
from curator.errors import ConfigError, DataError
from curator.features.embeddings import pick_device
from curator.io.tables import (
    cluster_of_path,
    outputs_committed_together,
    read_json,
    read_parquet,
    write_parquet,
)
from curator.io.versions import data_version
from curator.learn.model import fit_head, save_head, save_tensors
from curator.params import Params, TrainParams
from curator.stages import embeddings_of

log = logging.getLogger(__name__)
FINETUNED_TOWER = "image_tower.safetensors"


def excluded_paths(findings: Sequence[Path], issues: Sequence[str]) -> set[str]:
    if not issues:
        return set()
    tables = [read_parquet(Path(f), "dvc repro") for f in findings]
    flagged = pd.concat(tables) if tables else pd.DataFrame(columns=["path", "issue"])
    unknown = set(issues) - set(flagged["issue"])
    if unknown:
        log.warning("train.exclude names issue(s) %s that no finding carries", sorted(unknown))
    return set(flagged.loc[flagged["issue"].isin(issues), "path"])


def duplicate_groups(items: pd.DataFrame, audits: Path) -> np.ndarray:
    """A group key per image: its duplicate cluster, else its own content."""
    pairs = read_parquet(audits / artifacts.DUPLICATES, "curator duplicates")
    of = items["path"].map(cluster_of_path(pairs))
    own = "content " + items["sample_id"].astype(str)
    return np.where(of.notna(), "cluster " + of.astype("Int64").astype(str), own)


def carve_val(
    items: pd.DataFrame, train: np.ndarray, y: np.ndarray, audits: Path, p: TrainParams
) -> np.ndarray:
    """When the data has no val split (CIFAR-10's train/test layout): a seeded share
    (train.val_fraction) of the train images, stratified by label and whole duplicate clusters
    at a time, so no twin straddles train and val. A larger share where train has fewer groups
    than 1 / val_fraction; none where it has a single one."""
    from sklearn.model_selection import StratifiedGroupKFold

    rows = np.flatnonzero(train)
    groups = duplicate_groups(items, audits)[rows]
    val = np.zeros(len(items), dtype=bool)
    n_splits = min(round(1 / p.val_fraction), len(np.unique(groups)))
    if n_splits < 2:
        return val
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=p.seed)
    _, picked = next(folds.split(rows, y[rows], groups))
    val[rows[picked]] = True
    return val


def warn_if_weak_label_evidence(audits: Path) -> None:
    """Leaving out images whose flags rest on weak evidence can make the model worse."""
    labels = read_json(audits / artifacts.LABEL_QUALITY_SUMMARY, "curator label-quality")
    evidence = labels["evidence"]
    if not evidence["supported"]:
        log.warning(
            "train.exclude names label_issue, but those %d flags rest on weak evidence (%s): "
            "leaving them out may remove correct labels and make the model worse. To fix: %s.",
            labels["n_flagged"],
            "; ".join(evidence["reasons"]),
            evidence["to_fix"],
        )


def _finetune(params: Params, embed: dict, head, paths, y, train, val):
    """LP-FT of the CLIP image tower that made the embeddings (curator/learn/finetune.py)."""
    from curator.features.embeddings import OpenClipEncoder, resolve_embedder
    from curator.learn.finetune import finetune

    if embed.get("backend") != "open_clip":
        raise ConfigError(
            f"params: train.finetune needs the CLIP image tower, but the embeddings came from "
            f"{embed.get('backend')} ({embed.get('fallback_reason')}); provide the weights "
            f"(embed.checkpoint) or set train.finetune: false."
        )
    encoder = OpenClipEncoder.load(resolve_embedder(params.embed), params.embed)

    def pick(mask: np.ndarray) -> tuple[list[Path], np.ndarray]:
        return [f for f, m in zip(paths, mask, strict=True) if m], y[mask]

    return finetune(
        encoder, head, pick(train), pick(val), params.train, params.ingest.max_image_pixels
    )


@outputs_committed_together()
def run(
    params: Params, data_dir: Path, audits_dir: Path, findings: Sequence[Path] = ()
) -> dict[str, Any]:
    audits, p = Path(audits_dir), params.train
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    items = manifest[manifest["readable"]].reset_index(drop=True)
    x = embeddings_of(audits, items["sample_id"])
    classes = sorted(items["label"].unique())
    y = items["label"].map({c: k for k, c in enumerate(classes)}).to_numpy()
    dropped = excluded_paths(findings, p.exclude)
    if "label_issue" in p.exclude:
        warn_if_weak_label_evidence(audits)
    train = (items["split"] == "train").to_numpy() & ~items["path"].isin(dropped).to_numpy()
    val = (items["split"] == "val").to_numpy()
    val_split: dict[str, Any] = {"source": "the data's val split"}
    if train.any() and not val.any():
        val = carve_val(items, train, y, audits, p)
        train &= ~val
        val_split = {
            "source": "carved from train (the data has no val split)",
            "fraction": p.val_fraction,
            "seed": p.seed,
            "grouped_by": "duplicate cluster",
            "paths": sorted(items.loc[val, "path"]),
        }
        if not val.any():
            val_split = {
                "source": "none: the data has no val split and train has a single distinct "
                "image (or duplicate cluster) to carve one from; trained for train.max_epochs "
                "with no early stopping"
            }
            log.warning("train: %s", val_split["source"])
    if not train.any():
        raise DataError(
            "train needs readable images in the 'train' split (after train.exclude); add some, "
            "or exclude fewer."
        )
    weights = None
    if p.class_weights == "balanced":
        counts = np.bincount(y[train], minlength=len(classes))
        weights = class_balanced_weights(counts, params.balance.effective_number_beta)
    device = pick_device(p.device)
    head = fit_head(x[train], y[train], x[val], y[val], classes, weights, p, device)
    embed = read_json(audits / artifacts.EMBED_SUMMARY, "curator embed")
    held = ~(items["split"] == "train").to_numpy() | val
    paths = [Path(data_dir) / f for f in items["path"]]
    tuned = None
    if p.finetune:
        tuned = _finetune(params, embed, head, paths, y, train, val)
        probs = tuned.predict_proba(
            [f for f, h in zip(paths, held, strict=True) if h],
            p.finetune_batch_size,
            params.ingest.max_image_pixels,
        )
    else:
        probs = head.predict_proba(x[held])
    record = {
        "architecture": "linear" if p.hidden == 0 else f"mlp(hidden={p.hidden})",
        "dim": int(x.shape[1]),
        "embedding": {
            k: embed.get(k) for k in ("backend", "model", "weights", "weights_sha256", "cache_key")
        },
        "params": vars(p),
        "n_train": int(train.sum()),
        "n_val": int(val.sum()),
        "val_split": val_split,
        "n_excluded": int(((items["split"] == "train") & items["path"].isin(dropped)).sum()),
        "class_weights": None if weights is None else weights.tolist(),
        "device": device,
        "data_version": data_version(Path(data_dir)),
    }
    if tuned is not None:
        record["finetune"] = {
            "image_tower": FINETUNED_TOWER,
            "best_epoch": tuned.best_epoch,
            "history": tuned.history,
            "device": tuned.encoder.device,
            "precision": tuned.encoder.precision,
        }
        save_tensors(tuned.tower_state(), audits / artifacts.MODEL_DIR / FINETUNED_TOWER)
    save_head(head, audits / artifacts.MODEL_DIR, record)
    out = items.loc[held, ["sample_id", "path", "split", "label"]].reset_index(drop=True)
    out.loc[val[held], "split"] = "val"  # carved val images are predicted as val
    out["predicted"] = [classes[k] for k in probs.argmax(axis=1)]
    out["confidence"] = probs.max(axis=1)
    out = pd.concat([out, pd.DataFrame(probs, columns=[f"p_{c}" for c in classes])], axis=1)
    write_parquet(out, audits / artifacts.PREDICTIONS)
    val_rows = out["split"] == "val"
    return record | {
        "best_epoch": head.best_epoch,
        "val_accuracy": float(
            (out.loc[val_rows, "predicted"] == out.loc[val_rows, "label"]).mean()
        ),
    }
