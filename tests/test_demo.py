import json

import pytest
from PIL import Image

from curator.demo import write_demo
from curator.errors import DataError
from tests.conftest import tree_digest


def test_same_seed_same_bytes(tmp_path, demo_data):
    root, _ = demo_data
    again = tmp_path / "again"
    write_demo(again, seed=0, per_class=40)
    assert {k: v[0] for k, v in tree_digest(again).items()} == {
        k: v[0] for k, v in tree_digest(root).items()
    }


def test_other_seed_other_bytes(tmp_path, demo_data):
    root, _ = demo_data
    other = tmp_path / "other"
    write_demo(other, seed=1, per_class=40)
    assert tree_digest(other).keys() != tree_digest(root).keys() or any(
        tree_digest(other)[k][0] != v[0] for k, v in tree_digest(root).items()
    )


def test_truth_matches_the_files(demo_data):
    root, truth = demo_data
    assert json.loads((root / "demo_truth.json").read_text()) == truth
    read = lambda p: (root / p).read_bytes()  # noqa: E731
    for pair in truth["exact_duplicates"]:
        assert read(pair["a"]) == read(pair["b"])
    assert any(p["cross_split"] for p in truth["exact_duplicates"])
    for pair in truth["near_duplicates"]:
        assert read(pair["a"]) != read(pair["b"])
        assert pair["a"].split("/")[1] == "train" and pair["b"].split("/")[1] in ("val", "test")
    assert {p["transform"] for p in truth["near_duplicates"]} == {
        "reencode",
        "resize",
        "shift",
        "brighten",
    }
    for flip in truth["label_flips"]:
        assert flip["given_label"] != flip["true_label"]
        assert flip["path"].split("/")[2] == flip["given_label"]
    assert {f["split"] for f in truth["label_flips"]} == {"train", "test"}
    kinds = {b["kind"]: b["path"] for b in truth["bad_files"]}
    assert read(kinds["empty"]) == b""
    assert kinds["truncated"].endswith(".jpg") and read(kinds["truncated"])[:2] == b"\xff\xd8"
    assert kinds["not_image"].endswith(".png")


def test_images_are_real_64px_and_mixed_formats(demo_data):
    root, truth = demo_data
    bad = {b["path"] for b in truth["bad_files"]}
    formats = set()
    for path in sorted((root / "images").rglob("*"))[:200]:
        if path.is_file() and path.relative_to(root).as_posix() not in bad:
            with Image.open(path) as img:
                formats.add(img.format)
                assert img.size in ((64, 64), (80, 80))
    assert formats == {"PNG", "JPEG"}


def test_annotators_and_minority(demo_data):
    _, truth = demo_data
    spammers = [a for a, v in truth["annotators"].items() if v["near_spammer"]]
    assert len(spammers) == 1
    assert truth["annotators"][spammers[0]]["realized_accuracy"] < 0.4


def test_refuses_to_overwrite(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.png").write_bytes(b"x")
    with pytest.raises(DataError, match="not empty; curator never overwrites"):
        write_demo(tmp_path / "data")
    assert (tmp_path / "data" / "mine.png").read_bytes() == b"x"
