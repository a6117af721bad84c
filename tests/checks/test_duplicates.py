"""Duplicates: a small hand-built case with every kind of twin, and the demo's planted truth."""

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageOps

from curator import artifacts
from curator.errors import ConfigError, MissingArtifactError
from curator.features.edits import CALIBRATION_EDITS
from curator.params import DuplicatesParams, EmbedParams, IngestParams, Params
from curator.stages import duplicates, embed, hash, ingest
from tests.conftest import smooth_image


def audit(root, tmp_path, **duplicates_params) -> tuple:
    params = Params(
        ingest=IngestParams(workers=1),
        embed=EmbedParams(cache_dir=str(tmp_path / "cache"), workers=1),
        duplicates=DuplicatesParams(**duplicates_params),
    )
    audits = tmp_path / "audits"
    for stage in (ingest, hash, embed, duplicates):
        summary = stage.run(params, root, audits)
    pairs = pd.read_parquet(audits / artifacts.DUPLICATES)
    leaks = pd.read_parquet(audits / artifacts.LEAKAGE)
    flags = pd.read_parquet(audits / artifacts.findings("duplicates"))
    return summary, pairs, leaks, flags


@pytest.fixture
def twins(tmp_path):
    root = tmp_path / "data"
    img = lambda split, label, name: root / "images" / split / label / name  # noqa: E731
    for p in [
        img("train", "cat", "a.png"),
        img("test", "cat", "a_copy.png"),
        img("train", "dog", "b.png"),
        img("val", "dog", "b_big.jpg"),
        img("train", "cat", "c.png"),
        img("train", "cat", "c_same_pixels.png"),
        img("train", "cat", "d.png"),
        img("train", "dog", "d_copy.png"),
    ]:
        p.parent.mkdir(parents=True, exist_ok=True)
    smooth_image(1, 64).save(img("train", "cat", "a.png"))
    shutil.copy(img("train", "cat", "a.png"), img("test", "cat", "a_copy.png"))
    smooth_image(2, 64).save(img("train", "dog", "b.png"))
    smooth_image(2, 64).resize((96, 96)).save(img("val", "dog", "b_big.jpg"), quality=92)
    smooth_image(3, 64).save(img("train", "cat", "c.png"))
    smooth_image(3, 64).save(img("train", "cat", "c_same_pixels.png"), compress_level=0)
    smooth_image(4, 64).save(img("train", "cat", "d.png"))
    shutil.copy(img("train", "cat", "d.png"), img("train", "dog", "d_copy.png"))
    for k in range(10, 30):  # distinct pictures in every split
        split = ("train", "val", "test")[k % 3]
        path = img(split, ("cat", "dog")[k % 2], f"other{k}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        smooth_image(k, 64).save(path)
    # b and its resized copy were taken at different sites: a metadata conflict
    paths = sorted(str(p.relative_to(root)) for p in root.rglob("*.*"))
    site = ["site-B" if p.endswith("b_big.jpg") else "site-A" for p in paths]
    pd.DataFrame({"path": paths, "site": site}).to_csv(root / "metadata.csv", index=False)
    return root


@pytest.mark.parametrize("block", [4096, 3])  # 3: maps and pairs in many small blocks
def test_every_kind_of_twin(twins, tmp_path, monkeypatch, block):
    monkeypatch.setattr("curator.features.edges.PAIR_BLOCK", block)
    monkeypatch.setattr("curator.features.edges.CHUNK", block)
    summary, pairs, leaks, flags = audit(twins, tmp_path, conflict_attributes=("site",))
    got = {(r.path_a.split("/")[-1], r.path_b.split("/")[-1]): r.kind for r in pairs.itertuples()}
    assert got == {
        ("a_copy.png", "a.png"): "exact_bytes",
        ("d.png", "d_copy.png"): "exact_bytes",
        ("b.png", "b_big.jpg"): "near",
        ("c.png", "c_same_pixels.png"): "exact_pixels",
    }
    near = pairs[pairs["kind"] == "near"].iloc[0]
    assert near["edge_correlation"] > 0.95 and near["phash_distance"] <= 4
    assert near["distance_ratio"] < 0.2 and near["score"] == 1 - near["distance_ratio"]
    assert set(leaks["path"].str.split("/").str[-1]) == {"a_copy.png", "b_big.jpg"}
    assert set(leaks["twin_split"]) == {"train"}
    assert summary["leakage"]["test"]["leaked"] == 1 and summary["leakage"]["val"]["leaked"] == 1
    assert summary["n_clusters"] == 4 and summary["n_label_conflict_clusters"] == 1
    dup = flags[flags["issue"] == "duplicate"]
    assert (
        "suggested keeper images/train/cat/a.png"
        in dup.set_index("path").at["images/test/cat/a_copy.png", "detail"]
    )  # the train copy is kept
    conflict = flags[flags["issue"] == "duplicate_label_conflict"]
    assert set(conflict["path"]) == {"images/train/cat/d.png", "images/train/dog/d_copy.png"}
    site = flags[flags["issue"] == "duplicate_attribute_conflict"].set_index("path")
    assert set(site.index) == {"images/train/dog/b.png", "images/val/dog/b_big.jpg"}
    assert site["score"].tolist() == [0.5, 0.5]
    detail = site.at["images/val/dog/b_big.jpg", "detail"]
    assert "site 'site-B'" in detail and "images/train/dog/b.png: site-A" in detail
    assert summary["n_conflict_clusters_by_column"] == {"label": 1, "site": 1}
    assert pairs["score"].is_monotonic_decreasing  # worst (surest) first


def test_unknown_conflict_attribute_is_refused(twins, tmp_path):
    with pytest.raises(ConfigError, match=r"duplicates\.conflict_attributes names 'camera'"):
        audit(twins, tmp_path, conflict_attributes=("camera",))


def test_candidates_are_bounded_when_every_image_looks_alike(tmp_path):
    """60 near-blank images lie within every hash radius of one another: a radius search
    proposes all 1,770 pairs; k nearest neighbours, at most 5 x k per image (three hashes, the
    mirrored dHash, the embedding)."""
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for k in range(60):
        split = ("train", "val", "test")[k % 3]
        path = root / "images" / split / "blank" / f"{k}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        grey = 120 + rng.normal(0, 1.5, (48, 48))
        Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).convert("RGB").save(path)
    k = 3
    summary, *_ = audit(
        root,
        tmp_path,
        knn_k=k,
        hash_knn_k=k,
        max_phash_distance=32,
        max_dhash_distance=32,
        max_whash_distance=32,
        min_cosine_similarity=-1.0,
    )
    assert summary["max_proposals_per_image"] == 5 * k
    assert 60 <= summary["n_candidate_pairs"] <= 5 * k * 60 < 60 * 59 // 2
    assert summary["n_images"] == 60


def test_demo_planted_duplicates_and_leaks(demo_data, tmp_path):
    root, truth = demo_data
    _, pairs, leaks, _ = audit(root, tmp_path)
    found = {frozenset((a, b)) for a, b in zip(pairs["path_a"], pairs["path_b"], strict=True)}
    exact = {frozenset((p["a"], p["b"])) for p in truth["exact_duplicates"]}
    near = {frozenset((p["a"], p["b"])) for p in truth["near_duplicates"]}
    assert exact <= found  # 100% of exact duplicates
    near_found = pairs[pairs["kind"] == "near"]
    near_pairs = {
        frozenset((a, b)) for a, b in zip(near_found["path_a"], near_found["path_b"], strict=True)
    }
    recall = len(near & near_pairs) / len(near)
    precision = len(near & near_pairs) / max(len(near_pairs), 1)
    assert recall >= 0.95 and precision >= 0.95, (recall, precision)
    planted_leaks = {p["b"] for p in truth["near_duplicates"]} | {
        p["b"] for p in truth["exact_duplicates"] if p["cross_split"]
    }
    assert planted_leaks <= set(leaks["path"])


def test_no_duplicates_at_all(image_folder, tmp_path):
    summary, pairs, leaks, flags = audit(image_folder, tmp_path)
    assert pairs.empty and leaks.empty and flags.empty
    assert summary["n_clusters"] == 0 and summary["n_leaked"] == 0
    assert summary["leakage"]["test"] == {
        "n": 6,
        "leaked": 0,
        "leaked_pct": 0.0,
        "leaked_from_train": 0,
        "leaked_only_from_other_splits": 0,
    }


def test_leaks_say_whether_the_twin_is_in_train(twins, tmp_path):
    """The Model Card counts test images with a train twin; the dataset audit counts every
    earlier split: the summary gives both, so each page can say why they differ."""
    val = twins / "images" / "val" / "dog"
    shutil.copy(twins / "images" / "test" / "dog" / "other11.png", val / "other11_copy.png")
    summary, _, leaks, _ = audit(twins, tmp_path)
    test = summary["leakage"]["test"]
    assert test["leaked"] == 2 and test["leaked_from_train"] == 1
    assert test["leaked_only_from_other_splits"] == 1
    assert set(leaks.loc[leaks["split"] == "test", "twin_split"]) == {"train", "val"}


def test_edited_copies_of_the_users_images_measure_the_rule(demo_data, tmp_path):
    """duplicates.json says how many edited copies of the user's own images the rule finds:
    a real measurement (copies planted, scored and decided like real pairs), higher for a
    looser ratio, per edit, and what each looser ratio would accept."""
    root, _ = demo_data
    summary, pairs, _, _ = audit(root, tmp_path, calibration_copies=120)
    cal = summary["calibration"]
    assert cal["n_copies"] == 120
    assert set(cal["recall_by_edit"]) <= set(CALIBRATION_EDITS)
    assert sum(e["n"] for e in cal["recall_by_edit"].values()) >= 120  # one or two edits each
    steps = cal["at_ratio"]
    recalls = [s["recall"] for s in steps]
    assert recalls == sorted(recalls) and recalls[0] < recalls[-1]
    assert [s["n_pairs"] for s in steps] == sorted(s["n_pairs"] for s in steps)
    used = summary["max_distance_ratio"]
    at_threshold = next(s for s in steps if s["max_distance_ratio"] == used)
    assert at_threshold["recall"] == cal["recall"] and 0.6 < cal["recall"] < 1
    assert at_threshold["n_pairs"] == (pairs["kind"] == "near").sum()
    # the null model: fewer different pictures expected at a stricter ratio, the share right
    # at the setting is the summary's (every planted near pair of the demo is a real copy)
    expected = [s["expected_false_pairs"] for s in steps]
    assert expected == sorted(expected) and expected[0] < expected[-1]
    assert cal["null_model"]["dimension"] > 1
    assert cal["precision"] == at_threshold["precision"] > 0.95
    # the ratio in use is the loosest whose estimated precision keeps min_precision
    choice = summary["distance_ratio_choice"]
    assert choice["max_allowed"] == 0.5 and choice["min_precision"] == 0.95
    assert 0.2 <= used <= 0.5 and at_threshold["precision"] >= 0.95
    looser = [s for s in steps if s["max_distance_ratio"] > used]
    assert used == 0.5 or looser[0]["precision"] < 0.95, choice["stopped"]
    none = audit(root, tmp_path / "none", calibration_copies=0)[0]
    assert none["calibration"] == {"n_copies": 0}


def test_too_few_images_to_estimate_precision_say_so(twins, tmp_path):
    """28 files: too few images to fit the null model to, so no share of right pairs is given,
    with the reason, while the copies found are still measured."""
    cal = audit(twins, tmp_path, calibration_copies=20)[0]["calibration"]
    assert cal["n_copies"] == 20 and 0 <= cal["recall"] <= 1
    assert cal["precision"] is None
    assert "fewer than 100 images" in cal["null_model"]["not_estimated"]
    assert all(s["precision"] is None for s in cal["at_ratio"])


def test_a_copy_with_an_unknown_value_is_no_conflict():
    from curator.checks.duplicates import _conflict_flags, _conflicts

    members = pd.DataFrame(
        {
            "path": ["a.png", "b.png", "c.png", "d.png", "e.png"],
            "sample_id": ["1" * 64, "2" * 64, "3" * 64, "4" * 64, "5" * 64],
            "cluster_id": [0, 0, 1, 1, 1],
            "label": ["cat"] * 5,
            "site": ["A", None, "A", "B", ""],
        }
    )
    conflicts = _conflicts(members, ("site",))
    assert conflicts == {"label": set(), "site": {1}}  # cluster 0: A and unknown agree
    rows = _conflict_flags(members, conflicts)
    assert [r["path"] for r in rows] == ["c.png", "d.png"]  # e.png has nothing to be wrong about
    assert [r["score"] for r in rows] == [0.5, 0.5]
    assert "e.png: (unknown)" in rows[0]["detail"]


def test_a_mirrored_copy_is_found_and_said_to_be_mirrored(twins, tmp_path):
    """A photo flipped left to right (the commonest augmentation) is proposed by its mirrored
    dHash, scored with one side's edge map mirrored, and reported as a mirrored twin."""
    source = twins / "images" / "train" / "cat" / "other12.png"
    flipped = twins / "images" / "test" / "cat" / "other12_flipped.png"
    ImageOps.mirror(Image.open(source)).save(flipped)
    _, pairs, _, flags = audit(twins, tmp_path)
    names = pairs["path_a"].str.split("/").str[-1] + " " + pairs["path_b"].str.split("/").str[-1]
    mine = pairs[names.isin(["other12.png other12_flipped.png", "other12_flipped.png other12.png"])]
    assert len(mine) == 1
    assert mine["kind"].iloc[0] == "near" and bool(mine["mirrored"].iloc[0])
    assert "mirror" in mine["methods"].iloc[0] and mine["mirror_distance"].iloc[0] == 0
    assert bool(pairs.loc[pairs["kind"] == "near", "mirrored"].sum() == 1)  # b_big is not
    leak = flags[(flags["issue"] == "leak") & flags["path"].str.endswith("other12_flipped.png")]
    assert len(leak) == 1
    detail = flags.loc[flags["path"].str.endswith("other12_flipped.png"), "detail"]
    assert detail.str.contains("mirrored near-duplicate of").any()


def test_hashes_from_before_mirrors_ask_for_the_hash_stage_again(twins, tmp_path):
    audit(twins, tmp_path)
    hashes_file = tmp_path / "audits" / artifacts.HASHES
    pd.read_parquet(hashes_file).drop(columns=["dhash_mirror"]).to_parquet(hashes_file)
    params = Params(
        ingest=IngestParams(workers=1),
        embed=EmbedParams(cache_dir=str(tmp_path / "cache"), workers=1),
    )
    with pytest.raises(MissingArtifactError, match="run `curator hash` again"):
        duplicates.run(params, twins, tmp_path / "audits")
