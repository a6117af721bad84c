"""Make ``import torchvision`` work beside a CPU-only torch.

Why: the torchvision wheel pinned with torch 2.13.0+cpu (0.28.0) is a CUDA build. Its compiled
ops library links CUDA runtime libraries the CPU torch does not ship, so it fails to load, and
torchvision's import then dies registering fake kernels for ``torchvision::nms``/``qnms``
("operator torchvision::nms does not exist"). open_clip and timm import torchvision for its
transforms only, which need none of the compiled ops.

What: before torchvision is first imported, try to load its ops library as torchvision would;
only if that fails, define the two operator schemas so the import completes. The compiled ops
stay unavailable (``torchvision.ops.nms`` raises torchvision's own error); curator uses none. On
a matching torch/torchvision pair the load succeeds and nothing is changed. Call
``ensure_torchvision()`` before importing open_clip.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)
_LIBRARY = None  # keeps the fallback registrations alive for the process


def ensure_torchvision() -> None:
    global _LIBRARY
    if "torchvision" in sys.modules or _LIBRARY is not None:
        return
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return
    import torch

    for lib in sorted(Path(spec.origin).parent.glob("_C*.so")):
        try:
            torch.ops.load_library(str(lib))
            return
        except OSError:
            continue
    log.debug(
        "torchvision ops library does not load with torch %s; registering nms schemas",
        torch.__version__,
    )
    _LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
    for name in ("nms", "qnms"):
        _LIBRARY.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")


def import_open_clip():
    """``import open_clip``, after making torchvision importable (the one way curator does it)."""
    ensure_torchvision()
    import open_clip

    return open_clip
