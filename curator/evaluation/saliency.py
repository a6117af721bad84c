"""Saliency maps: which part of an image a prediction rests on.

Each window of a grid (two cells wide, moved one cell at a time) is painted with the image's
mean colour and the image is scored again; a cell's saliency is the mean drop in the predicted
class's probability over the windows that cover it (Zeiler and Fergus, ECCV 2014). A positive
cell is evidence for the prediction, a negative one evidence against it. The method needs only
a function from images to class probabilities, so it explains every path curator trains the
same way: the fallback descriptor with its probe (no gradient reaches the pixels there, so
Grad-CAM cannot), the frozen CLIP tower with the head, and a fine-tuned tower. Cost: (grid - 1)^2
extra forward passes per image. Where the tower is a vision transformer, ``grad_cam`` gives the
map practitioners check first, from one forward and one backward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

Scorer = Callable[[list[Image.Image]], np.ndarray]  # images -> (N, classes) probabilities


def occluded(img: Image.Image, grid: int) -> list[Image.Image]:
    """The (grid - 1)^2 copies of ``img``, each with one 2 x 2-cell window painted grey-mean."""
    rgb = np.asarray(img.convert("RGB"))
    h, w = rgb.shape[:2]
    ys, xs = np.linspace(0, h, grid + 1).round().astype(int), np.linspace(0, w, grid + 1)
    xs = xs.round().astype(int)
    fill = rgb.reshape(-1, 3).mean(axis=0).astype(rgb.dtype)
    out = []
    for i in range(grid - 1):
        for j in range(grid - 1):
            copy = rgb.copy()
            copy[ys[i] : ys[i + 2], xs[j] : xs[j + 2]] = fill
            out.append(Image.fromarray(copy))
    return out


def occlusion_map(
    img: Image.Image, score: Scorer, target: int, grid: int
) -> tuple[float, np.ndarray]:
    """The probability of class ``target`` for the image, and the (grid, grid) saliency map."""
    probs = score([img, *occluded(img, grid)])
    base, windows = probs[0, target], probs[1:, target].reshape(grid - 1, grid - 1)
    drop = base - windows
    total = np.zeros((grid, grid))
    count = np.zeros((grid, grid))
    for di in (0, 1):  # each window covers the cells (i..i+1, j..j+1)
        for dj in (0, 1):
            total[di : di + grid - 1, dj : dj + grid - 1] += drop
            count[di : di + grid - 1, dj : dj + grid - 1] += 1
    return float(base), total / count


def grad_cam(visual, classifier, pixels, target: int) -> tuple[float, np.ndarray]:
    """Grad-CAM (Selvaraju et al., ICCV 2017) on a vision transformer tower: the last block's
    patch tokens weighted by the mean gradient of the ``target`` logit over the tokens, rectified;
    a (grid_h, grid_w) map, and the target's probability. ``pixels``: one preprocessed image
    (1, C, H, W) on the tower's device; ``classifier`` maps the normalised embedding to logits."""
    import torch

    blocks, kept = visual.transformer, []
    handle = blocks.resblocks[-1].register_forward_hook(lambda _m, _i, out: kept.append(out))
    try:
        with torch.enable_grad():
            feats = torch.nn.functional.normalize(visual(pixels).float(), dim=-1)
            logits = classifier(feats)
            (grad,) = torch.autograd.grad(logits[0, target], kept[0])
    finally:
        handle.remove()
    act = kept[0].detach()
    if not blocks.batch_first:  # (L, N, D) -> (N, L, D)
        act, grad = act.transpose(0, 1), grad.transpose(0, 1)
    gh, gw = visual.grid_size
    patches, weights = act[0, -gh * gw :].float(), grad[0, -gh * gw :].float().mean(dim=0)
    cam = torch.relu(patches @ weights).reshape(gh, gw)
    prob = torch.softmax(logits.detach().float(), dim=1)[0, target]
    return float(prob), cam.cpu().numpy().astype(np.float64)


def overlay(img: Image.Image, saliency: np.ndarray, size: int) -> Image.Image:
    """The image in grey with the evidence for the prediction in red (its strongest cell fully
    opaque at 60%), at ``size`` pixels on the longest side."""
    grey = img.convert("L")
    scale = size / max(grey.size)
    shape = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
    base = np.asarray(grey.resize(shape, Image.Resampling.BILINEAR).convert("RGB"), np.float32)
    positive = np.clip(saliency, 0, None)
    peak = positive.max()
    heat = positive / peak if peak > 0 else positive
    heat_img = Image.fromarray((heat * 255).astype(np.uint8)).resize(
        shape, Image.Resampling.BILINEAR
    )
    alpha = np.asarray(heat_img, np.float32)[..., None] / 255 * 0.6
    red = np.array([220.0, 38.0, 38.0])
    return Image.fromarray((base * (1 - alpha) + red * alpha).astype(np.uint8))
