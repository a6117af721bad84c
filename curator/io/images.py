"""Safe, complete image decoding.

Every image is decoded fully (not just its header) so truncated files are caught at ingest,
with Pillow's decompression-bomb guard turned from a warning into a refusal. Orientation from
EXIF is applied and every mode (palette, alpha, CMYK, 16-bit, float) is brought to 8-bit RGB
the same way, so later stages see one kind of pixel array.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


@dataclass(frozen=True)
class DecodedImage:
    """Facts about one file; ``error`` is set (and the rest empty) when it cannot be used."""

    sample_id: str
    n_bytes: int
    width: int | None = None
    height: int | None = None
    format: str | None = None
    mode: str | None = None
    pixel_sha256: str | None = None
    error: str | None = None


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, keeping the full dynamic range of deep images."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        img = Image.fromarray(np.round((arr - lo) * scale).astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        # Transparent pixels carry arbitrary colour: composite on white, as a viewer shows them.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def open_rgb(
    data: bytes, max_image_pixels: int, draft_size: int = 0
) -> tuple[Image.Image, str, str]:
    """Decode ``data`` fully; return (RGB image, original format, original mode).

    ``draft_size`` > 0 lets a JPEG decode at a reduced scale (1/2, 1/4, 1/8) whose sides stay
    at least that large: much cheaper when only a small version is needed (hashing).
    Raises ``ValueError`` with a human-readable reason when the bytes are not a usable image.
    """
    if not data:
        raise ValueError("empty file (0 bytes)")
    Image.MAX_IMAGE_PIXELS = max_image_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt, mode = img.format or "unknown", img.mode
                if draft_size and fmt == "JPEG":
                    img.draft(img.mode, (draft_size, draft_size))
                img.load()
                oriented = ImageOps.exif_transpose(img)
                rgb = to_rgb(oriented)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(
            f"decompression bomb refused ({exc}); raise ingest.max_image_pixels if it is genuine"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ValueError("not an image: Pillow cannot identify the file format") from exc
    except OSError as exc:
        raise ValueError(f"truncated or corrupt image data: {exc}") from exc
    except (SyntaxError, ValueError, EOFError) as exc:  # raised by some Pillow decoders
        raise ValueError(f"corrupt image data: {exc}") from exc
    return rgb, fmt, mode


def pixel_digest(rgb: Image.Image) -> str:
    """SHA-256 of the decoded pixels and their shape: equal for the same picture in other bytes."""
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def decode_bytes(data: bytes, max_image_pixels: int) -> DecodedImage:
    """Identify and fully decode one file's bytes; never raises for bad image data."""
    sample_id = hashlib.sha256(data).hexdigest()
    try:
        rgb, fmt, mode = open_rgb(data, max_image_pixels)
    except ValueError as exc:
        return DecodedImage(sample_id=sample_id, n_bytes=len(data), error=str(exc))
    return DecodedImage(
        sample_id=sample_id,
        n_bytes=len(data),
        width=rgb.width,
        height=rgb.height,
        format=fmt,
        mode=mode,
        pixel_sha256=pixel_digest(rgb),
    )
