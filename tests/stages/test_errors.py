"""Error galleries: the right mistakes, in the right order, explained by the model that made
them (the re-scored probability is the stage's own prediction, on every path)."""

import json

import numpy as np
import pandas as pd
import pytest

from curator import artifacts
from curator.io.images import open_rgb
from curator.learn.model import load_head
from curator.params import ErrorsParams, IngestParams, Params, TrainParams
from curator.stages import embed, errors, ingest, train
from tests.conftest import tiny_clip_embed, write_two_class_tree


def test_galleries_hold_the_worst_groups_most_confident_mistakes(audited_demo, demo_data):
    params, audits, evaluation = audited_demo
    summary = json.loads((audits / artifacts.ERRORS_SUMMARY).read_text())
    table = pd.read_parquet(audits / artifacts.ERRORS)
    preds = pd.read_parquet(audits / artifacts.PREDICTIONS)
    test = preds[preds["split"] == evaluation["split"]]
    wrong = test[test["label"] != test["predicted"]].set_index("path")
    groups = pd.read_parquet(audits / artifacts.EVALUATED_GROUPS).set_index("path")
    assert summary["n_errors"] == len(wrong)
    first = summary["galleries"][0]  # the overall worst group leads
    worst = evaluation["worst_group"]
    assert (first["grouping"], first["group"]) == (worst["grouping"], worst["group"])
    p = params.errors
    kinds = [g["kind"] for g in summary["galleries"]]
    assert kinds.count("group") <= p.groups and kinds.count("confusion") <= p.confused_pairs
    for g in summary["galleries"]:
        assert 0 < len(g["paths"]) <= p.per_gallery
        conf = wrong.loc[g["paths"], "confidence"].to_numpy()
        assert (np.diff(conf) <= 0).all()  # most confident mistake first
        if g["kind"] == "group":
            assert (groups.loc[g["paths"], g["grouping"]] == g["group"]).all()
            in_group = groups.loc[wrong.index, g["grouping"]] == g["group"]
            assert g["n_errors"] == in_group.sum()
            # nobody more confidently wrong in the group was left out
            assert (
                conf.min()
                >= wrong.loc[in_group[in_group].index, "confidence"].nlargest(len(conf)).min()
            )
        else:
            rows = wrong.loc[g["paths"]]
            assert (rows["label"] == g["label"]).all() and (
                rows["predicted"] == g["predicted"]
            ).all()
    pairs = wrong.groupby(["label", "predicted"]).size().max()
    assert max(g["n_errors"] for g in summary["galleries"] if g["kind"] == "confusion") == pairs
    # every shown image has a map, and the map's model reproduces the prediction
    shown = {x for g in summary["galleries"] for x in g["paths"]}
    assert set(table["path"]) == shown
    grid = summary["saliency"]["grid"]
    assert summary["saliency"]["method"] == "occlusion"  # the fallback has no gradient path
    assert all(list(s) == [grid, grid] for s in table["saliency_shape"])
    assert all(len(s) == grid * grid for s in table["saliency"])
    assert np.allclose(table["rescored_probability"], table["confidence"], atol=1e-5)
    assert summary["saliency"]["model"] == "fallback:thumbnail + head"


@pytest.mark.parametrize("finetune", [False, True])
def test_the_clip_path_rescoring_reproduces_the_predictions(tmp_path, tiny_clip_config, finetune):
    root = tmp_path / "data"
    write_two_class_tree(root)
    emb = tiny_clip_embed(tiny_clip_config, tmp_path / "cache")
    audits = tmp_path / "audits"
    tune = TrainParams(max_epochs=5, finetune=finetune, finetune_epochs=1, finetune_batch_size=8)
    params = Params(ingest=IngestParams(workers=1), embed=emb, train=tune, errors=ErrorsParams())
    ingest.run(params, root, audits)
    embed.run(params, root, audits)
    train.run(params, root, audits)
    head, record = load_head(audits / artifacts.MODEL_DIR)
    score, model, _ = errors._scorer(params, audits, head, record)
    assert ("fine-tuned" in model) == finetune
    preds = pd.read_parquet(audits / artifacts.PREDICTIONS)
    images = [open_rgb((root / p).read_bytes(), 10**8)[0] for p in preds["path"]]
    rescored = score(images)
    expected = preds[[f"p_{c}" for c in head.classes]].to_numpy()
    assert np.allclose(rescored, expected, atol=1e-4)
    # the tiny tower is a vision transformer: Grad-CAM over its 4 x 4 patches (64 px / 16 px),
    # whose forward pass gives the same probability of the predicted class
    explain, method = errors._explainer(params, audits, head, record)
    assert method["method"] == "grad-cam" and method["grid"] == [4, 4]
    for img, row in zip(images, preds.itertuples(), strict=True):
        target = head.classes.index(row.predicted)
        prob, cam = explain(img, target)
        assert prob == pytest.approx(row.confidence, abs=1e-4)
        assert cam.shape == (4, 4) and (cam >= 0).all() and np.isfinite(cam).all()


def test_gallery_order_overall_worst_then_worst_slice_then_surest_gaps():
    def worst(group, gap, significant, n=50):
        return {"group": group, "n": n, "accuracy": 0.5, "accuracy_gap_vs_rest": gap} | {
            "significant": significant
        }

    ev = {
        "worst_group": {"grouping": "site"} | worst("C", 0.2, True),
        "subgroups": {
            "site": {"worst_group": worst("C", 0.2, True)},
            "device": {"worst_group": worst("phone", 0.05, False)},
            "image brightness": {"worst_group": worst("01/10 darkest", 0.1, True)},
            "slice": {"worst_group": worst("slice-03", 0.01, False)},
            "empty": {},  # a grouping with no reportable worst group
        },
    }
    wrong = pd.DataFrame(
        {
            "path": [f"{i}.png" for i in range(4)],
            "confidence": [0.9, 0.8, 0.7, 0.6],
            "site": ["C", "C", "A", "B"],
            "device": ["phone", "scanner", "phone", "phone"],
            "image brightness": ["01/10 darkest", "05/10", "01/10 darkest", "05/10"],
            "slice": ["slice-03", "slice-03", "slice-01", "slice-02"],
        }
    )
    galleries = errors._group_galleries(ev, wrong, limit=4)
    order = [(g["grouping"], g["group"]) for g in galleries]
    assert order == [
        ("site", "C"),  # the overall worst
        ("slice", "slice-03"),  # the worst embedding slice, though its gap is small
        ("image brightness", "01/10 darkest"),  # surely worse before not
        ("device", "phone"),
    ]
    assert [g["n_errors"] for g in galleries] == [2, 2, 2, 3]
    assert len(errors._group_galleries(ev, wrong, limit=2)) == 2
