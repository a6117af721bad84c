"""Images as the reports show them: PNG data URIs of thumbnails and saliency overlays."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from curator import artifacts
from curator.evaluation import saliency
from curator.io.images import open_rgb
from curator.io.tables import read_parquet
from curator.io.uris import join_uri, read_uri


def _open(data_dir: Path | str, path: str, max_pixels: int):
    """The decoded image, or None if it cannot be read (an unreadable file is already a
    finding: it is listed, without a picture)."""
    try:
        return open_rgb(read_uri(join_uri(data_dir, path)), max_pixels)[0]
    except (OSError, ValueError):
        return None


def _png_uri(img) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _thumb_uri(img, size: int) -> str:
    img = img.copy()
    img.thumbnail((size, size))
    return _png_uri(img)


def thumbnail(data_dir: Path | str, path: str, size: int, max_pixels: int) -> str | None:
    """A PNG data URI of the image at ``size`` px (longest side), or None."""
    img = _open(data_dir, path, max_pixels)
    return None if img is None else _thumb_uri(img, size)


def error_galleries(
    summary: dict[str, Any], audits: Path, data_dir: Path | str, size: int, max_pixels: int
) -> list[dict[str, Any]]:
    """The errors stage's galleries (``summary``: errors.json), each image as a thumbnail and
    its saliency overlay, decoded once."""
    import numpy as np

    table = read_parquet(audits / artifacts.ERRORS, "curator errors").set_index("path")
    out = []
    for gallery in summary["galleries"]:
        items = []
        for path in gallery["paths"]:
            row = table.loc[path]
            img = _open(data_dir, path, max_pixels)
            heat = np.asarray(row["saliency"], float).reshape(row["saliency_shape"])
            items.append(
                {"path": path, "label": row["label"], "predicted": row["predicted"]}
                | {"confidence": row["confidence"]}
                | {
                    "thumb": None if img is None else _thumb_uri(img, size),
                    "overlay": None if img is None else _png_uri(saliency.overlay(img, heat, size)),
                }
            )
        out.append(gallery | {"items": items})
    return out
