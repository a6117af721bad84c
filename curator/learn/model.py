"""The classifier trained on the embeddings: a linear or one-hidden-layer head in torch.

Seeded and deterministic on CPU (same seed, same weights); early stopping on the validation
loss; optional class weights against imbalance. Weights are saved as safetensors (no pickle)
beside a JSON of everything needed to rebuild and to trust the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curator import __version__
from curator.io.tables import atomic_path, write_json
from curator.params import TrainParams


def build_head(dim: int, n_classes: int, hidden: int):
    import torch

    if hidden == 0:
        return torch.nn.Linear(dim, n_classes)
    return torch.nn.Sequential(
        torch.nn.Linear(dim, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_classes)
    )


@dataclass
class TrainedHead:
    model: Any
    classes: list[str]
    history: list[dict[str, float | None]]
    best_epoch: int
    device: str

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            logits = self.model(torch.as_tensor(x, dtype=torch.float32, device=self.device))
            return torch.softmax(logits, dim=1).cpu().numpy()


class EarlyStopping:
    """Keep the weights of the epoch with the lowest validation loss; say when ``patience``
    epochs in a row brought no improvement. Shared by the head and the CLIP fine-tuning."""

    def __init__(self, model, patience: int) -> None:
        self.model, self.patience = model, patience
        self.best, self.best_epoch, self.waited = float("inf"), 0, 0
        self.state: dict[str, Any] | None = None
        self.history: list[dict[str, float | None]] = []

    def step(self, epoch: int, val_loss: float, val_accuracy: float) -> bool:
        """Record an epoch; True when training should stop."""
        self.history.append({"epoch": epoch, "val_loss": val_loss, "val_accuracy": val_accuracy})
        if val_loss < self.best - 1e-6:
            self.best, self.best_epoch, self.waited = val_loss, epoch, 0
            self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            return False
        self.waited += 1
        return self.waited >= self.patience

    def keep(self, epoch: int) -> None:
        """Record an epoch with nothing to validate on: the latest weights are the ones kept."""
        self.history.append({"epoch": epoch, "val_loss": None, "val_accuracy": None})
        self.best_epoch = epoch
        self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def restore(self) -> None:
        self.model.load_state_dict(self.state)
        self.model.eval()


def fit_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    classes: list[str],
    class_weights: np.ndarray | None,
    params: TrainParams,
    device: str,
) -> TrainedHead:
    """Mini-batch Adam with early stopping on validation loss; returns the best epoch's head.
    With no validation images every epoch runs and the last is kept."""
    import torch

    torch.manual_seed(params.seed)
    torch.use_deterministic_algorithms(True)
    model = build_head(x_train.shape[1], len(classes), params.hidden).to(device)
    weight = (
        None
        if class_weights is None
        else torch.as_tensor(class_weights, dtype=torch.float32, device=device)
    )
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    optimiser = torch.optim.Adam(
        model.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
    )
    xt = torch.as_tensor(x_train, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y_train, dtype=torch.long, device=device)
    xv = torch.as_tensor(x_val, dtype=torch.float32, device=device)
    yv = torch.as_tensor(y_val, dtype=torch.long, device=device)
    order = torch.Generator().manual_seed(params.seed)
    stopper = EarlyStopping(model, params.patience)
    for epoch in range(1, params.max_epochs + 1):
        model.train()
        for batch in torch.randperm(len(xt), generator=order).split(params.batch_size):
            optimiser.zero_grad()
            loss_fn(model(xt[batch]), yt[batch]).backward()
            optimiser.step()
        model.eval()
        if not len(xv):
            stopper.keep(epoch)
            continue
        with torch.inference_mode():
            val_loss = float(torch.nn.functional.cross_entropy(model(xv), yv))
            val_acc = float((model(xv).argmax(1) == yv).float().mean())
        if stopper.step(epoch, val_loss, val_acc):
            break
    stopper.restore()
    return TrainedHead(model, classes, stopper.history, stopper.best_epoch, device)


def save_tensors(state: dict[str, Any], target: Path) -> None:
    """A state dict as safetensors (weights only: loading it never unpickles anything)."""
    from safetensors.torch import save_file

    with atomic_path(Path(target)) as tmp:
        save_file(state, str(tmp))


def save_head(head: TrainedHead, folder: Path, record: dict[str, Any]) -> None:
    """model.safetensors (weights only, no pickle) + model.json (how to rebuild and trust it)."""
    state = {k: v.detach().cpu().contiguous() for k, v in head.model.state_dict().items()}
    save_tensors(state, Path(folder) / "model.safetensors")
    write_json(
        record
        | {"classes": head.classes, "best_epoch": head.best_epoch, "history": head.history}
        | {"curator_version": __version__},
        Path(folder) / "model.json",
    )


def load_head(folder: Path):
    """Rebuild a saved head from its JSON and safetensors (nothing is unpickled)."""
    from safetensors.torch import load_file

    record = json.loads((Path(folder) / "model.json").read_text())
    model = build_head(record["dim"], len(record["classes"]), record["params"]["hidden"])
    model.load_state_dict(load_file(str(Path(folder) / "model.safetensors")))
    return TrainedHead(
        model.eval(), record["classes"], record["history"], record["best_epoch"], "cpu"
    ), record
