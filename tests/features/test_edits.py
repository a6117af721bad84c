"""The planted edits: seeded, real changes, and still the same picture."""

import numpy as np

from curator.features.edits import CALIBRATION_EDITS, HELD_OUT_EDITS, plant_copy
from tests.conftest import smooth_image


def grey(img, size=32):
    return np.asarray(img.convert("L").resize((size, size)), dtype=float).ravel()


def test_plant_copy_is_seeded_and_stays_the_same_picture():
    src = smooth_image(3, 64).convert("RGB")
    other = smooth_image(4, 64).convert("RGB")
    names = set()
    for seed in range(40):
        a, edit = plant_copy(src, np.random.default_rng(seed))
        b, again = plant_copy(src, np.random.default_rng(seed))
        assert edit == again and np.array_equal(np.asarray(a), np.asarray(b))
        parts = edit.split("+")
        assert set(parts) <= set(CALIBRATION_EDITS) and 1 <= len(parts) <= 3
        names |= set(parts)
        same = np.corrcoef(grey(a), grey(src))[0, 1]
        assert same > np.corrcoef(grey(a), grey(other))[0, 1]  # nearer its source
    assert names == set(CALIBRATION_EDITS)  # every edit gets drawn


def test_held_out_edits_change_the_pixels():
    src = smooth_image(5, 64).convert("RGB")
    for name, edit in HELD_OUT_EDITS.items():
        out = edit(src, np.random.default_rng(0))
        assert out.size == src.size, name
        assert not np.array_equal(np.asarray(out), np.asarray(src)), name
