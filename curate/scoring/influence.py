"""Influence with LiSSA (DEALRec), computed without per-sample gradients.

LiSSA iterates h <- v + (1 - damp) h - (H_z h) / scale over random single samples z, where
v is the mean training gradient over one parameter block and H_z the Hessian of z's loss
with respect to that block. Its fixed point is scale * (H + damp * scale * I)^-1 v.
The influence of row i is I_i = <h, grad L(z_i)>: the derivative of row i's loss along h,
so one forward-mode `torch.func.jvp` of the per-row loss vector gives every I_i at once
instead of one backward pass per row.

References:
    Lin et al. "Data-efficient Fine-tuning for LLM-based Recommendation." SIGIR 2024.
    Agarwal, Bullins, Hazan. "Second-Order Stochastic Optimization for Machine Learning in
    Linear Time." JMLR 2017 (LiSSA). Koh & Liang, "Understanding Black-box Predictions via
    Influence Functions." ICML 2017.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LissaSettings:
    """The official defaults (DEALRec code/prune): damp 0.01, scale 25, depth 5000."""

    damp: float = 0.01
    scale: float = 25.0
    depth: int = 5000
    seed: int = 0


def block_loss_fn(model, block: str, x, y, reduction: str = "mean") -> Callable:
    """Loss as a function of one parameter tensor `block` of `model`, others fixed."""
    import torch
    from torch.func import functional_call

    fixed = {name: p.detach() for name, p in model.named_parameters()}

    def loss(theta):
        logits = functional_call(model, {**fixed, block: theta}, (x,))
        return torch.nn.functional.cross_entropy(logits, y, reduction=reduction)

    return loss


def lissa(hvp: Callable, v, settings: LissaSettings = LissaSettings(), n_samples: int = 1):
    """Solve h ~ scale * (H + damp * scale * I)^-1 v by the LiSSA recursion.

    Args:
        hvp: hvp(h, sample_index) -> Hessian of that sample's loss times h.
        v: the right-hand side (a tensor shaped like the parameter block).
        n_samples: how many samples `hvp` may index; one is drawn at random per step.
    """
    rng = np.random.default_rng(settings.seed)
    h = v.copy() if isinstance(v, np.ndarray) else v.clone()
    for index in rng.integers(n_samples, size=settings.depth):
        h = v + (1 - settings.damp) * h - hvp(h, int(index)) / settings.scale
    return h


def softmax_ce_hvp(a: np.ndarray, p: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Hessian of one sample's softmax cross-entropy w.r.t. the last layer's weight, times h.

    For logits z = W a + b, d2L/dW2 = (diag(p) - p p^T) (x) a a^T, so H h = (S (h a)) a^T
    with S = diag(p) - p p^T. The same product through torch.func's jvp-of-grad is
    Python-dispatch bound, orders of magnitude slower over LiSSA's steps
    (benchmarks/selection.md, "DEALRec's Hessian-vector product"). A test checks it
    against torch.func.
    """
    u = h @ a
    return np.outer(p * u - p * (p @ u), a)


def last_linear(model):
    """(name of the last Linear layer's weight, the module)."""
    import torch

    name, layer = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)][-1]
    return f"{name}.weight", layer


def influence_scores(model, x: np.ndarray, targets: np.ndarray,
                     settings: LissaSettings = LissaSettings(), chunk: int = 16384
                     ) -> np.ndarray:
    """I_i = <h, grad L(z_i)> over the last layer's weight, h from LiSSA on the mean gradient.

    The network below the last layer is fixed, so its outputs are computed once.
    """
    import torch
    from torch.func import grad

    block, layer = last_linear(model)
    features = torch.as_tensor(x, dtype=torch.float32)
    labels = torch.as_tensor(targets)
    theta = layer.weight.detach()
    v = grad(block_loss_fn(model, block, features, labels))(theta)
    captured = {}
    hook = layer.register_forward_pre_hook(lambda _m, args: captured.update(a=args[0]))
    with torch.inference_mode():
        probs = torch.softmax(model(features), dim=-1).double().numpy()
    hook.remove()
    inputs = captured["a"].double().numpy()
    h = lissa(lambda h, i: softmax_ce_hvp(inputs[i], probs[i], h), v.double().numpy(),
              settings, n_samples=len(x))
    return directional_derivatives(model, block, features, labels,
                                   torch.as_tensor(h, dtype=torch.float32), chunk)


def directional_derivatives(model, block: str, features, labels, h, chunk: int = 16384
                            ) -> np.ndarray:
    """<grad L(z_i), h> for every row: one forward-mode jvp per chunk of rows."""
    from torch.func import jvp

    theta = dict(model.named_parameters())[block].detach()
    scores = np.empty(len(features), dtype=np.float64)
    for start in range(0, len(features), chunk):
        rows = slice(start, start + chunk)
        per_row = block_loss_fn(model, block, features[rows], labels[rows], reduction="none")
        scores[rows] = jvp(per_row, (theta,), (h,))[1].detach().numpy()
    return scores
