"""Image conditions on pictures with one planted problem each, among ordinary ones."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from curator import artifacts
from curator.features.properties import image_properties
from curator.params import IngestParams, Params, PropertiesParams
from curator.stages import ingest, properties
from tests.conftest import smooth_image


def photo(seed: int, size: int = 64) -> Image.Image:
    """Colour blobs with fine texture: sharp, mid-grey on average, ~7 bits of entropy."""
    base = np.asarray(smooth_image(seed, size), np.float32)
    grain = np.random.default_rng(seed + 1000).normal(0, 6, base.shape)
    return Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8))


PLANTED = {  # file -> the findings it must raise, and how it is made
    "dark.png": ({"dark"}, lambda: ImageEnhance.Brightness(photo(1)).enhance(0.2)),
    # squeezed into the top 12% of the range: washed out, and little information is left
    "bright.png": (
        {"overexposed", "low_information"},
        lambda: photo(2).point(lambda v: 225 + v * 30 // 255),
    ),
    "blurred.png": ({"blurry"}, lambda: photo(3).filter(ImageFilter.GaussianBlur(2.5))),
    "blank.png": ({"low_information"}, lambda: Image.new("RGB", (64, 64), (90, 140, 200))),
    "tiny.png": ({"odd_size"}, lambda: photo(5).resize((20, 20))),
    "wide.png": ({"odd_size"}, lambda: photo(6).resize((64, 20))),  # squashed, not stretched
}


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conditions")
    folder = tmp / "data" / "images" / "train" / "a"
    folder.mkdir(parents=True)
    for k in range(40):
        photo(100 + k).save(folder / f"ok{k}.png")
    for name, (_, make) in PLANTED.items():
        make().save(folder / name)
    make_dark = PLANTED["dark.png"][1]
    make_dark().save(tmp / "data" / "images" / "train" / "a" / "dark_copy.png")  # same bytes
    params = Params(ingest=IngestParams(workers=1), properties=PropertiesParams(workers=1))
    ingest.run(params, tmp / "data", tmp / "audits")
    summary = properties.run(params, tmp / "data", tmp / "audits")
    flags = pd.read_parquet(tmp / "audits" / artifacts.findings("properties"))
    return summary, flags, pd.read_parquet(tmp / "audits" / artifacts.PROPERTIES)


def test_each_planted_condition_is_found_and_nothing_else(audited):
    summary, flags, _ = audited
    names = flags["path"].str.rsplit("/", n=1).str[1]
    found = set(zip(names, flags["issue"], strict=True))
    expected = {(name, i) for name, (issues, _) in PLANTED.items() for i in issues}
    expected |= {("dark_copy.png", "dark")}
    assert found == expected
    assert summary["flagged"] == {
        "dark": 2,
        "overexposed": 1,
        "blurry": 1,
        "low_information": 2,
        "odd_size": 2,
    }
    assert flags["score"].between(0, 1).all() and flags["detail"].str.len().gt(20).all()


def test_properties_are_measured_once_per_content(audited):
    summary, _, table = audited
    assert len(table) == summary["n_images"] == 46  # 47 files, the dark copy shares content
    assert table["sample_id"].is_unique


def test_sharpness_is_relative_to_contrast_and_entropy_counts_bits():
    img = photo(7)
    plain = image_properties(img)
    dimmer = image_properties(ImageEnhance.Brightness(img).enhance(0.5))
    assert dimmer["sharpness"] == pytest.approx(plain["sharpness"], rel=0.1)
    assert dimmer["brightness"] < 0.6 * plain["brightness"]
    assert image_properties(Image.new("RGB", (8, 8), (10, 10, 10)))["entropy"] == 0.0
    assert 3.0 < plain["entropy"] <= 5.0  # 32 bins: at most 5 bits
