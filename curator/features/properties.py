"""Image properties that say how an image was taken, computed from its pixels alone.

Brightness is the Rec. 601 luma in [0, 1]; its 1st and 99th percentiles say whether even the
brightest pixels are dim (dark) or even the darkest ones are bright (overexposed). Sharpness is
the variance of the luma's Laplacian over the luma's variance: edge energy relative to the
contrast, so a dim or flat image is not called blurry for being dim or flat. It is measured at
the image's own size (at most ``MAX_SIDE`` px), so it is compared between images of one dataset,
never against a constant. Entropy is that of the luma histogram in 32 bins of 8 grey levels (so
sensor noise on a blank frame does not count as information), in bits: near 0 for a blank
image, at most 5, about 4-5 for a photograph.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from curator.io.images import open_rgb

PROPERTY_NAMES = (  # size and aspect come from the manifest (the full decode's size)
    "brightness",
    "luma_p01",
    "luma_p99",
    "contrast",
    "sharpness",
    "saturation",
    "entropy",
)
MAX_SIDE = 256  # larger images are measured on a thumbnail (JPEGs decoded at reduced scale)
ENTROPY_BIN = 8  # grey levels per histogram bin
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def image_properties(img: Image.Image) -> dict[str, float]:
    """The properties of one decoded image."""
    if max(img.size) > MAX_SIDE:
        img = img.copy()
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    rgb = np.asarray(img.convert("RGB"), np.float32) / 255.0
    luma = rgb @ _LUMA
    p01, p99 = np.percentile(luma, [1, 99])
    lap = luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4 * luma[1:-1, 1:-1]
    variance = float(luma.var())
    top = rgb.max(axis=2)
    saturation = np.where(top > 0, (top - rgb.min(axis=2)) / np.maximum(top, 1e-6), 0.0)
    levels = np.clip(luma * 255 + 0.5, 0, 255).astype(np.int64) // ENTROPY_BIN
    counts = np.bincount(levels.ravel(), minlength=256 // ENTROPY_BIN)
    share = counts[counts > 0] / counts.sum()
    return {
        "brightness": float(luma.mean()),
        "luma_p01": float(p01),
        "luma_p99": float(p99),
        "contrast": float(np.sqrt(variance)),
        "sharpness": float(lap.var() / variance) if lap.size and variance > 1e-8 else 0.0,
        "saturation": float(saturation.mean()),
        "entropy": max(0.0, float(-(share * np.log2(share)).sum())),
    }


def properties_of_bytes(data: bytes, max_image_pixels: int) -> dict[str, float]:
    img, _, _ = open_rgb(data, max_image_pixels, draft_size=MAX_SIDE)
    return image_properties(img)
