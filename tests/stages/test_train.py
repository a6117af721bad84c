"""Training: determinism, safetensors round trip, exclusion of flagged images."""

import json

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file

from curator import artifacts
from curator.errors import ConfigError
from curator.features.embeddings import OpenClipEncoder, resolve_embedder
from curator.learn.model import load_head
from curator.params import EmbedParams, IngestParams, Params, TrainParams
from curator.stages import embed, ingest, train
from tests.conftest import tiny_clip_embed, write_image, write_two_class_tree


@pytest.fixture(scope="module")
def embedded(demo_data, tmp_path_factory):
    root, truth = demo_data
    audits = tmp_path_factory.mktemp("audits")
    params = Params(
        ingest=IngestParams(workers=1),
        embed=EmbedParams(cache_dir=str(audits / "cache"), workers=1),
    )
    ingest.run(params, root, audits)
    embed.run(params, root, audits)
    return root, truth, audits, params


def trained(embedded, tmp_path, **kw):
    root, _, audits, _ = embedded
    out = tmp_path / "run"
    out.mkdir(parents=True)
    for name in (artifacts.MANIFEST, artifacts.EMBED_SUMMARY):
        (out / name).write_bytes((audits / name).read_bytes())
    (out / "embeddings").mkdir()
    for name in (artifacts.EMBED_IDS, artifacts.EMBED_VECTORS):
        (out / name).write_bytes((audits / name).read_bytes())
    findings = kw.pop("findings", ())
    if "label_quality" in kw:
        (out / artifacts.LABEL_QUALITY_SUMMARY).write_text(json.dumps(kw.pop("label_quality")))
    summary = train.run(Params(train=TrainParams(**kw)), root, out, findings)
    return summary, out


def test_same_seed_same_weights_and_predictions(embedded, tmp_path):
    first, a = trained(embedded, tmp_path / "a", max_epochs=30)
    _, b = trained(embedded, tmp_path / "b", max_epochs=30)
    assert (a / "model" / "model.safetensors").read_bytes() == (
        b / "model" / "model.safetensors"
    ).read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_parquet(a / artifacts.PREDICTIONS), pd.read_parquet(b / artifacts.PREDICTIONS)
    )
    assert first["val_accuracy"] > 0.6  # real signal, not chance (0.1)


def test_model_reloads_from_safetensors_without_pickle(embedded, tmp_path):
    _, out = trained(embedded, tmp_path, hidden=16, max_epochs=20)
    head, record = load_head(out / "model")
    assert record["architecture"] == "mlp(hidden=16)" and record["dim"] == 256
    assert record["data_version"]["data_dvc_md5"] is None  # the test data has no .dvc file
    preds = pd.read_parquet(out / artifacts.PREDICTIONS)
    ids = pd.read_parquet(out / artifacts.EMBED_IDS)["sample_id"].tolist()
    vectors = np.load(out / artifacts.EMBED_VECTORS)
    row = ids.index(preds.loc[0, "sample_id"])
    probs = head.predict_proba(vectors[[row]])[0]
    assert np.allclose(probs, preds.filter(like="p_").iloc[0].to_numpy(), atol=1e-6)
    assert set(preds["split"]) == {"val", "test"}
    assert json.loads((out / "model" / "model.json").read_text())["best_epoch"] >= 1


def test_exclude_leaves_flagged_train_images_out(embedded, tmp_path, caplog):
    _, _, audits, _ = embedded
    manifest = pd.read_parquet(audits / artifacts.MANIFEST)
    some = manifest[(manifest["split"] == "train") & manifest["readable"]].head(7)
    findings = tmp_path / "f.parquet"
    some.assign(issue="label_issue", score=1.0, detail="x")[
        ["sample_id", "path", "issue", "score", "detail"]
    ].to_parquet(findings)
    base, _ = trained(embedded, tmp_path / "a", max_epochs=5)
    weak = {
        "n_flagged": 7,
        "evidence": {"supported": False, "reasons": ["planted AUC 0.61"], "to_fix": "weights"},
    }
    cleaned, _ = trained(
        embedded,
        tmp_path / "b",
        max_epochs=5,
        exclude=("label_issue",),
        findings=(findings,),
        label_quality=weak,
    )
    assert cleaned["n_train"] == base["n_train"] - 7 and cleaned["n_excluded"] == 7
    said = [r.getMessage() for r in caplog.records if r.name == "curator.stages.train"]
    assert any("rest on weak evidence (planted AUC 0.61)" in m for m in said)
    caplog.clear()
    strong = {"n_flagged": 7, "evidence": {"supported": True, "reasons": [], "to_fix": None}}
    trained(
        embedded,
        tmp_path / "c",
        max_epochs=5,
        exclude=("label_issue",),
        findings=(findings,),
        label_quality=strong,
    )
    assert not [r for r in caplog.records if "weak evidence" in r.getMessage()]


def test_finetune_trains_the_clip_tower_and_saves_it_as_safetensors(tmp_path, tiny_clip_config):
    root = tmp_path / "data"
    write_two_class_tree(root)
    emb = tiny_clip_embed(tiny_clip_config, tmp_path / "cache")
    audits = tmp_path / "audits"
    params = Params(ingest=IngestParams(workers=1), embed=emb)
    ingest.run(params, root, audits)
    embed.run(params, root, audits)
    tune = TrainParams(max_epochs=5, finetune=True, finetune_epochs=2, finetune_batch_size=8)
    summary = train.run(Params(ingest=params.ingest, embed=emb, train=tune), root, audits)

    tuned = summary["finetune"]
    assert tuned["best_epoch"] in (1, 2) and len(tuned["history"]) == 2
    tower = load_file(str(audits / "model" / "image_tower.safetensors"))
    fresh = OpenClipEncoder.load(resolve_embedder(emb), emb).model.visual.state_dict()
    assert set(tower) == set(fresh)
    assert any(not np.allclose(tower[k].numpy(), fresh[k].numpy()) for k in tower)  # it trained
    preds = pd.read_parquet(audits / artifacts.PREDICTIONS)
    assert len(preds) == 16 and np.allclose(preds.filter(like="p_").sum(axis=1), 1, atol=1e-5)


def test_finetune_on_fallback_embeddings_is_refused(embedded, tmp_path):
    with pytest.raises(ConfigError, match=r"train\.finetune needs the CLIP image tower"):
        trained(embedded, tmp_path, max_epochs=2, finetune=True)


def test_data_without_a_val_split_gets_one_carved_from_train(tmp_path):
    """CIFAR-10's layout: only train/ and test/. A seeded, stratified share of train becomes
    val; a duplicate cluster goes whole to one side; the record lists the carved images."""
    root = tmp_path / "data"
    seed = 0
    for split, n in (("train", 20), ("test", 4)):
        for cls in ("cat", "dog"):
            for i in range(n):
                write_image(root / "images" / split / cls / f"{i}.png", seed=seed, size=(24, 24))
                seed += 1
    twin = root / "images" / "train" / "cat" / "0_copy.png"
    twin.write_bytes((root / "images" / "train" / "cat" / "0.png").read_bytes())
    audits = tmp_path / "audits"
    params = Params(
        ingest=IngestParams(workers=1),
        embed=EmbedParams(cache_dir=str(tmp_path / "cache"), workers=1),
        train=TrainParams(max_epochs=5, val_fraction=0.25),
    )
    ingest.run(params, root, audits)
    embed.run(params, root, audits)
    # duplicates.parquet as the duplicates stage writes it: one cluster of near twins
    pd.DataFrame(
        {
            "path_a": ["images/train/cat/1.png"],
            "path_b": ["images/train/cat/2.png"],
            "cluster_id": [0],
        }
    ).to_parquet(audits / artifacts.DUPLICATES)
    summary = train.run(params, root, audits)
    carved = summary["val_split"]
    assert carved["source"].startswith("carved from train") and carved["fraction"] == 0.25
    val = set(carved["paths"])
    assert summary["n_val"] == len(val) and 6 <= len(val) <= 14  # about a quarter of 41
    assert {p.split("/")[2] for p in val} == {"cat", "dog"}  # stratified
    for pair in (
        {"images/train/cat/1.png", "images/train/cat/2.png"},  # near twins (one cluster)
        {"images/train/cat/0.png", "images/train/cat/0_copy.png"},  # the same bytes
    ):
        assert pair <= val or not (pair & val)  # twins never straddle train and val
    preds = pd.read_parquet(audits / artifacts.PREDICTIONS)
    assert set(preds.loc[preds["split"] == "val", "path"]) == val
    assert set(preds.loc[preds["split"] == "test", "path"]) == {
        p for p in (str(f.relative_to(root)) for f in root.rglob("*.png")) if "/test/" in p
    }
    again = train.run(params, root, audits)
    assert again["val_split"]["paths"] == carved["paths"]  # seeded
