"""Entropic optimal transport between a target set and a candidate pool (GOT-D).

Log-domain Sinkhorn in torch with uniform weights and squared-Euclidean cost. The cost is
computed in chunks of candidates, so memory is O((N + M) d + chunk M), never N x M:

    f_i = -eps * logsumexp_j (log b_j + (g_j - C_ij) / eps)     (targets i, M of them)
    g_j = -eps * logsumexp_i (log a_i + (f_i - C_ij) / eps)     (candidates j, N of them)

GOT-D selects the candidates with the most negative g: moving mass onto them lowers the
OT distance to the target fastest. Potentials are defined up to an additive constant
(f + c, g - c), which changes no ranking.

Pools too large for a full solve use the anchored approximation: Sinkhorn runs between the
target and a seeded random sample of `anchor_size` candidates, which fixes the target
potential f; every candidate's g is then its soft c-transform against that f (the g-update
above), computed in one chunked pass. All candidates share the same f, so their g are
comparable; on the anchor sample it equals the solved g. benchmarks/ measures its top-k
agreement with the full solve.

The cluster pre-filter (`cluster_costs`) scores each k-means cluster by its regularised OT
cost to the target, the dual objective mean(f) + mean(g) (ott-jax's `reg_ot_cost`, which
the official code uses), solved on a seeded sample of the cluster's rows.

References:
    Kang et al. "Get more for less: Principled Data Selection for Warming Up Fine-Tuning
    in LLMs." ICLR 2024 (GOT-D; github.com/REDSgnaoh/DV4LLM). Cuturi, "Sinkhorn
    Distances." NeurIPS 2013.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SinkhornSettings:
    eps: float = 0.1  # the official code's epsilon
    max_iter: int = 1000
    # On the largest change of f per iteration, relative to eps. 1e-4 eps is about 20 float32
    # ulps of a potential near 4: a tighter tolerance sits below float32 rounding noise and
    # never stops before max_iter (benchmarks/selection-shift.md#sinkhorns-tolerance).
    # ott-jax, which the official code uses, stops at a 1e-3 marginal error.
    tol: float = 1e-4
    chunk: int = 8192
    anchor_size: int = 20000  # pools larger than this use the anchored approximation
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"  # float64 for reference-grade potentials on small problems
    keep_cost_entries: int = 250_000_000  # solves this small keep their cost matrix (1 GB)


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _cost(y, x_chunk, y_sq, x_sq):
    """Squared Euclidean distances, (M, chunk)."""
    return (y_sq[:, None] + x_sq[None, :] - 2.0 * (y @ x_chunk.T)).clamp_(min=0)


class CostBlocks:
    """The (M, chunk) cost blocks of targets y against candidates x, in candidate order.

    Blocks are recomputed on every pass, unless the whole matrix has at most `keep`
    entries: then they are computed once and kept (a small solve, such as the anchor
    sample, then costs one matrix product instead of two per iteration).
    """

    def __init__(self, y, x, chunk: int, keep: int = 0):
        self.y, self.x, self.chunk = y, x, chunk
        self.y_sq = (y * y).sum(1)
        self.kept = list(self._compute()) if len(x) * len(y) <= keep else None

    def _compute(self):
        for start in range(0, len(self.x), self.chunk):
            block = self.x[start:start + self.chunk]
            yield start, _cost(self.y, block, self.y_sq, (block * block).sum(1))

    def __iter__(self):
        return iter(self.kept) if self.kept is not None else self._compute()


def c_transform(f, costs: CostBlocks, eps: float):
    """g_j = -eps * logsumexp_i(log a_i + (f_i - C_ij) / eps) for every candidate."""
    import torch

    g = torch.empty(len(costs.x), dtype=f.dtype, device=f.device)
    for start, cost in costs:
        scaled = (f[:, None] - cost) / eps
        g[start:start + cost.shape[1]] = -eps * (torch.logsumexp(scaled, dim=0)
                                                 - math.log(len(f)))
    return g


def _f_update(g, costs: CostBlocks, eps: float):
    """f_i = -eps * logsumexp_j(log b_j + (g_j - C_ij) / eps), streaming over blocks."""
    import torch

    running = torch.full((len(costs.y),), -torch.inf, dtype=g.dtype, device=g.device)
    for start, cost in costs:
        scaled = (g[None, start:start + cost.shape[1]] - cost) / eps
        running = torch.logaddexp(running, torch.logsumexp(scaled, dim=1))
    return -eps * (running - math.log(len(g)))


def sinkhorn_potentials(targets: np.ndarray, candidates: np.ndarray,
                        settings: SinkhornSettings = SinkhornSettings()
                        ) -> tuple[np.ndarray, np.ndarray, int]:
    """(f over targets, g over candidates, iterations) of the entropic OT problem."""
    import torch

    device = _device(settings.device)
    y = torch.as_tensor(targets, dtype=getattr(torch, settings.dtype), device=device)
    x = torch.as_tensor(candidates, dtype=y.dtype, device=device)
    costs = CostBlocks(y, x, settings.chunk, keep=settings.keep_cost_entries)
    f = torch.zeros(len(y), dtype=y.dtype, device=device)
    g = torch.zeros(len(x), dtype=y.dtype, device=device)
    iterations = 0
    while iterations < settings.max_iter:
        iterations += 1
        f_new = _f_update(g, costs, settings.eps)
        g = c_transform(f_new, costs, settings.eps)
        change = float((f_new - f).abs().max())
        f = f_new
        if change < settings.tol * settings.eps:
            break
    return f.cpu().numpy(), g.cpu().numpy(), iterations


def candidate_potentials(targets: np.ndarray, candidates: np.ndarray,
                         settings: SinkhornSettings = SinkhornSettings()) -> np.ndarray:
    """g for every candidate: a full solve, or the anchored approximation for large pools."""
    import torch

    if len(candidates) <= settings.anchor_size:
        return sinkhorn_potentials(targets, candidates, settings)[1]
    anchor = np.sort(np.random.default_rng(settings.seed).choice(
        len(candidates), settings.anchor_size, replace=False))
    f, _, _ = sinkhorn_potentials(targets, candidates[anchor], settings)
    device = _device(settings.device)
    y = torch.as_tensor(targets, dtype=torch.float32, device=device)
    g = torch.empty(len(candidates), dtype=torch.float32)
    shard = 262144  # candidates moved to the device at a time
    for start in range(0, len(candidates), shard):
        x = torch.as_tensor(candidates[start:start + shard], dtype=torch.float32, device=device)
        f_t = torch.as_tensor(f, dtype=torch.float32, device=device)
        g[start:start + shard] = c_transform(f_t, CostBlocks(y, x, settings.chunk),
                                             settings.eps).cpu()
    return g.numpy()


def cluster_costs(targets: np.ndarray, candidates: np.ndarray, assignment: np.ndarray,
                  settings: SinkhornSettings = SinkhornSettings(), sample: int = 256
                  ) -> np.ndarray:
    """(k,) regularised OT cost between the target and each cluster (inf where empty).

    Each cluster is represented by a seeded sample of at most `sample` of its rows; the cost
    is the dual objective mean(f) + mean(g) of their entropic OT problem.
    """
    rng = np.random.default_rng(settings.seed)
    costs = np.full(int(assignment.max()) + 1, np.inf)
    order = np.argsort(assignment, kind="stable")
    bounds = np.searchsorted(assignment[order], np.arange(len(costs) + 1))
    for cluster in range(len(costs)):
        members = order[bounds[cluster]:bounds[cluster + 1]]
        if len(members) == 0:
            continue
        if len(members) > sample:
            members = np.sort(rng.choice(members, sample, replace=False))
        costs[cluster] = regularised_cost(targets, candidates[members], settings)
    return costs


def regularised_cost(targets: np.ndarray, candidates: np.ndarray,
                     settings: SinkhornSettings = SinkhornSettings()) -> float:
    """The entropic OT cost between two sets: the dual objective mean(f) + mean(g)."""
    f, g, _ = sinkhorn_potentials(targets, candidates, settings)
    return float(f.mean() + g.mean())
