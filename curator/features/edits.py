"""The edits that make near-duplicates, to plant copies with a known twin into real photos.

A near-duplicate is the same photo after something happened to it: re-encoded, resized,
cropped, shifted, recoloured, brightened, slightly rotated; and, as copies people make often
are (CIFAR-10's own twins, benchmarks/RESULTS.md), turned to other hues, captioned, framed in
a border, mirrored. ``plant_copy`` applies one or two of
these, drawn from a seeded generator. benchmarks/eval_duplicates_cifar.py plants such copies
into CIFAR-10 to measure recall and precision on real photos, with further edits (blur, gamma,
noise) kept apart: the calibration of issue 14 will learn from CALIBRATION_EDITS on the user's
own images, and HELD_OUT_EDITS measure it on edits it never saw.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

Edit = Callable[[Image.Image, np.random.Generator], Image.Image]


def reencode(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(rng.integers(35, 90)))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def resize(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    scale = float(rng.uniform(0.7, 1.4))
    w, h = img.size
    return img.resize(
        (max(8, round(w * scale)), max(8, round(h * scale))), Image.Resampling.BICUBIC
    )


def crop(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Keep 88-97% of each side, anywhere in the frame."""
    w, h = img.size
    keep = rng.uniform(0.88, 0.97, 2)
    cw, ch = max(8, round(w * keep[0])), max(8, round(h * keep[1]))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return img.crop((x, y, x + cw, y + ch))


def shift(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Translate by up to 5% of each side, filling the uncovered border by edge replication."""
    w, h = img.size
    dx, dy = (rng.uniform(-0.05, 0.05, 2) * (w, h)).round().astype(int)
    arr = np.asarray(img)
    arr = np.pad(arr, ((abs(dy), abs(dy)), (abs(dx), abs(dx)), (0, 0)), mode="edge")
    y0, x0 = abs(dy) - dy, abs(dx) - dx
    return Image.fromarray(arr[y0 : y0 + h, x0 : x0 + w])


def colour(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    img = ImageEnhance.Color(img).enhance(float(rng.uniform(0.5, 1.5)))
    return ImageEnhance.Contrast(img).enhance(float(rng.uniform(0.8, 1.2)))


def brightness(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.7, 1.35)))


def rotate(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    angle = float(rng.uniform(1, 4)) * (1 if rng.random() < 0.5 else -1)
    return img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=_mean_colour(img))


def _mean_colour(img: Image.Image) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(img).reshape(-1, 3).mean(axis=0))


def hue(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Turn every hue by 60-300 degrees: the object recoloured (a grey plane made blue, a brown
    frog made pink), as CIFAR-10's own copies often are."""
    h, sat, v = img.convert("HSV").split()
    turn = int(rng.integers(43, 214))  # of 256
    h = h.point([(x + turn) % 256 for x in range(256)])
    return Image.merge("HSV", (h, sat, v)).convert("RGB")


def caption(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A bar across the top or bottom (10-18% of the height) in a plain light or dark colour,
    with a row of text-like marks: a caption or a watermark strip."""
    out = img.copy()
    w, h = out.size
    bar = max(2, round(h * rng.uniform(0.10, 0.18)))
    y0 = 0 if rng.random() < 0.5 else h - bar
    light = rng.random() < 0.5
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, y0, w, y0 + bar - 1), fill=(235, 235, 235) if light else (20, 20, 20))
    ink = (40, 40, 40) if light else (220, 220, 220)
    x = int(rng.integers(1, max(2, w // 8)))
    while x < w - 2:  # words of 2-6 marks, a mark's width apart
        letters = int(rng.integers(2, 7))
        for _ in range(letters):
            lw = max(1, round(bar * rng.uniform(0.2, 0.45)))
            draw.rectangle((x, y0 + bar // 4, x + lw - 1, y0 + bar - 1 - bar // 4), fill=ink)
            x += lw + max(1, bar // 6)
        x += max(2, bar // 2)
    return out


def border(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The photo shrunk to 75-90% and framed in a plain colour at the original size."""
    w, h = img.size
    scale = float(rng.uniform(0.75, 0.9))
    inner = img.resize((max(4, round(w * scale)), max(4, round(h * scale))))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3)) if rng.random() < 0.5 else (0, 0, 0)
    out = Image.new("RGB", (w, h), colour)
    out.paste(inner, ((w - inner.width) // 2, (h - inner.height) // 2))
    return out


def mirror(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageOps.mirror(img)


# the edits calibration uses: the common ones, and what CIFAR-10's own copies show
CALIBRATION_EDITS: dict[str, Edit] = {
    "reencode": reencode,
    "resize": resize,
    "crop": crop,
    "shift": shift,
    "colour": colour,
    "brightness": brightness,
    "rotate": rotate,
    "hue": hue,
    "caption": caption,
    "border": border,
    "mirror": mirror,
}


def blur(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 1.2)) * max(img.size) / 64))


def gamma(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    g = float(rng.uniform(0.6, 1.6))
    table = [round(255 * (i / 255) ** g) for i in range(256)] * 3
    return img.point(table)


def noise(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    arr = np.asarray(img).astype(np.float32) + rng.normal(0, 8, (img.size[1], img.size[0], 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


# edits calibration never sees: benchmarks measure recall on them
HELD_OUT_EDITS: dict[str, Edit] = {"blur": blur, "gamma": gamma, "noise": noise}


def plant_copy(
    img: Image.Image, rng: np.random.Generator, edits: dict[str, Edit] = CALIBRATION_EDITS
) -> tuple[Image.Image, str]:
    """``img`` after one or two edits drawn from ``edits`` (then re-encoded as a JPEG half the
    time, as copies usually are); returns (copy, the edits' names joined by '+')."""
    names = list(edits)
    chosen = rng.choice(names, size=int(rng.integers(1, 3)), replace=False).tolist()
    out = img.convert("RGB")
    for name in chosen:
        out = edits[name](out, rng)
    if "reencode" in edits and "reencode" not in chosen and rng.random() < 0.5:
        out, chosen = reencode(out, rng), [*chosen, "reencode"]
    return out, "+".join(chosen)
