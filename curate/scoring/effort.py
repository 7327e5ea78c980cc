"""Effort (DEALRec): the norm of each sample's loss gradient over one linear layer.

For a linear layer y = W a + b, sample i's weight gradient is sum_t g_t a_t^T over its
positions t (g = dL_i/dy). Its squared Frobenius norm is sum_{t,t'} (g_t . g_t')(a_t . a_t'),
so it comes from the layer's inputs and output gradients, captured with hooks in one
batched backward pass, and no (N, out, in) tensor of per-sample gradients is ever built.
With one position per sample (an MLP) it reduces to ||g|| * ||a||. opacus computes the same
norms but drags in its own training wrapper; these few lines avoid the dependency.

For labelled embeddings the surrogate stands in for the target model (its last layer plays
the role of the official code's last-layer LoRA B matrix); for a causal LM the layer is a
LoRA B module and the positions are tokens.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def linear_grad_norms(inputs, grad_outputs, has_bias: bool):
    """Per-sample gradient norms of a linear layer from (N, T, in) inputs, (N, T, out) grads."""
    import torch

    if inputs.dim() == 2:
        inputs, grad_outputs = inputs.unsqueeze(1), grad_outputs.unsqueeze(1)
    gram_a = torch.einsum("nti,nsi->nts", inputs, inputs)
    gram_g = torch.einsum("nto,nso->nts", grad_outputs, grad_outputs)
    squared = (gram_a * gram_g).sum(dim=(1, 2))
    if has_bias:
        squared = squared + grad_outputs.sum(1).pow(2).sum(-1)
    return squared.clamp(min=0).sqrt()


def per_sample_grad_norms(layer, batch_losses: Callable[[slice], object], n_rows: int,
                          batch_size: int = 4096, model=None) -> np.ndarray:
    """||dL_i / d(layer params)|| for every row.

    A layer called several times in one forward (a shared block, a weight-tied recurrence)
    gets the gradient of all its calls: the weight gradient is the sum over calls and
    positions of g a^T, so every call's inputs and output gradients are concatenated along
    the position axis before the Gram form. Parameters tied to *another* module are refused
    when `model` is given: that module's share of the gradient would be missing.

    Args:
        layer: a torch.nn.Linear inside the model.
        batch_losses: batch_losses(rows) runs the model on those rows and returns the
            (len(rows),) per-sample losses; samples in a batch must not interact.
        model: the whole model, to check that no other module shares the layer's weights.
    """
    import torch

    if model is not None:
        _refuse_tied(model, layer)
    inputs: list = []
    grads: dict[int, object] = {}

    def capture(_module, args, output):
        call = len(inputs)
        inputs.append(args[0].detach().reshape(len(args[0]), -1, args[0].shape[-1]))
        if output.requires_grad:
            output.register_hook(lambda grad: grads.__setitem__(
                call, grad.detach().reshape(len(grad), -1, grad.shape[-1])))

    hook = layer.register_forward_hook(capture)
    norms = np.empty(n_rows, dtype=np.float64)
    try:
        for start in range(0, n_rows, batch_size):
            rows = slice(start, min(start + batch_size, n_rows))
            inputs.clear()
            grads.clear()
            batch_losses(rows).sum().backward()
            if not inputs or len(grads) != len(inputs):
                raise RuntimeError(f"effort: the layer ran {len(inputs)} times in the forward "
                                   f"but {len(grads)} of its outputs received a gradient")
            norms[rows] = linear_grad_norms(
                torch.cat(inputs, dim=1), torch.cat([grads[i] for i in range(len(inputs))],
                                                    dim=1),
                layer.bias is not None).numpy()
    finally:
        hook.remove()
        inputs.clear()
        grads.clear()
    return norms


def _refuse_tied(model, layer) -> None:
    from curate.errors import CurateError

    own = {id(p) for p in layer.parameters(recurse=False)}
    for name, module in model.named_modules():
        if module is layer:
            continue
        if any(id(p) in own for p in module.parameters(recurse=False)):
            raise CurateError(f"effort: the scored layer shares its weights with '{name}', so "
                              "per-sample gradient norms would miss that module's share",
                              "score a layer whose weights are not tied to another module")


def surrogate_effort(model, x: np.ndarray, targets: np.ndarray, batch_size: int = 4096
                     ) -> np.ndarray:
    """Gradient norm of each row's cross-entropy over the surrogate's last linear layer."""
    import torch

    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    features = torch.as_tensor(x, dtype=torch.float32)
    labels = torch.as_tensor(targets)

    def batch_losses(rows):
        return torch.nn.functional.cross_entropy(model(features[rows]), labels[rows],
                                                 reduction="none")

    norms = per_sample_grad_norms(last, batch_losses, len(x), batch_size, model=model)
    model.zero_grad(set_to_none=True)
    return norms
