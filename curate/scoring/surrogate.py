"""The surrogate: a small classifier on the embeddings, cheap to train on the whole pool.

DEALRec trains a small surrogate on the full data and reads influence from it; Diversify
and Conquer retrains one on each round's selection. For labelled rows the surrogate is a
linear layer or a 2-layer MLP; for unlabelled rows the k-means cluster ids stand in as
pseudo-labels, so the same scores exist for any pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SurrogateSettings:
    hidden: int = 256  # 0 gives a linear model
    epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0


def encode_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(class names, integer targets)."""
    classes, targets = np.unique(labels, return_inverse=True)
    return classes, targets.astype(np.int64)


def build_surrogate(dim: int, n_classes: int, hidden: int):
    import torch

    if hidden == 0:
        return torch.nn.Sequential(torch.nn.Linear(dim, n_classes))
    return torch.nn.Sequential(torch.nn.Linear(dim, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, n_classes))


def train_surrogate(x: np.ndarray, targets: np.ndarray, n_classes: int,
                    settings: SurrogateSettings = SurrogateSettings()):
    """Train with Adam on mini-batches; returns the model in eval mode (float32, CPU)."""
    import torch

    torch.manual_seed(settings.seed)
    model = build_surrogate(x.shape[1], n_classes, settings.hidden)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate,
                                 weight_decay=settings.weight_decay)
    features = torch.as_tensor(x, dtype=torch.float32)
    labels = torch.as_tensor(targets)
    generator = torch.Generator().manual_seed(settings.seed)
    model.train()
    for _ in range(settings.epochs):
        order = torch.randperm(len(features), generator=generator)
        for start in range(0, len(order), settings.batch_size):
            rows = order[start:start + settings.batch_size]
            loss = torch.nn.functional.cross_entropy(model(features[rows]), labels[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


def per_row_loss(model, x: np.ndarray, targets: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Cross-entropy of every row under `model`."""
    import torch

    out = np.empty(len(x), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(x), chunk):
            logits = model(torch.as_tensor(x[start:start + chunk], dtype=torch.float32))
            out[start:start + chunk] = torch.nn.functional.cross_entropy(
                logits, torch.as_tensor(targets[start:start + chunk]), reduction="none").numpy()
    return out
