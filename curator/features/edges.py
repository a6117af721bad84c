"""Pixel-level evidence for candidate near-duplicate pairs: registered edge correlation.

Hashes and global descriptors cannot tell two different but similar pictures (two thin '1's,
two photos of the same white car) from two copies of one. Copies share their edges once the
geometric part of the edit (a shift, a crop, a resize, a small rotation) is undone; different
pictures do not. Each image becomes the gradient magnitude of a SIZE x SIZE grey version
smoothed at SIGMA px: coarse enough that what the search below leaves unaligned (part of a
step of zoom or rotation) stays inside the blur. A pair scores the best
normalised correlation over the VARIANTS of one side (zooms x rotations about the centre) and
shifts of up to an eighth of the side (a crop moves content by up to 12%).

Two passes keep that affordable: every variant is tried on maps sampled at half the size
(COARSE, a quarter of the cost), then each image's nearest few candidates are scored again at
full size with the variant that won (FINE: two different '6's by one writer look alike at 32
pixels, not at 64). Where the two images' aspects differ (a crop keeps a different share of
each side; squared, its sides are magnified by different factors) the full-size pass also
stretches one side's width by the ratio of the aspects, at the winning zoom and half a step
either way: on CIFAR-10 this took planted crops found from 79% to 85%.

Smoothing and derivatives are SIZE x SIZE matrices applied on both sides of each image (borders
repeated, not wrapped: a wrapped border is an edge that stays put when the picture zooms); a
variant's warp is one sparse matrix; maps are weighted to zero at their border, where a copy's
filled-in margin and the circular correlation's wrap-around fall.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from PIL import Image
from scipy import fft, ndimage, sparse

from curator.io.progress import progress as progress_of

SIZE = 64  # grey thumbnail side, and the fine map's
SIGMA = 2.0  # Gaussian smoothing in thumbnail pixels
ZOOM_STEP = 1.1  # crops magnify by 1/0.97 to 1/0.88
ZOOMS = (1 / ZOOM_STEP, 1.0, ZOOM_STEP)
ROTATIONS = (-3.0, 0.0, 3.0)  # degrees
VARIANTS = tuple((z, a) for z in ZOOMS for a in ROTATIONS)
CHUNK = 1024  # images turned into spectra at once
FLAT = 1e-2  # largest gradient magnitude (grey levels per pixel) of a picture without edges
PAIR_BLOCK = 4096  # pairs correlated at once
ASPECT_STEP = 0.01  # aspect stretches are tried to within 1% (a third of a pixel at 64)


@dataclass(frozen=True)
class Scale:
    side: int  # map side in pixels
    max_shift: int  # largest shift tried, in map pixels (an eighth of the side)
    border: int  # outermost pixels weighted zero


COARSE = Scale(SIZE // 2, SIZE // 16, 1)
FINE = Scale(SIZE, SIZE // 8, 2)


def _filter_matrix(kernel: np.ndarray) -> np.ndarray:
    """SIZE x SIZE matrix of correlation with ``kernel`` (centred, odd length), border
    pixels repeated."""
    impulses = np.eye(SIZE)
    columns = [ndimage.correlate1d(impulses[k], kernel, mode="nearest") for k in range(SIZE)]
    return np.stack(columns, axis=1).astype(np.float32)


def _gauss(sigma: float) -> np.ndarray:
    x = np.arange(-int(4 * sigma + 1), int(4 * sigma + 1) + 1)
    weights = np.exp(-0.5 * (x / sigma) ** 2)
    return weights / weights.sum()


def _filters() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(smooth, derive, down): Gaussian then Sobel's [1, 2, 1] and [-1, 0, 1], as matrices; and
    the anti-aliased 2x downsampling to the coarse map (a magnitude has kinks the smoothing
    does not bound: sampled bare, a half-size map would change with a one-pixel shift)."""
    gauss = _gauss(SIGMA)
    antialias = _filter_matrix(_gauss(1.0))
    return (
        _filter_matrix(np.convolve(gauss, [1, 2, 1])),
        _filter_matrix(np.convolve(gauss, [1, 0, -1])),
        0.5 * (antialias[0::2] + antialias[1::2]),
    )


SMOOTH, DERIVE, DOWN = _filters()


def edge_magnitude(img: Image.Image) -> np.ndarray:
    """SIZE x SIZE gradient magnitude of the smoothed grey thumbnail, scaled to its maximum
    as uint8 (4 KB per image; the correlation ignores the scale)."""
    g = np.asarray(img.convert("L").resize((SIZE, SIZE), Image.Resampling.BILINEAR), np.float32)
    magnitude = np.hypot(DERIVE @ g @ SMOOTH.T, SMOOTH @ g @ DERIVE.T)
    top = magnitude.max()
    if top < FLAT:  # a blank picture: rounding noise, not edges
        return np.zeros((SIZE, SIZE), np.uint8)
    return np.round(magnitude * (255 / top)).astype(np.uint8)


@cache
def _warp(zoom: float, degrees: float, side: int, stretch: float = 1.0) -> sparse.csr_matrix:
    """side^2 x side^2 matrix: a map magnified by ``zoom`` (its width by ``stretch`` more) and
    rotated by ``degrees`` about its centre (bilinear, border pixels repeated)."""
    c = (side - 1) / 2
    t = np.deg2rad(degrees)
    rotate = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    inverse = np.diag([1.0, 1.0 / stretch]) @ rotate / zoom
    out_r, out_c = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    src = np.clip(inverse @ np.stack([out_r.ravel() - c, out_c.ravel() - c]) + c, 0, side - 1)
    r0 = np.minimum(np.floor(src[0]).astype(int), side - 2)
    c0 = np.minimum(np.floor(src[1]).astype(int), side - 2)
    fr, fc = src[0] - r0, src[1] - c0
    corners = (
        (0, 0, (1 - fr) * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 0, fr * (1 - fc)),
        (1, 1, fr * fc),
    )
    rows = np.tile(np.arange(side * side), 4)
    cols = np.concatenate([(r0 + dr) * side + c0 + dc for dr, dc, _ in corners])
    vals = np.concatenate([w for _, _, w in corners])
    return sparse.csr_matrix((vals, (rows, cols)), shape=(side * side,) * 2, dtype=np.float32)


@cache
def _taper(scale: Scale) -> np.ndarray:
    """Flat weights: zero on the outermost ``border`` pixels, then a cosine ramp over
    ``max_shift`` pixels to one."""
    rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(scale.max_shift) + 0.5) / scale.max_shift)
    edge = np.r_[np.zeros(scale.border), rise]
    ramp = np.ones(scale.side)
    ramp[: len(edge)], ramp[-len(edge) :] = edge, edge[::-1]
    return np.outer(ramp, ramp).ravel().astype(np.float32)


def _blocks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, start + size)


def _transposed(x: np.ndarray) -> np.ndarray:
    """A C-ordered copy of x.T, a few rows at a time: numpy's own copy strides through the
    whole array for every element and ran 7x slower on a 4096 x 4096 block (the warps, a
    sparse matrix times maps laid out pixel by image, spent most of their time transposing)."""
    out = np.empty(x.shape[::-1], x.dtype)
    for rows in _blocks(len(x), 16):
        out[:, rows] = x[rows].T
    return out


def spectra(
    magnitudes: np.ndarray,
    zoom: float = 1.0,
    degrees: float = 0.0,
    scale: Scale = COARSE,
    stretch: float = 1.0,
) -> np.ndarray:
    """Fourier transforms of the zero-mean, tapered, unit-norm maps of ``edge_magnitude``
    outputs (n, SIZE, SIZE) at ``scale``, after the variant (zoom, degrees) and ``stretch``."""
    side = scale.side
    plain = (zoom, degrees, stretch) == (1.0, 0.0, 1.0)
    warp = None if plain else _warp(zoom, degrees, side, stretch)
    out = np.empty((len(magnitudes), side, side // 2 + 1), np.complex64)
    for block in _blocks(len(magnitudes), CHUNK):
        maps = magnitudes[block].astype(np.float32)
        if side != SIZE:
            maps = DOWN @ maps @ DOWN.T
        maps = maps.reshape(len(maps), -1)
        if warp is not None:
            maps = _transposed(warp @ _transposed(maps))
        maps -= maps.mean(axis=1, keepdims=True)
        maps *= _taper(scale)
        norm = np.linalg.norm(maps, axis=1, keepdims=True)
        maps = np.divide(maps, norm, out=np.zeros_like(maps), where=norm > 0)
        out[block] = fft.rfft2(maps.reshape(-1, side, side), workers=-1)
    return out


def _max_near_origin(corr: np.ndarray, reach: int) -> np.ndarray:
    """Each circular correlation's largest value at shifts of up to ``reach`` along both
    axes: the four corners of its array."""
    near = (slice(0, reach + 1), slice(-reach, None))
    return np.max([corr[:, r, c].max(axis=(1, 2)) for r in near for c in near], axis=0)


def best_correlation(
    base: np.ndarray, other: np.ndarray, i: np.ndarray, j: np.ndarray, scale: Scale = COARSE
) -> np.ndarray:
    """Best circular correlation of base[i[k]] with other[j[k]] over the scale's shifts."""
    out = np.empty(len(i), np.float32)
    shape = (scale.side, scale.side)
    # a block's cross-power spectra and correlations take the same memory at either scale
    size = max(1, PAIR_BLOCK * COARSE.side**2 // scale.side**2)
    for block in _blocks(len(i), size):
        cross, theirs = base[i[block]], other[j[block]]
        cross *= np.conjugate(theirs, out=theirs)
        corr = fft.irfft2(cross, s=shape, workers=-1)
        out[block] = _max_near_origin(corr, scale.max_shift)
    return np.clip(out, -1.0, 1.0)


def registered_correlation(
    magnitudes: np.ndarray, i: np.ndarray, j: np.ndarray, refine: int, aspects: np.ndarray
) -> np.ndarray:
    """Each pair's correlation at full size, for each image's ``refine`` nearest candidates by
    the coarse pass (the rest are NaN: too far from every image to be anyone's twin or
    yardstick). ``aspects`` are the images' width / height, before their maps were squared."""
    coarse, variant = best_variants(magnitudes, i, j)
    ends = pd.DataFrame({"me": np.r_[i, j], "pair": np.tile(np.arange(len(i)), 2)})
    ends["coarse"] = np.r_[coarse, coarse]
    ends = ends.sort_values(["me", "coarse"], ascending=[True, False], kind="stable")
    near = ends["pair"][ends.groupby("me").cumcount().to_numpy() < refine]
    refined = np.unique(near.to_numpy())
    out = np.full(len(i), np.nan, np.float32)
    ri, rj = i[refined], j[refined]
    out[refined] = fine_correlation(magnitudes, ri, rj, variant[refined], aspects[rj] / aspects[ri])
    return out


def best_variants(magnitudes: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, ...]:
    """(coarse correlation, index of the variant that gave it) of each pair (i[k], j[k])."""
    base = spectra(magnitudes)
    best = np.full(len(i), -1.0, np.float32)
    winner = np.zeros(len(i), np.int64)
    order = np.argsort(j, kind="stable")
    progress = _progress(len(i) * len(VARIANTS), "half size, every zoom and turn")
    for v, (zoom, degrees) in enumerate(VARIANTS):
        score = np.empty(len(i), np.float32)
        identity = (zoom, degrees) == (1.0, 0.0)
        # by blocks of j: only the block's own images are transformed for the variant
        for block in _blocks(len(order), 2 * PAIR_BLOCK):
            rows = order[block]
            needed, local = np.unique(j[rows], return_inverse=True)
            other = base[needed] if identity else spectra(magnitudes[needed], zoom, degrees)
            score[rows] = best_correlation(base, other, i[rows], local)
            progress.update(len(rows))
        better = score > best
        best[better], winner[better] = score[better], v
    progress.close()
    return best, winner


def _progress(pairs: int, what: str):
    desc = f"duplicates: edge correlation, {what}"
    return progress_of(total=pairs, desc=desc, unit="pair")


def fine_correlation(
    magnitudes: np.ndarray, i: np.ndarray, j: np.ndarray, variant: np.ndarray, stretch: np.ndarray
) -> np.ndarray:
    """Full-size correlation of each pair: the best over the j side untouched and under its
    ``variant`` (half-size maps barely tell a 3-degree turn from none) and, where the two
    images' aspects differ, under the variant with the width magnified by ``stretch`` (their
    ratio) at its zoom and half a step either way. A crop keeps a different share of each side,
    so the square maps stretch its sides by different factors, and it magnifies by anything
    between the zoom steps; the untouched try keeps a copy squashed to a new aspect."""
    steps = np.round(np.log(stretch) / ASPECT_STEP).astype(np.int64)
    out = np.full(len(i), -1.0, np.float32)
    order = np.lexsort((j, i))
    progress = _progress(len(i), "full size, each image's nearest")
    # pairs with the same tries a block at a time: each block's maps transformed for it alone
    for v, step in np.unique(np.c_[variant, steps], axis=0):
        mine = order[(variant[order] == v) & (steps[order] == step)]
        # a quarter of the coarse pass's blocks: a full-size spectrum is four times larger
        for block in _blocks(len(mine), PAIR_BLOCK // 2):
            rows = mine[block]
            left, li = np.unique(i[rows], return_inverse=True)
            right, rj = np.unique(j[rows], return_inverse=True)
            base = spectra(magnitudes[left], scale=FINE)
            for zoom, degrees, widen in _tries(v, step):
                other = spectra(magnitudes[right], zoom, degrees, FINE, widen)
                score = best_correlation(base, other, li, rj, FINE)
                out[rows] = np.maximum(out[rows], score)
            progress.update(len(rows))
    progress.close()
    return out


def _tries(variant: int, step: int) -> list[tuple[float, float, float]]:
    """(zoom, degrees, stretch) of each transform of the j side tried at full size."""
    zoom, degrees = VARIANTS[variant]
    tries = {(1.0, 0.0, 1.0), (zoom, degrees, 1.0)}
    if step:
        stretch = float(np.exp(step * ASPECT_STEP))
        tries |= {(zoom * f, degrees, stretch) for f in (1.0, ZOOM_STEP**0.5, ZOOM_STEP**-0.5)}
    return sorted(tries)
