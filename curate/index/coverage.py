"""Kernel coverage, maximised greedily over a k-nearest-neighbour graph (MaxHerding's
objective, and UHerding's with row weights).

    coverage(S) = sum_x w(x) * max_{s in S} k(x, s),   k(x, y) = exp(-||x - y||^2 / (2 sigma^2))

Greedy: repeatedly add the row with the largest gain sum_x w(x) max(k(x, c) - best(x), 0),
best(x) being the kernel to x's nearest pick so far (0 before any pick); ties go to the
lowest row. The objective is a weighted facility location (monotone submodular), so the
greedy keeps its (1 - 1/e) guarantee.

The kernel is kept on the graph of each row and its `neighbours` nearest rows: a row outside
x's list counts as k = 0 for x. With neighbours >= N - 1 the graph is complete and this is
the exact objective (the brute-force check in the tests); above, no N x N matrix exists.
sigma, unless given: the median over the rows of the distance to their `bandwidth_rank`-th
nearest other row (a local scale of the data, as in "the median k-NN distance").

A pick changes best(x) only for the rows x whose list holds it, and a row's gain only
through the rows whose lists hold that row: each pick updates those, so the gains are
exact after every pick (no lazy upper bounds), in numpy over the graph's arrays.

References:
    Bae, Noh, Sutherland. "Generalized Coverage for More Robust Low-Budget Active
    Learning." ECCV 2024 (MaxHerding). Bae, Oliveira, Sutherland. "Uncertainty Herding: One
    Active Learning Method for All Label Budgets." ICLR 2025 (UHerding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse


def neighbour_index(x: np.ndarray, exact_below: int = 20_000):
    """A faiss L2 index of `x`: exhaustive up to `exact_below` rows, an inverted file above
    (4 sqrt(N) lists, 8 probed: a search may miss neighbours in unprobed lists)."""
    import faiss

    if len(x) < exact_below:
        index = faiss.IndexFlatL2(x.shape[1])
    else:
        lists = int(4 * np.sqrt(len(x)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(x.shape[1]), x.shape[1], lists)
        index.cp.min_points_per_centroid = 16  # only silences faiss's sample-size warning
        index.train(x[np.random.default_rng(0).choice(len(x), min(len(x), 32 * lists),
                                                      replace=False)])
        index.nprobe = 8
    index.add(x)
    return index


@dataclass
class KnnGraph:
    """Row i's list: itself (column 0) and its nearest other rows, with squared distances."""

    rows: np.ndarray  # (N, K + 1) int32
    squared: np.ndarray  # (N, K + 1) float32

    @property
    def complete(self) -> bool:
        return self.rows.shape[1] == self.rows.shape[0]


def knn_graph(x: np.ndarray, neighbours: int, chunk: int = 8192) -> KnnGraph:
    """Each row with its `neighbours` nearest other rows (all of them when fewer)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    k = min(neighbours, n - 1)
    if k == 0:
        return KnnGraph(np.zeros((n, 1), dtype=np.int32), np.zeros((n, 1), dtype=np.float32))
    index = neighbour_index(x)
    rows = np.empty((n, k + 1), dtype=np.int32)
    squared = np.empty((n, k + 1), dtype=np.float32)
    for start in range(0, n, chunk):
        found_d, found = index.search(x[start:start + chunk], k + 1)
        own = np.arange(start, start + len(found))
        # the row itself goes first, whichever of its duplicates faiss ranked first; a row
        # the search missed (an inverted file) drops its farthest neighbour instead
        drop = found == own[:, None]
        drop[~drop.any(axis=1), -1] = True
        rest, rest_d = found[~drop].reshape(-1, k), found_d[~drop].reshape(-1, k)
        missing = rest < 0  # an inverted file found fewer: padded with the row itself
        rest[missing] = np.broadcast_to(own[:, None], rest.shape)[missing]
        rest_d[missing] = 0.0
        rows[start:start + len(found), 0] = own
        rows[start:start + len(found), 1:] = rest
        squared[start:start + len(found), 0] = 0.0
        squared[start:start + len(found), 1:] = np.maximum(rest_d, 0.0)
    return KnnGraph(rows, squared)


def median_bandwidth(graph: KnnGraph, rank: int) -> float:
    """The median over the rows of the distance to their `rank`-th nearest other row."""
    column = min(rank, graph.rows.shape[1] - 1)
    if column == 0:
        return 1.0
    sigma = float(np.sqrt(np.median(graph.squared[:, column])))
    return sigma if sigma > 0 else 1.0


@dataclass
class Cover:
    rows: np.ndarray  # chosen rows in choice order
    gains: np.ndarray  # each pick's gain, as a share of the total weight
    sigma: float


def greedy_cover(graph: KnnGraph, n: int, sigma: float, weights: np.ndarray | None = None
                 ) -> Cover:
    """`n` rows chosen greedily for kernel coverage on `graph` (see the module docstring)."""
    size, width = graph.rows.shape
    if graph.rows.size >= 2**31:
        raise ValueError(f"a graph of {size:,} x {width} rows is too large: fewer neighbours")
    weights = np.ones(size) if weights is None else np.asarray(weights, dtype=np.float64)
    # float32 like the graph: the arrays are N x (K + 1), and memory traffic is the cost
    # (in place: each new array of that size is page faults first)
    kernel = np.divide(graph.squared, np.float32(-2.0 * sigma * sigma))
    np.exp(kernel, out=kernel)
    kernel[:, 1:][graph.rows[:, 1:] == graph.rows[:, :1]] = 0.0  # padding, not a neighbour
    flat_rows, flat_kernel = graph.rows.ravel(), kernel.ravel()
    lists = np.arange(0, graph.rows.size + 1, width, dtype=np.int64)
    # gain(c) = sum over the lists holding c of w(x) k(x, c): the graph's kernel matrix,
    # transposed, times the weights (the sums and their order of a weighted bincount over
    # the flat graph, without its two N x (K + 1) temporaries)
    gain = sparse.csr_matrix((flat_kernel, flat_rows, lists), shape=(size, size)).T @ weights
    # rows whose list holds c: c's column of the graph (scipy's CSR -> CSC conversion is a
    # counting sort over the positions, where np.argsort of the flat graph took seconds)
    by_column = sparse.csr_matrix((np.arange(graph.rows.size, dtype=np.int32), flat_rows,
                                   lists), shape=(size, size)).tocsc()
    best = np.zeros(size)
    total = weights.sum() or 1.0
    chosen, gains = [], []
    for _ in range(min(n, size)):
        pick = int(np.argmax(gain))
        chosen.append(pick)
        gains.append(gain[pick] / total)
        gain[pick] = -np.inf  # stays so: the updates below only subtract finite losses
        held = by_column.data[by_column.indptr[pick]:by_column.indptr[pick + 1]]
        holders, reach = held // width, flat_kernel[held].astype(np.float64)
        better = reach > best[holders]
        holders, reach = holders[better], reach[better]
        if len(holders):
            # each holder's list loses what the new best takes from it
            lists = kernel[holders].astype(np.float64)
            loss = weights[holders, None] * (np.maximum(lists - best[holders, None], 0.0)
                                             - np.maximum(lists - reach[:, None], 0.0))
            np.subtract.at(gain, graph.rows[holders].ravel(), loss.ravel())
            best[holders] = reach
    return Cover(np.array(chosen, dtype=np.int64), np.array(gains), sigma)


def kernel_cover(x: np.ndarray, n: int, neighbours: int = 100, sigma: float | None = None,
                 bandwidth_rank: int = 10, weights: np.ndarray | None = None) -> Cover:
    """Greedy kernel coverage of the rows of `x` (unit vectors) by `n` of them."""
    graph = knn_graph(x, neighbours)
    return greedy_cover(graph, n, sigma or median_bandwidth(graph, bandwidth_rank), weights)
