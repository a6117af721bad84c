"""The planted edits: seeded, real changes, and still the same picture."""

import numpy as np
from PIL import Image

from curator.features.edges import edge_magnitude, registered_correlation
from curator.features.edits import CALIBRATION_EDITS, HELD_OUT_EDITS, plant_copy
from tests.conftest import smooth_image


def grey(img, size=32):
    return np.asarray(img.convert("L").resize((size, size)), dtype=float).ravel()


def test_plant_copy_is_seeded_and_stays_the_same_picture():
    src = smooth_image(3, 64).convert("RGB")
    other = smooth_image(4, 64).convert("RGB")
    names = set()
    for seed in range(80):
        a, edit = plant_copy(src, np.random.default_rng(seed))
        b, again = plant_copy(src, np.random.default_rng(seed))
        assert edit == again and np.array_equal(np.asarray(a), np.asarray(b))
        parts = edit.split("+")
        assert set(parts) <= set(CALIBRATION_EDITS) and 1 <= len(parts) <= 3
        names |= set(parts)
        if {"hue", "border"} & set(parts):
            continue  # grey levels or framing change: registered edges tell these (test below)
        unmirrored = a.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if "mirror" in parts else a
        same = np.corrcoef(grey(unmirrored), grey(src))[0, 1]
        assert same > np.corrcoef(grey(unmirrored), grey(other))[0, 1]  # nearer its source
    assert names == set(CALIBRATION_EDITS)  # every edit gets drawn


def test_held_out_edits_change_the_pixels():
    src = smooth_image(5, 64).convert("RGB")
    for name, edit in HELD_OUT_EDITS.items():
        out = edit(src, np.random.default_rng(0))
        assert out.size == src.size, name
        assert not np.array_equal(np.asarray(out), np.asarray(src)), name


def test_the_edits_real_copies_show_change_what_they_say():
    """hue turns colours but keeps the grey layout's edges; caption paints a bar on one edge;
    border frames a shrunk photo; mirror flips left and right."""
    src = smooth_image(6, 64).convert("RGB")
    rng = np.random.default_rng(0)
    turned = np.asarray(CALIBRATION_EDITS["hue"](src, rng), float)
    assert np.abs(turned - np.asarray(src, float)).mean() > 10
    captioned = np.asarray(CALIBRATION_EDITS["caption"](src, rng), float)
    changed_rows = np.flatnonzero(np.abs(captioned - np.asarray(src, float)).sum(axis=(1, 2)))
    assert 6 <= len(changed_rows) <= 12 and (changed_rows[0] == 0 or changed_rows[-1] == 63)
    framed = np.asarray(CALIBRATION_EDITS["border"](src, rng), float)
    assert (framed[0] == framed[0, 0]).all() and (framed[:, 0] == framed[0, 0]).all()
    mirrored = CALIBRATION_EDITS["mirror"](src, rng)
    assert np.array_equal(np.asarray(mirrored)[:, ::-1], np.asarray(src))
    # hue and border copies are still their source's nearest once registered (features/edges.py)
    candidates = [src, smooth_image(7, 64).convert("RGB"), smooth_image(8, 64).convert("RGB")]
    for name in ("hue", "border"):
        copy = CALIBRATION_EDITS[name](src, np.random.default_rng(1))
        maps = np.stack([edge_magnitude(im) for im in [copy, *candidates]])
        corr = registered_correlation(maps, np.zeros(3, int), np.arange(1, 4), 3, np.ones(4))
        assert np.argmax(corr) == 0, (name, corr)
