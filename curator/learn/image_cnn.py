"""Out-of-fold class probabilities from a small CNN trained on the images themselves.

When no pretrained weights exist, the fallback descriptors (a 16x16 thumbnail, HOG) are too weak
for confident learning on real photos (out-of-fold accuracy 0.37 on CIFAR-10). A small
convolutional network trained on the pixels, K times with one fold held out each time, learns
far more (benchmarks/RESULTS.md: its accuracy, average precision and cost on CIFAR-10N). It is
a VGG-style stack of 3x3 convolutions with batch norm (six layers, three poolings, global
average pooling), trained with SGD + Nesterov momentum on a one-cycle schedule, random crops
and horizontal flips; a fixed, small number of epochs keeps it from memorising label noise.
Seeded: the same images, labels and seed give the same probabilities on the CPU. Uses the GPU
when there is one (``device: auto``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from curator.io.progress import progress

log = logging.getLogger(__name__)


def build_cnn(n_classes: int, width: int):
    """Six 3x3 conv-BN-ReLU layers (width, 2x, 4x channels), global pooling, a linear layer."""
    from torch import nn

    def block(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )

    w = width
    return nn.Sequential(
        block(3, w),
        block(w, w),
        nn.MaxPool2d(2),
        block(w, 2 * w),
        block(2 * w, 2 * w),
        nn.MaxPool2d(2),
        block(2 * w, 4 * w),
        block(4 * w, 4 * w),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * w, n_classes),
    )


def _augment(batch, generator):
    """Random crops (4-pixel reflected padding) and horizontal flips, per image, seeded."""
    import torch

    n, _, h, w = batch.shape
    padded = torch.nn.functional.pad(batch, (4, 4, 4, 4), mode="reflect")
    offsets = torch.randint(0, 9, (n, 2), generator=generator).tolist()
    flips = (torch.rand(n, generator=generator) < 0.5).tolist()
    crops = []
    for k, ((dy, dx), flip) in enumerate(zip(offsets, flips, strict=True)):
        crop = padded[k, :, dy : dy + h, dx : dx + w]
        crops.append(crop.flip(2) if flip else crop)
    return torch.stack(crops).contiguous(memory_format=torch.channels_last)


class _Normalise:
    """uint8 NHWC images -> float NCHW tensors standardised by the training fold's statistics."""

    def __init__(self, images: np.ndarray) -> None:
        pixels = images.reshape(-1, 3).astype(np.float64) / 255.0
        self.mean = pixels.mean(axis=0).astype(np.float32)
        self.std = np.maximum(pixels.std(axis=0), 1e-3).astype(np.float32)

    def __call__(self, images: np.ndarray, device: str):
        import torch

        x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.from_numpy(self.mean).to(device)[None, :, None, None]
        std = torch.from_numpy(self.std).to(device)[None, :, None, None]
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def train_cnn(
    images: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    settings: dict[str, Any],
    seed: int,
    device: str,
    desc: str = "cnn",
):
    """Fit one CNN on (images, y); returns (model in eval mode, its input normaliser)."""
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = build_cnn(n_classes, settings["width"]).to(device)
    model = model.to(memory_format=torch.channels_last)
    batch_size, epochs = settings["batch_size"], settings["epochs"]
    steps = epochs * -(-len(y) // batch_size)
    opt = torch.optim.SGD(
        model.parameters(),
        lr=settings["learning_rate"],
        momentum=0.9,
        nesterov=True,
        weight_decay=5e-4,
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=settings["learning_rate"], total_steps=steps, pct_start=0.25
    )
    normalise = _Normalise(images)
    targets = torch.as_tensor(y, dtype=torch.long)
    model.train()
    with progress(total=steps, desc=desc, unit="batch") as bar:
        for _ in range(epochs):
            order = torch.randperm(len(y), generator=generator).numpy()
            for start in range(0, len(y), batch_size):
                idx = order[start : start + batch_size]
                x = _augment(normalise(images[idx], device), generator)
                loss = torch.nn.functional.cross_entropy(model(x), targets[idx].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
                bar.update()
    return model.eval(), normalise


def predict_cnn(model, normalise: _Normalise, images: np.ndarray, device: str) -> np.ndarray:
    """Softmax probabilities, averaged over the image and its mirror image."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(images), 512):
            x = normalise(images[start : start + 512], device)
            logits = torch.stack([model(x), model(x.flip(3))])
            out.append(torch.softmax(logits, dim=-1).mean(0).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def out_of_fold_cnn_probs(
    images: np.ndarray,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    n_classes: int,
    settings: dict[str, Any],
    seed: int,
    device: str,
) -> np.ndarray:
    """Each image's probabilities from the CNN trained on the folds that do not hold it."""
    probs = np.zeros((len(y), n_classes), dtype=np.float64)
    for k, (train, held) in enumerate(folds):
        model, normalise = train_cnn(
            images[train],
            y[train],
            n_classes,
            settings,
            seed + k,
            device,
            desc=f"label_quality: cnn fold {k + 1}/{len(folds)}",
        )
        probs[held] = predict_cnn(model, normalise, images[held], device)
        log.info("label_quality: cnn fold %d/%d done", k + 1, len(folds))
    return probs
