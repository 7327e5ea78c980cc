import numpy as np
import pytest
import torch
from torch.func import grad, hessian

from curate.scoring.influence import (
    LissaSettings,
    block_loss_fn,
    directional_derivatives,
    influence_scores,
    lissa,
    softmax_ce_hvp,
)
from curate.scoring.surrogate import SurrogateSettings, train_surrogate


@pytest.fixture
def convex_problem():
    """Softmax regression (convex in its weights) on 3 separable-ish classes."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = np.argmax(x[:, :3] + 0.5 * rng.normal(size=(120, 3)), axis=1)
    model = train_surrogate(x, y, 3, SurrogateSettings(hidden=0, epochs=5))
    return model, torch.as_tensor(x), torch.as_tensor(y)


def test_lissa_matches_the_damped_inverse(convex_problem):
    model, x, y = convex_problem
    theta = model[0].weight.detach()
    loss = block_loss_fn(model, "0.weight", x, y)
    v = grad(loss)(theta)
    n = theta.numel()
    H = hessian(loss)(theta).reshape(n, n)
    settings = LissaSettings(damp=0.01, scale=25.0, depth=5000)
    h = lissa(lambda h, _: (H @ h.reshape(-1)).reshape(h.shape), v, settings)
    exact = settings.scale * torch.linalg.solve(
        H + settings.damp * settings.scale * torch.eye(n), v.reshape(-1))
    relative = torch.linalg.norm(h.reshape(-1) - exact) / torch.linalg.norm(exact)
    assert relative < 1e-3


def test_jvp_influence_equals_per_sample_backward_loop(convex_problem):
    model, x, y = convex_problem
    for block in ("0.weight", "0.bias"):
        theta = dict(model.named_parameters())[block].detach()
        h = torch.randn_like(theta)
        fast = directional_derivatives(model, block, x, y, h, chunk=50)
        loop = [float((grad(block_loss_fn(model, block, x[i:i + 1], y[i:i + 1]))(theta) * h)
                      .sum()) for i in range(len(x))]
        assert np.allclose(fast, loop, rtol=1e-4, atol=1e-6)


def test_stochastic_lissa_influence_tracks_the_exact_influence(convex_problem):
    """Single-sample LiSSA (as the official code) against the exact damped inverse."""
    model, x, y = convex_problem
    theta = model[0].weight.detach()
    loss = block_loss_fn(model, "0.weight", x, y)
    n = theta.numel()
    H = hessian(loss)(theta).reshape(n, n)
    settings = LissaSettings(depth=5000)
    exact_h = settings.scale * torch.linalg.solve(
        H + settings.damp * settings.scale * torch.eye(n), grad(loss)(theta).reshape(-1))
    exact = directional_derivatives(model, "0.weight", x, y, exact_h.reshape(theta.shape))
    scores = influence_scores(model, x.numpy(), y.numpy(), settings)
    assert np.corrcoef(scores, exact)[0, 1] > 0.95


def test_closed_form_hvp_equals_torch_func(convex_problem):
    from torch.func import jvp

    model, x, y = convex_problem
    theta = model[0].weight.detach()
    probs = torch.softmax(model(x), dim=-1).detach()
    h = torch.randn_like(theta)
    for i in range(5):
        single = block_loss_fn(model, "0.weight", x[i:i + 1], y[i:i + 1])
        reference = jvp(grad(single), (theta,), (h,))[1]
        fast = softmax_ce_hvp(x[i].double().numpy(), probs[i].double().numpy(),
                              h.double().numpy())
        assert np.allclose(fast, reference.numpy(), rtol=1e-4, atol=1e-7)
