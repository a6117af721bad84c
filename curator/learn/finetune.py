"""Optional fine-tuning of the CLIP image tower together with the trained head (off by default).

The order is LP-FT (Kumar et al., ICLR 2022): the head is first fit on frozen embeddings (what
``train`` always does), then tower and head are trained together at a small learning rate, so
the random head of a from-scratch start cannot wreck the pretrained features in the first
steps. Early stopping keeps the epoch with the best validation loss. Made for a GPU (mixed
precision there); it runs on CPU too, slowly, which the tests do with a tiny random model.
Images go through the model's evaluation transform (no augmentation), so a run is repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curator.features.embeddings import OpenClipEncoder
from curator.io.images import open_rgb
from curator.learn.model import EarlyStopping, TrainedHead
from curator.params import TrainParams


class _Labelled:
    """(preprocessed image, class index) pairs for torch's DataLoader."""

    def __init__(self, paths: list[Path], labels: np.ndarray, preprocess, max_pixels: int):
        self.paths, self.labels, self.preprocess, self.max_pixels = (
            paths,
            labels,
            preprocess,
            max_pixels,
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        img, _, _ = open_rgb(self.paths[i].read_bytes(), self.max_pixels)
        return self.preprocess(img), int(self.labels[i])


@dataclass
class FineTuned:
    """The tuned tower + head as one network, and how training went."""

    network: Any
    encoder: OpenClipEncoder
    history: list[dict[str, float | None]]
    best_epoch: int

    def predict_proba(self, paths: list[Path], batch_size: int, max_pixels: int) -> np.ndarray:
        import torch

        loader = self._loader(paths, np.zeros(len(paths), int), batch_size, max_pixels, False)
        out = []
        with torch.inference_mode(), self._autocast():
            for images, _ in loader:
                logits = self.network(images.to(self.encoder.device))
                out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        return np.concatenate(out)

    def _autocast(self):
        import torch

        amp = self.encoder.amp_dtype
        return torch.autocast(self.encoder.device, dtype=amp, enabled=amp is not None)

    def _loader(self, paths, labels, batch_size, max_pixels, shuffle, generator=None):
        import torch

        data = _Labelled(paths, labels, self.encoder.preprocess, max_pixels)
        return torch.utils.data.DataLoader(
            data, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=0
        )

    def tower_state(self) -> dict[str, Any]:
        return {
            k: v.detach().cpu().contiguous()
            for k, v in self.encoder.model.visual.state_dict().items()
        }


def finetune(
    encoder: OpenClipEncoder,
    head: TrainedHead,
    train: tuple[list[Path], np.ndarray],
    val: tuple[list[Path], np.ndarray],
    p: TrainParams,
    max_pixels: int,
) -> FineTuned:
    """Train ``encoder``'s image tower and ``head`` together; keep the best validation epoch."""
    import torch

    class Network(torch.nn.Module):
        def __init__(self, visual, classifier):
            super().__init__()
            self.visual, self.classifier = visual, classifier

        def forward(self, images):
            feats = torch.nn.functional.normalize(self.visual(images).float(), dim=-1)
            return self.classifier(feats)

    torch.manual_seed(p.seed)
    network = Network(encoder.model.visual, head.model.to(encoder.device)).to(encoder.device)
    tuned = FineTuned(network, encoder, [], 0)
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=p.finetune_learning_rate, weight_decay=p.weight_decay
    )
    scaler = torch.amp.GradScaler(enabled=encoder.amp_dtype == torch.float16)
    order = torch.Generator().manual_seed(p.seed)
    batches = tuned._loader(*train, p.finetune_batch_size, max_pixels, True, order)
    val_loader = tuned._loader(*val, p.finetune_batch_size, max_pixels, False)
    stopper = EarlyStopping(network, p.patience)
    for epoch in range(1, p.finetune_epochs + 1):
        network.train()
        for images, labels in batches:
            optimiser.zero_grad()
            with tuned._autocast():
                logits = network(images.to(encoder.device))
                loss = torch.nn.functional.cross_entropy(logits.float(), labels.to(encoder.device))
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
        network.eval()
        val_loss, val_acc = _validate(network, val_loader, encoder.device, tuned._autocast)
        if stopper.step(epoch, val_loss, val_acc):
            break
    stopper.restore()
    tuned.history, tuned.best_epoch = stopper.history, stopper.best_epoch
    return tuned


def _validate(network, loader, device, autocast) -> tuple[float, float]:
    import torch

    total, right, n = 0.0, 0, 0
    with torch.inference_mode(), autocast():
        for images, labels in loader:
            logits = network(images.to(device)).float()
            labels = labels.to(device)
            total += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
            right += int((logits.argmax(1) == labels).sum())
            n += len(labels)
    return total / n, right / n
