import numpy as np
import torch

from curate.scoring.effort import linear_grad_norms, per_sample_grad_norms, surrogate_effort
from curate.scoring.surrogate import SurrogateSettings, train_surrogate


def loop_norms(model, layer, losses_of_row, n):
    norms = []
    for i in range(n):
        model.zero_grad()
        losses_of_row(i).backward()
        squared = layer.weight.grad.pow(2).sum()
        if layer.bias is not None:
            squared = squared + layer.bias.grad.pow(2).sum()
        norms.append(float(squared.sqrt()))
    return np.array(norms)


def test_mlp_effort_equals_per_sample_loop():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = rng.integers(3, size=64)
    model = train_surrogate(x, y, 3, SurrogateSettings(hidden=10, epochs=3))
    fast = surrogate_effort(model, x, y, batch_size=16)
    features, labels = torch.as_tensor(x), torch.as_tensor(y)
    loop = loop_norms(model, model[2], lambda i: torch.nn.functional.cross_entropy(
        model(features[i:i + 1]), labels[i:i + 1]), 64)
    assert np.allclose(fast, loop, rtol=1e-4)


def test_sequence_layer_norms_equal_loop():
    """Several positions per sample (tokens through a LoRA-B-like layer): the Gram form."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 5, bias=False)
    tokens = torch.randn(12, 7, 4)
    targets = torch.randn(12, 7, 5)

    def batch_losses(rows):
        return (layer(tokens[rows]) - targets[rows]).pow(2).sum(dim=(1, 2))

    fast = per_sample_grad_norms(layer, batch_losses, 12, batch_size=5)
    loop = loop_norms(layer, layer, lambda i: batch_losses(slice(i, i + 1)).sum(), 12)
    assert np.allclose(fast, loop, rtol=1e-4)


def test_single_position_reduces_to_product_of_norms():
    a, g = torch.randn(9, 3), torch.randn(9, 2)
    expected = a.norm(dim=1) * g.norm(dim=1)
    assert torch.allclose(linear_grad_norms(a, g, has_bias=False), expected, rtol=1e-5)


def test_a_layer_called_twice_accumulates_both_calls():
    """A shared (weight-tied) block applied twice in one forward: the per-sample norm is
    that of the sum of both calls' gradients, as a per-sample loop computes it."""
    torch.manual_seed(0)
    shared = torch.nn.Linear(4, 4)
    head = torch.nn.Linear(4, 2)
    x, y = torch.randn(10, 3, 4), torch.randn(10, 3, 2)

    def batch_losses(rows):
        hidden = torch.tanh(shared(torch.tanh(shared(x[rows]))))
        return (head(hidden) - y[rows]).pow(2).sum(dim=(1, 2))

    model = torch.nn.ModuleList([shared, head])
    fast = per_sample_grad_norms(shared, batch_losses, 10, batch_size=4, model=model)
    loop = loop_norms(model, shared, lambda i: batch_losses(slice(i, i + 1)).sum(), 10)
    assert np.allclose(fast, loop, rtol=1e-4)
    once = loop_norms(model, shared, lambda i: (head(torch.tanh(shared(x[i:i + 1])))
                                                - y[i:i + 1]).pow(2).sum(), 10)
    assert not np.allclose(fast, once, rtol=1e-2)


def test_weights_tied_to_another_module_are_refused():
    import pytest

    from curate.errors import CurateError

    embed = torch.nn.Linear(3, 5, bias=False)
    tied = torch.nn.Linear(3, 5, bias=False)
    tied.weight = embed.weight
    model = torch.nn.ModuleDict({"embed": embed, "tied": tied})
    with pytest.raises(CurateError, match="shares its weights with 'embed'"):
        per_sample_grad_norms(tied, lambda rows: torch.zeros(1, requires_grad=True), 4,
                              model=model)
