"""Errors stage: what the mistakes look like, and what the model looked at.

Galleries of misclassified images of the evaluated split: one per worst group (the overall
worst first, the worst embedding slice second, then each grouping's worst, surely-worse groups
before the rest) and one per most frequent confusion (true class -> predicted class), each
holding the most confident mistakes first. Every image in a gallery gets a saliency map
(evaluation/saliency.py) made by the same model that predicted it: Grad-CAM where the CLIP tower
(frozen or fine-tuned) is a vision transformer, occlusion sensitivity otherwise (the probe on
the fallback descriptor, CNN towers); the probability the map's model gives is recorded beside
the stage's prediction, so a reader can check the two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from curator import __version__, artifacts
from curator.evaluation.saliency import grad_cam, occlusion_map
from curator.evaluation.subgroups import SLICE_GROUPING
from curator.io.images import open_rgb
from curator.io.tables import (
    outputs_committed_together,
    read_json,
    read_parquet,
    write_json,
    write_parquet,
)
from curator.io.uris import join_uri, read_uri
from curator.learn.model import load_head
from curator.params import Params


@outputs_committed_together()
def run(params: Params, data_dir: Path, audits_dir: Path) -> dict[str, Any]:
    audits, p = Path(audits_dir), params.errors
    ev = read_json(audits / artifacts.EVALUATION, "curator evaluate")
    preds = read_parquet(audits / artifacts.PREDICTIONS, "curator train")
    groups = read_parquet(audits / artifacts.EVALUATED_GROUPS, "curator evaluate")
    wrong = preds[(preds["split"] == ev["split"]) & (preds["label"] != preds["predicted"])]
    wrong = wrong.merge(groups, on="path").sort_values(
        ["confidence", "path"], ascending=[False, True]
    )
    galleries = _group_galleries(ev, wrong, p.groups) + _confusion_galleries(
        ev, wrong, p.confused_pairs
    )
    for g in galleries:
        g["paths"] = g.pop("members")["path"].head(p.per_gallery).tolist()
    shown = wrong[wrong["path"].isin({x for g in galleries for x in g["paths"]})]
    head, record = load_head(audits / artifacts.MODEL_DIR)
    explain, method = _explainer(params, audits, head, record)
    rows = []
    for item in shown.itertuples():
        img, _, _ = open_rgb(
            read_uri(join_uri(str(data_dir), item.path)), params.ingest.max_image_pixels
        )
        base, saliency = explain(img, head.classes.index(item.predicted))
        rows.append(
            {
                "path": item.path,
                "sample_id": item.sample_id,
                "label": item.label,
                "predicted": item.predicted,
                "confidence": float(item.confidence),
                "rescored_probability": base,
                "saliency": saliency.ravel().round(6).tolist(),
                "saliency_shape": list(saliency.shape),
                "galleries": [g["title"] for g in galleries if item.path in g["paths"]],
            }
        )
    table = pd.DataFrame(
        rows,
        columns=[
            "path",
            "sample_id",
            "label",
            "predicted",
            "confidence",
            "rescored_probability",
            "saliency",
            "saliency_shape",
            "galleries",
        ],
    )
    agreement = (
        (table["rescored_probability"] - table["confidence"]).abs().max() if len(table) else 0.0
    )
    summary = {
        "split": ev["split"],
        "n_errors": len(wrong),
        "galleries": galleries,
        "saliency": method | {"max_rescoring_difference": round(float(agreement), 6)},
        "params": vars(p),
        "curator_version": __version__,
    }
    write_parquet(table, audits / artifacts.ERRORS)
    write_json(summary, audits / artifacts.ERRORS_SUMMARY)
    return summary


def _group_galleries(ev: dict, wrong: pd.DataFrame, limit: int) -> list[dict[str, Any]]:
    """The overall worst group, the worst embedding slice (a weak region no attribute names),
    then each grouping's worst: surely worse first, larger gap first."""
    picked: list[dict[str, Any]] = []
    worst = ev.get("worst_group")
    candidates = [worst] if worst else []
    slices = ev["subgroups"].get(SLICE_GROUPING, {}).get("worst_group")
    if slices:
        candidates.append({"grouping": SLICE_GROUPING} | slices)
    ranked = sorted(
        (
            {"grouping": name} | s["worst_group"]
            for name, s in ev["subgroups"].items()
            if s.get("worst_group")
        ),
        key=lambda w: (not w.get("significant", False), -w["accuracy_gap_vs_rest"]),
    )
    for w in candidates + ranked:
        key = (w["grouping"], w["group"])
        if len(picked) >= limit or key in {(g["grouping"], g["group"]) for g in picked}:
            continue
        members = wrong[wrong[w["grouping"]] == w["group"]]
        if members.empty:
            continue
        picked.append(
            {
                "kind": "group",
                "title": f"{w['grouping']}={w['group']}",
                "grouping": w["grouping"],
                "group": w["group"],
                "n": w["n"],
                "accuracy": w["accuracy"],
                "accuracy_gap_vs_rest": w["accuracy_gap_vs_rest"],
                "significant": w.get("significant"),
                "n_errors": len(members),
                "members": members,
            }
        )
    return picked


def _confusion_galleries(ev: dict, wrong: pd.DataFrame, limit: int) -> list[dict[str, Any]]:
    """The most frequent (true, predicted) pairs of the confusion matrix."""
    pairs = wrong.groupby(["label", "predicted"]).size().sort_values(ascending=False, kind="stable")
    out = []
    for (true, predicted), count in pairs.head(limit).items():
        support = ev["overall"]["per_class"][true]["support"]
        out.append(
            {
                "kind": "confusion",
                "title": f"true {true}, predicted {predicted}",
                "label": true,
                "predicted": predicted,
                "n_errors": int(count),
                "share_of_class": round(count / support, 6) if support else None,
                "members": wrong[(wrong["label"] == true) & (wrong["predicted"] == predicted)],
            }
        )
    return out


Explainer = Callable[[Image.Image, int], tuple[float, np.ndarray]]  # (image, class) -> p, map


def _explainer(params: Params, audits: Path, head, record: dict) -> tuple[Explainer, dict]:
    """A saliency map from the model that made the predictions: Grad-CAM where the tower is a
    vision transformer, occlusion sensitivity otherwise (the fallback descriptor, CNN towers)."""
    grid = params.errors.occlusion_grid
    occlusion = {"method": "occlusion", "grid": grid}
    score, model, clip = _scorer(params, audits, head, record)
    tower = clip[0].model.visual if clip else None
    if tower is not None and hasattr(tower, "transformer") and hasattr(tower, "grid_size"):
        encoder, classifier = clip

        def explain_vit(img: Image.Image, target: int) -> tuple[float, np.ndarray]:
            pixels = encoder.preprocess(img)[None].to(encoder.device)
            return grad_cam(tower, classifier, pixels, target)

        return explain_vit, {"method": "grad-cam", "grid": list(tower.grid_size), "model": model}

    def explain_occlusion(img: Image.Image, target: int) -> tuple[float, np.ndarray]:
        return occlusion_map(img, score, target, grid)

    return explain_occlusion, occlusion | {"model": model}


def _scorer(params: Params, audits: Path, head, record: dict):
    """The trained model as a function of images (the path that made the predictions), its
    name, and for CLIP the (encoder, head) pair a gradient map needs."""
    import torch

    embed = record["embedding"]
    batch = params.errors.batch_size
    if embed["backend"].startswith("fallback:"):
        from curator.features.embeddings import fallback_descriptor

        name, size = embed["backend"].split(":", 1)[1], params.embed.fallback_size

        def score_fallback(images: list[Image.Image]) -> np.ndarray:
            return head.predict_proba(
                np.stack([fallback_descriptor(i, name, size) for i in images])
            )

        return score_fallback, f"{embed['backend']} + head", None
    from curator.features.embeddings import OpenClipEncoder, resolve_embedder
    from curator.stages.train import FINETUNED_TOWER

    encoder = OpenClipEncoder.load(resolve_embedder(params.embed), params.embed)
    tuned = record.get("finetune") is not None
    if tuned:
        from safetensors.torch import load_file

        tower = load_file(str(audits / artifacts.MODEL_DIR / FINETUNED_TOWER))
        encoder.model.visual.load_state_dict(tower)
    network = head.model.to(encoder.device)

    def score_clip(images: list[Image.Image]) -> np.ndarray:
        out = []
        for start in range(0, len(images), batch):
            pixels = torch.stack([encoder.preprocess(i) for i in images[start : start + batch]])
            feats = torch.as_tensor(encoder.embed_batch(pixels), device=encoder.device)
            with torch.inference_mode():
                out.append(torch.softmax(network(feats), dim=1).cpu().numpy())
        return np.concatenate(out)

    model = f"open_clip {embed['model']}{' (fine-tuned tower)' if tuned else ''} + head"
    return score_clip, model, (encoder, network)
