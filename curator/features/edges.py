"""Pixel-level verification of candidate near-duplicate pairs.

Hashes and global descriptors cannot tell two different but similar pictures (two thin '1's,
two photos of the same white wall) from two copies of one picture. Copies share their edges
exactly, up to a small shift; different pictures do not. So each candidate pair is scored by
the normalised correlation of the two images' gradient-magnitude maps, maximised over shifts of
up to ``max_shift`` pixels (computed for all pairs at once with FFTs).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import fft, ndimage

EDGE_SIZE = 64


def edge_map(img: Image.Image, size: int = EDGE_SIZE) -> np.ndarray:
    """Zero-mean, unit-norm gradient magnitude of a size x size grey version (float32)."""
    grey = np.asarray(img.convert("L").resize((size, size), Image.Resampling.BILINEAR), np.float32)
    # Filtered circularly, like the correlation: a wrapped shift then moves the map exactly.
    smooth = ndimage.gaussian_filter(grey, 1.0, mode="wrap")
    mag = np.hypot(ndimage.sobel(smooth, 0, mode="wrap"), ndimage.sobel(smooth, 1, mode="wrap"))
    mag -= mag.mean()
    norm = np.linalg.norm(mag)
    return (mag / norm if norm > 0 else mag).astype(np.float32)


def edge_correlation(
    maps: np.ndarray, i: np.ndarray, j: np.ndarray, max_shift: int, batch: int = 8192
) -> np.ndarray:
    """Best circular correlation of maps[i[k]] and maps[j[k]] over shifts up to ``max_shift``.

    ``maps`` is an (n, s, s) stack of ``edge_map`` outputs, transformed once; each pair then
    costs one inverse FFT. Returns len(i) scores in [-1, 1].
    """
    spectra = fft.rfft2(maps.astype(np.float32), workers=-1)  # complex64: half the memory
    out = np.empty(len(i), dtype=np.float32)
    shifts = np.r_[0 : max_shift + 1, -max_shift:0]
    for start in range(0, len(i), batch):
        a, b = i[start : start + batch], j[start : start + batch]
        corr = fft.irfft2(spectra[a] * np.conj(spectra[b]), s=maps.shape[1:], workers=-1)
        window = corr[:, shifts][:, :, shifts]
        out[start : start + batch] = window.reshape(len(window), -1).max(axis=1)
    return np.clip(out, -1.0, 1.0)
