"""Registered edge correlation: copies score near 1 whatever the geometry of the edit,
different pictures do not; the matrix filters are the textbook ones."""

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from curator.features import edges
from curator.features.edits import crop, resize, rotate, shift
from tests.conftest import smooth_image


def test_filters_are_gaussian_then_sobel():
    """The matrices give what scipy's Gaussian and Sobel filters give, borders repeated."""
    g = np.random.default_rng(0).random((edges.SIZE, edges.SIZE)).astype(np.float32) * 255
    smooth = ndimage.gaussian_filter(g, edges.SIGMA, mode="nearest", truncate=4.5)
    reference = np.hypot(
        ndimage.sobel(smooth, 0, mode="nearest"), ndimage.sobel(smooth, 1, mode="nearest")
    )
    mine = np.hypot(edges.DERIVE @ g @ edges.SMOOTH.T, edges.SMOOTH @ g @ edges.DERIVE.T)
    inner = (slice(8, -8),) * 2  # composed filters differ from scipy's only near the border
    np.testing.assert_allclose(mine[inner], reference[inner], rtol=1e-3, atol=1e-2)


def _aspect(img: Image.Image) -> float:
    return img.width / img.height


def _score(a: Image.Image, b: Image.Image, aspects: bool = True) -> float:
    """Correlation of a pair as the check scores it (``aspects``: knowing the images' sizes)."""
    maps = np.stack([edges.edge_magnitude(a), edges.edge_magnitude(b)])
    i, j = np.array([0]), np.array([1])
    _, variant = edges.best_variants(maps, i, j)
    stretch = np.array([_aspect(b) / _aspect(a) if aspects else 1.0])
    return float(edges.fine_correlation(maps, i, j, variant, stretch)[0])


def _zoomed(img: Image.Image, zoom: float) -> Image.Image:
    """The centre 1/zoom of the picture, at full size: its content magnified by ``zoom``."""
    w, h = img.size
    cw, ch = w / zoom, h / zoom
    box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
    return img.transform(img.size, Image.Transform.EXTENT, box, Image.Resampling.BICUBIC)


@pytest.mark.parametrize(
    "edit",
    [
        lambda img, rng: img.rotate(3, resample=Image.Resampling.BICUBIC),
        lambda img, rng: _zoomed(img, 1.1),
        crop,
        resize,
        rotate,
        shift,
    ],
    ids=["rotated 3 deg", "zoomed 1.1", "crop", "resize", "rotate", "shift"],
)
def test_copies_score_high_and_different_pictures_low(edit):
    rng = np.random.default_rng(0)
    img = smooth_image(7, 128)
    copy = edit(img, rng)
    assert _score(img, copy) > 0.9
    assert _score(copy, img) > 0.9  # whichever side is warped
    others = [_score(copy, smooth_image(s, 128)) for s in range(20, 30)]
    assert max(others) < 0.6


def test_geometry_search_is_what_finds_zoomed_and_turned_copies():
    """Without the variants (shift only), a zoomed or turned copy scores lower: the search, not
    the blur alone, recovers it."""
    img = smooth_image(3, 128)
    for copy in (_zoomed(img, 1.1), img.rotate(3, resample=Image.Resampling.BICUBIC)):
        maps = np.stack([edges.edge_magnitude(img), edges.edge_magnitude(copy)])
        identity = edges.VARIANTS.index((1.0, 0.0))
        one = np.array([1.0])
        plain = edges.fine_correlation(
            maps, np.array([0]), np.array([1]), np.array([identity]), one
        )
        assert _score(img, copy) > plain[0] + 0.02


def test_a_crop_that_changes_the_aspect_is_found_by_the_stretch():
    """Keeping 88% of the width and 97% of the height, then squaring the map, magnifies the
    sides by different factors: the ratio of the two aspects undoes that."""
    img = smooth_image(5, 128)
    w, h = img.size
    copy = img.crop((6, 2, 6 + round(0.88 * w), 2 + round(0.97 * h)))
    stretched, isotropic = _score(img, copy), _score(img, copy, aspects=False)
    assert stretched > 0.95
    assert stretched > isotropic + 0.02
    assert _score(copy, img) > 0.95  # whichever side is the crop
    # a copy squashed to a new aspect keeps its content: the untouched try still finds it
    squashed = img.resize((w, round(0.8 * h)), Image.Resampling.BICUBIC)
    assert _score(img, squashed) > 0.95


def test_blocks_do_not_change_scores(monkeypatch):
    imgs = [smooth_image(s, 64) for s in range(12)]
    maps = np.stack([edges.edge_magnitude(x) for x in imgs])
    i, j = np.triu_indices(len(maps), 1)
    coarse, variant = edges.best_variants(maps, i, j)
    stretch = np.random.default_rng(0).choice([1.0, 0.9, 1.12], len(i))  # mixed aspects
    fine = edges.fine_correlation(maps, i, j, variant, stretch)
    monkeypatch.setattr(edges, "PAIR_BLOCK", 5)
    monkeypatch.setattr(edges, "CHUNK", 3)
    coarse2, variant2 = edges.best_variants(maps, i, j)
    np.testing.assert_allclose(coarse2, coarse, atol=1e-5)
    fine2 = edges.fine_correlation(maps, i, j, variant2, stretch)
    np.testing.assert_allclose(fine2, fine, atol=1e-5)


def test_flat_image_has_no_edges_and_no_score():
    flat = Image.new("RGB", (40, 40), (90, 90, 90))
    assert not edges.edge_magnitude(flat).any()
    assert _score(flat, smooth_image(1, 40)) == 0.0  # not NaN: a blank is no one's copy
