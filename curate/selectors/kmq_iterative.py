"""kMQ with iterative refinement (Diversify and Conquer).

R rounds of B/R rows. Round 0 spreads its rows over the k-means clusters (kMQ quota).
After each round a model is trained on everything selected so far and every selected row
is scored by how much that model still has to learn about it: the official code uses a
reward gap, reward(gold answer) - reward(model answer), which needs a reward model; the
documented stand-in is the row's loss under a surrogate trained on the selection (labels,
or k-means pseudo-labels), and `reward` takes a user function instead. Cluster weights are
w = softmax(mean score per cluster / temperature); a cluster with no selected row yet gets
the mean of all scores. The next round draws clusters from Categorical(w) and an unseen
row from each drawn cluster. Each round adds B/R rows: the official code adds only 1/K of
that (its issue #8). When the budget is below the number of clusters, Categorical(w) is
weighted by cluster size as well, for the reason kMQ's quota follows cluster mass there
(`allocate_quota`): equal odds for a 2-row cluster and a dense mode spend a few-shot budget
on outliers.

References:
    Yu, Dai, et al. "Diversify and Conquer: Diversity-Centric Data Selection with
    Iterative Refinement." 2024 (github.com/for-ai/iterative-data-selection).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from curate.params import Function, Interval, constraints
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.kmq import allocate_quota, cluster_groups
from curate.selectors.registry import register


def round_sizes(n: int, rounds: int) -> list[int]:
    """B/R rows per round; the first n mod R rounds take one more."""
    return [n // rounds + (1 if r < n % rounds else 0) for r in range(rounds)]


def cluster_weights(scores: np.ndarray, clusters_of_scored: np.ndarray, n_clusters: int,
                    temperature: float = 1.0) -> np.ndarray:
    """softmax over clusters of the mean score of their scored rows (max-shifted)."""
    sums = np.bincount(clusters_of_scored, weights=scores, minlength=n_clusters)
    counts = np.bincount(clusters_of_scored, minlength=n_clusters)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), scores.mean())
    logits = means / temperature
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()


def surrogate_loss(view: SelectionView, rows: np.ndarray, seed: int) -> np.ndarray:
    """Loss of each selected row under a surrogate trained on the selected rows."""
    from curate.scoring.surrogate import (
        SurrogateSettings,
        encode_labels,
        per_row_loss,
        train_surrogate,
    )

    labels = view.labels if view.labels is not None else view.clusters
    classes, targets = encode_labels(labels[rows])
    if len(classes) == 1:
        return np.zeros(len(rows))
    model = train_surrogate(view.embeddings[rows], targets, len(classes),
                            SurrogateSettings(hidden=0, epochs=50, batch_size=64,
                                              learning_rate=1e-2, seed=seed))
    return per_row_loss(model, view.embeddings[rows], targets)


@register
class KMQIterativeSelector(Selector):
    """Args:
        rounds: number of selection rounds R.
        temperature: softmax temperature over cluster mean scores.
        reward: optional function(view, selected rows) -> one score per selected row,
            replacing the surrogate loss (e.g. a reward-model gap).
    """

    name = "kmq-iterative"
    needs_clusters = True

    parameter_constraints = constraints(
        rounds=Interval(int, 1, None),
        temperature=Interval(float, 0, None, closed="neither"),
        reward=[None, Function()],
    )

    def __init__(self, rounds: int = 3, temperature: float = 1.0,
                 reward: Callable[[SelectionView, np.ndarray], np.ndarray] | None = None):
        self.rounds = rounds
        self.temperature = temperature
        self.reward = reward

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        groups, members = cluster_groups(view.clusters)
        keys = view.keys("kmq-iterative")
        # popped from the end: a cluster gives its rows in ascending key order
        unseen = [list(g[np.argsort(keys[g], kind="stable")[::-1]]) for g in groups]
        sizes = round_sizes(n, min(self.rounds, n))
        cluster_sizes = np.array([len(g) for g in groups])
        mass = cluster_sizes if n < len(groups) else np.ones(len(groups))
        first = allocate_quota(cluster_sizes, sizes[0], rng)
        rows = [unseen[c].pop() for c, q in enumerate(first) for _ in range(q)]
        rounds, reasons = [0] * len(rows), ["round 0: cluster quota"] * len(rows)
        for r, size in enumerate(sizes[1:], start=1):
            chosen = np.array(rows)
            scores = self.reward(view, chosen) if self.reward else surrogate_loss(
                view, chosen, int(rng.integers(2**31 - 1)))
            weights = cluster_weights(np.asarray(scores, dtype=np.float64), members[chosen],
                                      len(groups), self.temperature)
            for _ in range(size):
                open_clusters = np.array([len(u) > 0 for u in unseen])
                p = weights * mass * open_clusters
                p = p / p.sum() if p.sum() > 0 else open_clusters / open_clusters.sum()
                c = int(rng.choice(len(groups), p=p))
                rows.append(unseen[c].pop())
                rounds.append(r)
                reasons.append(f"round {r}: cluster weight {weights[c]:.3f}")
        rows = np.array(rows)
        return Picks(rows=rows, scores=np.zeros(len(rows)), reasons=reasons,
                     rounds=np.array(rounds))
