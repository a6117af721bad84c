"""Contract: every registered check returns the one result shape."""

import dataclasses
import json
import re

import pandas as pd
import pytest

from curator import artifacts
from curator.artifacts import ISSUE_COLUMNS
from curator.checks import REGISTRY, CheckInputs, run_check
from curator.checks.base import Check, make_flags
from curator.errors import ConfigError, MissingArtifactError
from curator.params import BalanceParams, EmbedParams, Params
from curator.stages import duplicates, embed, hash, ingest, load_embeddings, properties

# the demo plants no image conditions; tests/checks/test_properties.py plants each one
NOT_PLANTED_IN_DEMO = {"properties"}
# checks of detection datasets: the demo is a classification dataset
DETECTION_ONLY = {"boxes", "box_label_quality", "box_agreement"}


@pytest.fixture(scope="module")
def inputs(demo_data, tmp_path_factory):
    root, _ = demo_data
    audits = tmp_path_factory.mktemp("audits")
    params = Params(embed=EmbedParams(cache_dir=str(audits / "cache")))
    for stage in (ingest, hash, properties, embed):
        stage.run(params, root, audits)
    manifest = pd.read_parquet(audits / artifacts.MANIFEST)
    load, plant = duplicates.edge_map_loaders(manifest, root, params)
    return CheckInputs(
        manifest=manifest,
        annotations=pd.read_parquet(audits / artifacts.ANNOTATIONS),
        hashes=pd.read_parquet(audits / artifacts.HASHES),
        properties=pd.read_parquet(audits / artifacts.PROPERTIES),
        embeddings=load_embeddings(audits),
        load_edge_maps=load,
        plant_copies=plant,
    )


@pytest.mark.parametrize("name", sorted(set(REGISTRY) - DETECTION_ONLY))
def test_check_contract(name, inputs):
    params = Params(balance=BalanceParams(subgroups=("site", "device")))
    result = run_check(name, inputs, params)
    if name not in NOT_PLANTED_IN_DEMO:
        assert not result.flags.empty, f"{name} finds the demo's planted problems"
    _assert_contract(name, inputs, result)


@pytest.mark.parametrize("name", sorted(DETECTION_ONLY))
def test_detection_check_contract(name, tmp_path):
    """The detection checks, on the small detection dataset (a classification demo has no
    boxes), with a detector that finds every box but one, and two annotators."""
    from curator.io.boxes import read_boxes
    from curator.params import DetectionParams
    from tests.detection import write_coco, write_images

    write_images(tmp_path)
    detection = DetectionParams(format="coco", annotations=write_coco(tmp_path))
    listing = read_boxes(tmp_path, detection)
    images = listing.images.assign(sample_id=[f"{k:064x}" for k in range(len(listing.images))])
    preds = listing.boxes.iloc[1:][["path", "split", "label", "x0", "y0", "x1", "y1"]]
    preds = preds.assign(score=0.99)
    # two annotators: one drew every box, the other all but the first
    several = pd.concat(
        [listing.boxes.assign(annotator="a"), listing.boxes.iloc[1:].assign(annotator="b")]
    )
    labelled = pd.concat([images[["path"]].assign(annotator=n) for n in ("a", "b")])
    inputs = CheckInputs(
        manifest=images,
        boxes=listing.boxes,
        box_predictions=preds,
        box_annotations=several,
        box_annotated_images=labelled,
    )
    result = run_check(name, inputs, Params(detection=detection))
    _assert_contract(name, inputs, result)


def _assert_contract(name, inputs, result):
    assert result.name == name
    assert tuple(result.flags.columns) == ISSUE_COLUMNS
    assert set(result.flags["issue"]) <= set(REGISTRY[name].issues)
    assert result.flags["score"].between(0, 1).all()
    assert result.flags["sample_id"].str.len().eq(64).all()
    assert result.flags["detail"].str.len().gt(0).all()
    assert result.flags["path"].isin(inputs.manifest["path"]).all()
    json.dumps(result.summary, allow_nan=True, default=str)
    assert result.metrics and all(not isinstance(v, list) for v in result.metrics.values())


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        REGISTRY["x"] = REGISTRY["balance"]  # type: ignore[index]


def test_unknown_check():
    with pytest.raises(ConfigError, match="unknown check 'nope'"):
        run_check("nope", CheckInputs(manifest=pd.DataFrame()), Params())


def test_every_issue_name_belongs_to_exactly_one_check():
    declared = [issue for check in REGISTRY.values() for issue in check.issues]
    assert sorted(declared) == sorted(artifacts.ISSUE_NAMES)


@pytest.mark.parametrize(
    ("name", "missing", "message"),
    [
        (
            "duplicates",
            "hashes",
            "the duplicates check needs the perceptual hashes (`curator hash`)",
        ),
        ("duplicates", "embeddings", "the duplicates check needs the embeddings (`curator embed`)"),
        ("properties", "properties", "needs the image properties (`curator properties`)"),
        (
            "label_quality",
            "embeddings",
            "needs a model's probabilities (`--pred-probs FILE` or label_quality.pred_probs) or "
            "the embeddings (`curator embed`) or the images",
        ),
    ],
)
def test_run_check_refuses_a_missing_input_by_name(name, missing, message, inputs):
    without = dataclasses.replace(inputs, **{missing: None})
    with pytest.raises(MissingArtifactError, match=re.escape(message)):
        run_check(name, without, Params())


def test_a_check_that_flags_an_issue_it_did_not_declare_is_refused(inputs, monkeypatch):
    from curator import checks

    def sloppy(inputs, params):
        row = inputs.manifest.iloc[0]
        flags = make_flags(
            [
                {
                    "sample_id": row.sample_id,
                    "path": row.path,
                    "issue": "leak",
                    "score": 1.0,
                    "detail": "x",
                }
            ]
        )
        return checks.CheckResult("balance", flags, {}, {"n": 1})

    registry = dict(REGISTRY)
    registry["balance"] = dataclasses.replace(REGISTRY["balance"], run=sloppy)
    monkeypatch.setattr(checks, "REGISTRY", registry)
    with pytest.raises(ValueError, match=r"undeclared issues \['leak'\]"):
        run_check("balance", inputs, Params())


def test_a_declaration_naming_no_input_or_issue_is_refused():
    with pytest.raises(ValueError, match=r"unknown inputs \['hashses'\]"):
        Check("x", lambda i: None, None, "x", requires=("hashses",), issues=())  # type: ignore
    with pytest.raises(ValueError, match=r"issues \['leek'\]"):
        Check("x", lambda i: None, None, "x", requires=(), issues=("leek",))  # type: ignore


@pytest.mark.parametrize("score", [1.5, -0.1, float("nan")])
def test_scores_outside_zero_one_are_refused_where_flags_are_made(score):
    row = {"sample_id": "a" * 64, "path": "x.png", "issue": "leak", "score": score, "detail": "d"}
    with pytest.raises(ValueError, match=r"leak score .* for x.png is not in \[0, 1\]"):
        make_flags([row])


def test_checks_for_the_kind_of_dataset():
    from curator.checks import checks_for
    from curator.params import DetectionParams

    classification = [c.name for c in checks_for(Params())]
    assert not DETECTION_ONLY & set(classification) and "duplicates" in classification
    detection = Params(detection=DetectionParams(format="voc", annotations={"train": "t.txt"}))
    assert {c.name for c in checks_for(detection)} == DETECTION_ONLY
