"""Occlusion sensitivity finds the part of the image a score depends on, and nothing else."""

import numpy as np
import pytest
from PIL import Image

from curator.evaluation.saliency import occluded, occlusion_map, overlay


def quadrant_scorer(images):
    """P(class 1) rises with the brightness of the top-left quarter only."""
    out = []
    for img in images:
        a = np.asarray(img.convert("L"), float) / 255
        p = 0.2 + 0.6 * a[:16, :16].mean()
        out.append([1 - p, p])
    return np.array(out)


def test_the_map_lights_up_where_the_score_looks():
    a = np.zeros((32, 32, 3), np.uint8)
    a[:16, :16] = 255  # a white top-left quarter on black
    img = Image.fromarray(a)
    base, heat = occlusion_map(img, quadrant_scorer, target=1, grid=8)
    assert base == pytest.approx(quadrant_scorer([img])[0, 1])
    assert heat.shape == (8, 8)
    # covering a window inside the white quarter paints a sixteenth of it mean-grey (64 of
    # 255): P(1) drops by 0.6 * (1 - 64/255) / 4 = 0.11 for each of a cell's windows inside it
    assert heat[:3, :3].min() == pytest.approx(0.6 * (1 - 64 / 255) / 4, abs=0.005)
    assert heat[:4, :4].min() > 0
    assert np.abs(heat[5:, :]).max() < 1e-9 and np.abs(heat[:, 5:]).max() < 1e-9
    assert np.unravel_index(heat.argmax(), heat.shape) < (4, 4)


def test_occluded_copies_cover_every_window_once():
    img = Image.fromarray(np.full((40, 24, 3), 200, np.uint8))
    img.putpixel((0, 0), (0, 0, 0))
    copies = occluded(img, grid=4)
    assert len(copies) == 9 and all(c.size == img.size for c in copies)
    changed = [np.any(np.asarray(c) != np.asarray(img), axis=2) for c in copies]
    coverage = np.sum(changed, axis=0)  # how many windows painted each pixel
    assert coverage.max() <= 4 and coverage[20, 12] == 4  # a centre pixel is in 4 windows


def test_overlay_is_red_where_the_map_is_high():
    img = Image.fromarray(np.full((32, 32, 3), 128, np.uint8))
    heat = np.zeros((4, 4))
    heat[0, 0] = 1.0
    out = np.asarray(overlay(img, heat, 64), int)
    assert out.shape == (64, 64, 3)
    assert out[2, 2, 0] - out[2, 2, 2] > 60  # top-left reddened
    assert abs(out[60, 60, 0] - out[60, 60, 2]) < 3  # bottom-right left grey
