"""Image embeddings: open_clip with pretrained weights, a classical descriptor otherwise.

A checkpoint path in params is used as given; a pretrained tag is looked up in the local caches
and, when ``embed.download`` allows and the Hub can be reached, downloaded and verified
(features/weights.py). When no weights can be had, the caller is told why in one line and the
fallback descriptor named in params is used, and that choice is recorded so every report can
say which features it rests on.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from curator.errors import ConfigError
from curator.features.weights import file_sha256, resolve_weights
from curator.io.images import open_rgb
from curator.io.progress import progress as progress_of
from curator.io.uris import read_uri
from curator.params import EmbedParams
from curator.torch_compat import import_open_clip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Embedder:
    """What produced the vectors; its ``key`` names the embedding cache."""

    backend: str  # "open_clip" or "fallback:<name>"
    model: str | None
    weights: str | None  # checkpoint path, "random-init", or None for the fallback
    weights_sha256: str | None
    reason: str | None  # why the fallback was used
    image_size: int | None
    weights_source: str | None  # "local cache", "downloaded from <hub>", "embed.checkpoint", ...

    @property
    def key(self) -> str:
        text = "|".join(
            str(x) for x in (self.backend, self.model, self.weights_sha256, self.image_size)
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def record(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model": self.model,
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "fallback_reason": self.reason,
            "image_size": self.image_size,
            "weights_source": self.weights_source,
            "cache_key": self.key,
        }


def register_model_config(params: EmbedParams) -> None:
    """Make embed.model_config's architecture known to open_clip (in every process using it)."""
    if params.model_config:
        import_open_clip().add_model_config(params.model_config)


def resolve_embedder(params: EmbedParams) -> Embedder:
    """Decide what will embed: open_clip with local or downloaded weights, random init, or the
    fallback (with the reason, which the stage prints and every report shows)."""
    register_model_config(params)
    if params.checkpoint:
        path = Path(params.checkpoint)
        if path.is_dir():
            raise ConfigError(
                f"params: embed.checkpoint {path} is a folder; point it at the weights file "
                "inside (a .pt, .bin or .safetensors state dict)."
            )
        if not path.is_file():
            raise ConfigError(f"params: embed.checkpoint {path} does not exist; fix the path.")
        return Embedder(
            "open_clip",
            params.model,
            str(path),
            file_sha256(path),
            None,
            params.image_size,
            "embed.checkpoint",
        )
    if params.pretrained in (None, "random-init"):
        return Embedder(
            "open_clip",
            params.model,
            "random-init",
            f"seed={params.seed}",
            None,
            params.image_size,
            "random initialisation",
        )
    weights = resolve_weights(
        params.model, params.pretrained, params.download, params.connect_timeout
    )
    if weights.found:
        return Embedder(
            "open_clip",
            params.model,
            str(weights.path),
            weights.sha256,
            None,
            params.image_size,
            weights.how,
        )
    reason = (
        f"{weights.how}; using the '{params.fallback}' fallback descriptor (embed.fallback), "
        "which is far weaker than CLIP. To use CLIP: run `curator weights pull` where the "
        "Hub can be reached, or set embed.checkpoint to a local file."
    )
    return Embedder(f"fallback:{params.fallback}", None, None, None, reason, None, None)


def thumbnail_descriptor(img: Image.Image, size: int) -> np.ndarray:
    """A size x size grey thumbnail, mean-centred and L2-normalised.

    Centring and normalising make it blind to uniform brightness and contrast changes; the
    box filter makes it tolerant of re-encoding, resizing and shifts of a pixel or two.
    """
    grey = np.asarray(img.convert("L").resize((size, size), Image.Resampling.BOX), np.float32)
    grey -= grey.mean()
    norm = np.linalg.norm(grey)
    return (grey / norm if norm > 0 else grey).ravel()


def hog_descriptor(img: Image.Image, size: int) -> np.ndarray:
    """Histogram of oriented gradients (scikit-image) of a size x size grey version."""
    from skimage.feature import hog

    grey = np.asarray(img.convert("L").resize((size, size), Image.Resampling.BILINEAR))
    vec = hog(
        grey,
        orientations=9,
        pixels_per_cell=(size // 8, size // 8),
        cells_per_block=(2, 2),
        feature_vector=True,
    ).astype(np.float32)
    norm = np.linalg.norm(vec)
    return vec / norm if norm > 0 else vec


def fallback_descriptor(img: Image.Image, name: str, size: int) -> np.ndarray:
    """The fallback descriptor ``name`` (embed.fallback) of a decoded image."""
    return thumbnail_descriptor(img, size) if name == "thumbnail" else hog_descriptor(img, size)


def fallback_file(path: Path | str, name: str, size: int, max_image_pixels: int) -> np.ndarray:
    img, _, _ = open_rgb(read_uri(str(path)), max_image_pixels)
    return fallback_descriptor(img, name, size)


def pick_device(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class _ImageFiles:
    """A map-style dataset of image files -> preprocessed tensors (for torch's DataLoader)."""

    def __init__(self, paths: Sequence[Path | str], preprocess, max_image_pixels: int) -> None:
        self.paths, self.preprocess, self.max_image_pixels = paths, preprocess, max_image_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        img, _, _ = open_rgb(read_uri(str(self.paths[i])), self.max_image_pixels)
        return self.preprocess(img)


@dataclass
class OpenClipEncoder:
    """A loaded open_clip model on its device, ready to encode image files."""

    model: Any
    preprocess: Any
    device: str
    amp_dtype: Any  # torch dtype for autocast on CUDA, or None for full fp32

    @classmethod
    def load(cls, embedder: Embedder, params: EmbedParams) -> OpenClipEncoder:
        import torch

        register_model_config(params)  # again: a Ray actor is a fresh process
        device = pick_device(params.device)
        amp = None
        if device == "cuda" and params.precision != "fp32":
            amp = torch.bfloat16 if params.precision == "bf16" else torch.float16
        torch.manual_seed(params.seed)  # random-init weights are drawn here
        pretrained = None if embedder.weights == "random-init" else embedder.weights
        try:
            model, _, preprocess = import_open_clip().create_model_and_transforms(
                embedder.model,
                pretrained=pretrained,
                device=device,
                force_image_size=params.image_size,
            )
        except Exception as exc:  # torch, safetensors and pickle each raise their own kind
            if pretrained is None:
                raise
            raise ConfigError(unloadable_weights(embedder, exc)) from exc
        return cls(model.eval(), preprocess, device, amp)

    @property
    def precision(self) -> str:
        names = {"torch.float16": "fp16", "torch.bfloat16": "bf16"}
        return names[str(self.amp_dtype)] if self.amp_dtype is not None else "fp32"

    def encode(
        self,
        paths: Sequence[Path | str],
        batch_size: int,
        num_workers: int,
        max_image_pixels: int,
        progress: bool = True,
    ) -> np.ndarray:
        """L2-normalised float32 embeddings of the image files, in order."""
        import torch

        files: Any = _ImageFiles(paths, self.preprocess, max_image_pixels)  # a map-style dataset
        loader: Any = torch.utils.data.DataLoader(
            files,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=self.device == "cuda",
        )
        batches = progress_of(loader, desc="embed: open_clip", unit="batch") if progress else loader
        out = [self.embed_batch(batch) for batch in batches]
        if not out:
            return np.zeros((0, 0), np.float32)
        return np.concatenate(out).astype(np.float32)

    def embed_batch(self, batch) -> np.ndarray:
        """L2-normalised embeddings of a batch of preprocessed image tensors (N, C, H, W)."""
        import torch

        amp = torch.autocast(self.device, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)
        with torch.inference_mode(), amp:
            feats = self.model.encode_image(batch.to(self.device, non_blocking=True))
            return torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()


def unloadable_weights(embedder: Embedder, exc: Exception) -> str:
    """One line for weights open_clip could not load: what the file is not, and the fix."""
    text = str(exc)
    if type(exc).__name__ == "SafetensorError":
        why = f"it is not a complete safetensors file ({text.splitlines()[0]})"
    elif "Missing key" in text:
        first = text.split("Missing key(s) in state_dict: ")[1].split(",")[0]
        why = f"its tensors are not {embedder.model}'s (keys it needs are missing, e.g. {first})"
    elif "Unexpected key" in text:
        why = f"its tensors are not {embedder.model}'s (it holds keys the model does not have)"
    elif "size mismatch" in text:
        why = f"its tensors have other shapes than {embedder.model}'s (another size of model?)"
    else:
        why = "torch cannot read it as a state dict (a truncated, corrupt or non-torch file)"
    if embedder.weights_source == "embed.checkpoint":
        fix = (
            f"point embed.checkpoint at a state dict saved from open_clip model {embedder.model!r} "
            "(or set embed.model to the architecture it was saved from)"
        )
    else:
        fix = "delete that file and run `curator weights pull` again"
    return f"the weights {embedder.weights} cannot be loaded into {embedder.model}: {why}; {fix}."


def embed_open_clip(
    embedder: Embedder,
    paths: list[str],
    params: EmbedParams,
    max_image_pixels: int,
    progress: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]:
    """L2-normalised open_clip image embeddings; returns (vectors, run facts)."""
    encoder = OpenClipEncoder.load(embedder, params)
    start = time.perf_counter()  # encoding only: model load and CUDA start-up are not counted
    vectors = encoder.encode(
        paths, params.batch_size, params.num_workers, max_image_pixels, progress
    )
    rate = len(paths) / (time.perf_counter() - start)
    facts = {"device": encoder.device, "precision": encoder.precision, "images_per_second": rate}
    return vectors, facts
