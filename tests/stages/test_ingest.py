import errno
import hashlib
import json
import os

import pandas as pd
import pytest

from curator import artifacts
from curator.errors import DataError, OutputError
from curator.io.tables import atomic_path
from curator.params import IngestParams, Params
from curator.stages import ingest
from tests.conftest import tree_digest, write_image


@pytest.fixture(scope="module")
def demo_ingest(demo_data, tmp_path_factory):
    root, truth = demo_data
    before = tree_digest(root)
    audits = tmp_path_factory.mktemp("audits")
    summary = ingest.run(Params(), root, audits)
    return root, truth, audits, summary, before


def test_every_planted_bad_file_found_with_its_reason(demo_ingest):
    _, truth, audits, summary, _ = demo_ingest
    flags = pd.read_parquet(audits / artifacts.findings("ingest"))
    reasons = dict(zip(flags["path"], flags["detail"], strict=True))
    expected = {
        "empty": "empty file (0 bytes)",
        "truncated": "truncated or corrupt image data: image file is truncated",
        "not_image": "not an image: Pillow cannot identify the file format",
    }
    assert set(reasons) == {b["path"] for b in truth["bad_files"]}
    for bad in truth["bad_files"]:
        assert reasons[bad["path"]].startswith(expected[bad["kind"]])
    assert set(flags["issue"]) == {"corrupt"}
    assert summary["n_unreadable"] == 3


def test_manifest_has_every_file_with_content_ids(demo_ingest):
    root, truth, audits, summary, _ = demo_ingest
    manifest = pd.read_parquet(audits / artifacts.MANIFEST)
    assert len(manifest) == truth["n_files"] == summary["n_files"]
    row = manifest.iloc[7]
    assert row["sample_id"] == hashlib.sha256((root / row["path"]).read_bytes()).hexdigest()
    assert {"site", "device"} <= set(manifest.columns)
    assert manifest["site"].notna().all()
    ok = manifest[manifest["readable"]]
    assert set(ok["width"]) <= {64, 80} and set(ok["format"]) == {"PNG", "JPEG"}
    for pair in truth["exact_duplicates"]:
        ids = manifest.set_index("path").loc[[pair["a"], pair["b"]], "sample_id"]
        assert ids.nunique() == 1
    assert summary["n_unique_contents"] == len(manifest) - len(truth["exact_duplicates"])


def test_annotations_joined_by_path(demo_ingest):
    root, _, audits, summary, _ = demo_ingest
    votes = pd.read_parquet(audits / artifacts.ANNOTATIONS)
    raw = pd.read_csv(root / "annotations.csv", dtype=str)
    assert len(votes) == len(raw) == summary["n_annotation_votes"]
    assert votes["sample_id"].str.len().eq(64).all()


def test_data_folder_untouched_and_no_temp_files(demo_ingest):
    root, _, audits, _, before = demo_ingest
    assert tree_digest(root) == before
    assert not [p for p in audits.rglob("*.tmp")]
    json.loads((audits / artifacts.INGEST_SUMMARY).read_text())


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_manifest_layout_with_metadata_clash(tmp_path, as_url):
    root = tmp_path / "data"
    write_image(root / "a.png")
    (root / "list.csv").write_text("path,label,split,site\na.png,1,train,x\n")
    (root / "metadata.csv").write_text("path,site\na.png,y\n")
    params = Params(ingest=IngestParams(manifest="list.csv"))
    where = f"file://{root}" if as_url else root  # a URL root gave a TypeError here
    with pytest.raises(DataError, match=r"metadata\.csv: column\(s\) site are also in the"):
        ingest.run(params, where, tmp_path / "audits")
    (root / "metadata.csv").write_text("path,scanner\na.png,s1\n")
    ingest.run(params, root, tmp_path / "audits")
    manifest = pd.read_parquet(tmp_path / "audits" / artifacts.MANIFEST)
    assert manifest[["site", "scanner"]].iloc[0].tolist() == ["x", "s1"]


@pytest.mark.parametrize("key", ["metadata", "annotations"])
def test_metadata_and_annotations_outside_the_data_folder_are_refused(tmp_path, key):
    root = tmp_path / "data"
    write_image(root / "images" / "train" / "cat" / "a.png")
    (tmp_path / "secret.csv").write_text("path,site\nimages/train/cat/a.png,x\n")
    params = Params(ingest=IngestParams(**{key: "../secret.csv"}))
    with pytest.raises(DataError, match=rf"params: ingest.{key}: path '../secret.csv' is not"):
        ingest.run(params, root, tmp_path / "audits")
    assert not (tmp_path / "audits" / artifacts.MANIFEST).exists()


def test_images_left_out_of_a_manifest_are_listed_in_ingest_json(tmp_path):
    root = tmp_path / "data"
    for name in ("a.png", "b.png", "more/c.png"):
        write_image(root / name)
    (root / "list.csv").write_text("path,label,split\na.png,1,train\n")
    summary = ingest.run(Params(ingest=IngestParams(manifest="list.csv")), root, tmp_path / "a")
    assert summary["ignored_files"] == ["b.png", "more/c.png"] and summary["n_files"] == 1


def test_missing_data_folder_says_how_to_get_one(tmp_path):
    with pytest.raises(DataError, match="run `curator demo --out"):
        ingest.run(Params(), tmp_path / "nope", tmp_path / "audits")


def test_parallel_and_serial_decoding_agree(image_folder, tmp_path):
    for i in range(70):  # enough files to take the process-pool path
        write_image(
            image_folder / "images" / "train" / "cat" / f"extra{i}.jpg", seed=100 + i, fmt="JPEG"
        )
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"audits{workers}"
        ingest.run(Params(ingest=IngestParams(workers=workers)), image_folder, out)
        outs.append(pd.read_parquet(out / artifacts.MANIFEST))
    pd.testing.assert_frame_equal(outs[0], outs[1])


def test_unreadable_file_is_a_finding_not_a_crash(image_folder, tmp_path):
    # A dangling symlink inside the data folder: listed like any file, unreadable at decode.
    os.symlink(image_folder / "gone.png", image_folder / "images" / "train" / "cat" / "9.png")
    ingest.run(Params(ingest=IngestParams(workers=1)), image_folder, tmp_path / "a")
    flags = pd.read_parquet(tmp_path / "a" / artifacts.findings("ingest"))
    assert flags["path"].tolist() == ["images/train/cat/9.png"]
    assert flags["detail"].tolist() == ["cannot read file: No such file or directory"]


def test_annotation_oddities_are_reported_not_fatal(image_folder, tmp_path):
    (image_folder / "annotations.csv").write_text(
        "path,annotator,label\n"
        "images/train/cat/0.png,ann1,cat\n"
        "images/train/cat/0.png,ann2,\n"  # abstention
        "images/train/cat/gone.png,ann1,dog\n"  # no such image
    )
    summary = ingest.run(Params(ingest=IngestParams(workers=1)), image_folder, tmp_path / "a")
    votes = pd.read_parquet(tmp_path / "a" / artifacts.ANNOTATIONS)
    assert votes[["path", "annotator", "label"]].values.tolist() == [
        ["images/train/cat/0.png", "ann1", "cat"]
    ]
    assert summary["annotations_unmatched_rows"] == 1 and summary["n_annotation_votes"] == 1


def test_a_fifo_named_png_is_a_finding_not_a_hang(image_folder, tmp_path):
    os.mkfifo(image_folder / "images" / "train" / "cat" / "pipe.png")
    ingest.run(Params(ingest=IngestParams(workers=1)), image_folder, tmp_path / "a")
    flags = pd.read_parquet(tmp_path / "a" / artifacts.findings("ingest"))
    assert flags["path"].tolist() == ["images/train/cat/pipe.png"]
    assert "is not a regular file" in flags["detail"].iloc[0]


def test_a_backslash_file_is_audited_with_its_own_bytes(image_folder, tmp_path):
    cat = image_folder / "images" / "train" / "cat"
    write_image(cat / "a\\b.png", seed=50)
    write_image(cat / "a" / "b.png", seed=51)
    ingest.run(Params(ingest=IngestParams(workers=1)), image_folder, tmp_path / "a")
    manifest = pd.read_parquet(tmp_path / "a" / artifacts.MANIFEST).set_index("path")
    own = hashlib.sha256((cat / "a\\b.png").read_bytes()).hexdigest()
    assert manifest.at["images/train/cat/a\\b.png", "sample_id"] == own


def test_a_failure_between_two_outputs_leaves_every_old_output(image_folder, tmp_path, monkeypatch):
    audits = tmp_path / "a"
    ingest.run(Params(ingest=IngestParams(workers=1)), image_folder, audits)
    before = tree_digest(audits)
    write_image(image_folder / "images" / "train" / "cat" / "new.png", seed=77)

    def disk_full(doc, target):
        with atomic_path(target):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ingest, "write_json", disk_full)  # after the three parquet tables
    with pytest.raises(OutputError, match=r"ingest\.json: No space left"):
        ingest.run(Params(ingest=IngestParams(workers=1)), image_folder, audits)
    assert tree_digest(audits) == before  # no new manifest beside the old ingest.json
