import os
from pathlib import Path

import pytest

from curator.errors import DataError
from curator.io.sources import list_imagefolder, list_manifest, read_annotations, read_metadata
from curator.params import IngestParams
from tests.conftest import write_image

PARAMS = IngestParams()


def manifest_root(tmp_path: Path, rows: str) -> Path:
    root = tmp_path / "data"
    for name in ("a.png", "b.png", "sub/c.jpg"):
        write_image(root / name, fmt="JPEG" if name.endswith("jpg") else "PNG")
    (root / "manifest.csv").write_text(rows)
    return root


def test_manifest_reads_rows_and_extra_columns(tmp_path):
    root = manifest_root(tmp_path, "path,label,split,site\nb.png,1,test,x\na.png,01,train,y\n")
    listing = list_manifest(root, "manifest.csv", PARAMS)
    assert listing.files["path"].tolist() == ["a.png", "b.png"]
    assert listing.files["label"].tolist() == ["01", "1"]  # labels stay text
    assert listing.files["site"].tolist() == ["y", "x"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("path,label\na.png,1\n", "manifest.csv: missing column(s) split"),
        ("path,label,split\na.png,,train\n", "manifest.csv line 2: column 'label' is empty"),
        (
            "path,label,split\na.png,1,train\nb.png,1,holdout\n",
            "manifest.csv line 3: split 'holdout' is not one of",
        ),
        (
            "path,label,split\na.png,1,train\nb.png,1,test\na.png,2,test\n",
            "manifest.csv line 4: a.png is already listed on line 2",
        ),
        (
            "path,label,split\nmissing.png,1,train\n",
            "manifest.csv line 2: missing.png does not exist",
        ),
        (
            "path,label,split\n../outside.png,1,train\n",
            "manifest.csv line 2: path '../outside.png' is not inside the data folder",
        ),
        (
            "path,label,split\n/etc/passwd,1,train\n",
            "manifest.csv line 2: path '/etc/passwd' is not inside the data folder",
        ),
        ("path,label,split\n", "manifest.csv lists no images (a header and no rows)"),
        (
            "path,label,split\na.png,0,train\nb.png, 0 ,test\n",
            "manifest.csv line 3: label ' 0 ' has spaces around it and would be a class apart "
            "from '0'; remove the spaces.",
        ),
        (
            "path,label,split\na.png,cat,train\nb.png,NaN,test\n",
            "manifest.csv line 3: label 'NaN' reads as a missing value, not a class",
        ),
        (
            "path,label,split\na.png,cat,train\nb.png,None,test\n",
            "manifest.csv line 3: label 'None' reads as a missing value, not a class",
        ),
    ],
)
def test_manifest_errors_name_file_line_and_fix(tmp_path, rows, message):
    root = manifest_root(tmp_path, rows)
    with pytest.raises(DataError, match=None) as err:
        list_manifest(root, "manifest.csv", PARAMS)
    assert message in str(err.value)


def test_symlink_escaping_the_root_is_refused(tmp_path):
    outside = write_image(tmp_path / "elsewhere" / "x.png")
    root = manifest_root(tmp_path, "path,label,split\nlink.png,1,train\n")
    os.symlink(outside, root / "link.png")
    with pytest.raises(DataError, match=r"resolves to .* outside the data folder"):
        list_manifest(root, "manifest.csv", PARAMS)


def test_imagefolder_lists_sorted_and_reports_ignored(image_folder):
    (image_folder / "images" / "train" / "cat" / "notes.txt").write_text("hi")
    (image_folder / "images" / "train" / "stray.png").write_bytes(b"")
    listing = list_imagefolder(image_folder, PARAMS)
    assert len(listing.files) == 12
    assert listing.files["path"].is_monotonic_increasing
    assert set(listing.files["label"]) == {"cat", "dog"}
    assert sorted(listing.ignored) == ["images/train/cat/notes.txt", "images/train/stray.png"]


def test_imagefolder_unknown_split_names_the_fix(image_folder):
    write_image(image_folder / "images" / "holdout" / "cat" / "x.png")
    with pytest.raises(DataError, match=r"'holdout' is not one of .* add it to ingest"):
        list_imagefolder(image_folder, PARAMS)


def test_imagefolder_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"is not a folder; put images in images/<split>"):
        list_imagefolder(tmp_path, PARAMS)


def test_metadata_reserved_column_and_duplicates(tmp_path):
    root = manifest_root(tmp_path, "")
    (root / "m.csv").write_text("path,label\na.png,x\n")
    with pytest.raises(DataError, match=r"label are reserved for the manifest"):
        read_metadata(root, "m.csv", {"a.png"})
    (root / "m.csv").write_text("path,site\na.png,x\na.png,y\n")
    with pytest.raises(DataError, match=r"m.csv line 3: a.png appears twice"):
        read_metadata(root, "m.csv", {"a.png"})


def votes(root, rows, classes=("1", "2")):
    (root / "v.csv").write_text("path,annotator,label\n" + rows)
    return read_annotations(root, "v.csv", {"a.png"}, set(classes), PARAMS.missing_label_values)


def test_annotations_one_vote_per_annotator(tmp_path):
    root = manifest_root(tmp_path, "")
    with pytest.raises(DataError, match=r"v.csv line 3: annotator 'ann' already voted on a.png"):
        votes(root, "a.png,ann,1\na.png,ann,2\n")
    (root / "v.csv").write_text("path,annotator\na.png,ann\n")
    with pytest.raises(DataError, match=r"missing column.*label"):
        read_annotations(root, "v.csv", {"a.png"}, {"1"}, ())


def test_a_vote_must_be_a_class_of_the_dataset(tmp_path):
    root = manifest_root(tmp_path, "")
    assert votes(root, "a.png,ann,1\na.png,bob,2\n")["label"].tolist() == ["1", "2"]
    with pytest.raises(
        DataError,
        match=r"v.csv line 3: vote 'dgo' is not a class of the dataset "
        r"\(cat, dog\); fix the vote",
    ):
        votes(root, "a.png,ann,cat\na.png,bob,dgo\n", classes=("cat", "dog"))
    with pytest.raises(DataError, match=r"v.csv line 2: vote 'null' reads as a missing value"):
        votes(root, "a.png,ann,null\n")
    assert len(votes(root, "a.png,ann,\na.png,bob,1\n")) == 1  # an empty vote abstains


def test_images_a_manifest_leaves_out_are_listed_not_dropped(tmp_path):
    root = manifest_root(tmp_path, "path,label,split\na.png,1,train\n")
    (root / "notes.txt").write_text("not an image")
    listing = list_manifest(root, "manifest.csv", PARAMS)
    assert listing.files["path"].tolist() == ["a.png"]
    assert listing.ignored == ("b.png", "sub/c.jpg")  # reported in ingest.json


@pytest.mark.parametrize("where", ["/etc/passwd", "../outside.csv"])
def test_params_tables_must_live_in_the_data_folder(tmp_path, where):
    root = manifest_root(tmp_path, "path,label,split\na.png,1,train\n")
    with pytest.raises(DataError, match=r"params: ingest.manifest: path .* is not inside the data"):
        list_manifest(root, where, PARAMS)


def test_a_backslash_is_part_of_a_file_name_not_a_separator(image_folder):
    cat = image_folder / "images" / "train" / "cat"
    write_image(cat / "a\\b.png", seed=50)
    write_image(cat / "a" / "b.png", seed=51)  # the file a separator would have read instead
    listing = list_imagefolder(image_folder, PARAMS)
    assert "images/train/cat/a\\b.png" in set(listing.files["path"])
    assert listing.ignored == ("images/train/cat/a/b.png",)


def test_a_file_name_that_is_not_utf8_is_listed_escaped(image_folder):
    cat = os.fsencode(image_folder / "images" / "train" / "cat")
    with open(cat + b"/\xff\xfe.png", "wb") as fh:
        fh.write((image_folder / "images" / "train" / "cat" / "0.png").read_bytes())
    listing = list_imagefolder(image_folder, PARAMS)
    assert len(listing.files) == 12
    assert listing.ignored == ("images/train/cat/\\xff\\xfe.png",)


def test_symlinked_class_folders_are_followed_inside_the_data_folder(image_folder):
    images = image_folder / "images"
    (image_folder / "raw").mkdir()
    os.rename(images / "train" / "dog", image_folder / "raw" / "dog")
    os.symlink(image_folder / "raw" / "dog", images / "train" / "dog")
    os.symlink(images / "train", images / "train" / "cat" / "loop")  # a cycle ends
    listing = list_imagefolder(image_folder, PARAMS)
    assert len(listing.files) == 12
    assert "images/train/dog/0.png" in set(listing.files["path"])


def test_a_symlinked_folder_leaving_the_data_folder_is_listed_not_followed(image_folder, tmp_path):
    os.rename(image_folder / "images" / "train" / "dog", tmp_path / "dog")
    os.symlink(tmp_path / "dog", image_folder / "images" / "train" / "dog")
    listing = list_imagefolder(image_folder, PARAMS)
    assert len(listing.files) == 9
    assert listing.ignored == tuple(f"images/train/dog/{i}.png" for i in range(3))


@pytest.mark.parametrize("images_dir", ["/etc", "../images"])
def test_images_dir_must_be_inside_the_data_folder(image_folder, images_dir):
    with pytest.raises(DataError, match=r"params: ingest.images_dir: path .* is not inside"):
        list_imagefolder(image_folder, IngestParams(images_dir=images_dir))
