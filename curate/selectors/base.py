"""The one interface every selector shares, and the view of the data it selects from.

A selector is shaped like a scikit-learn estimator: its parameters are explicit keyword
arguments of `__init__`, stored as given. `select(view, budget, seed)` returns the
Selection table: one row per chosen example saying which method chose it and why.

A selector implements `pick` (rows of an in-memory view) or `plan` (ids from the shards of
a `curate.exec.shards.ShardedPool`: a map over the shards, a reduce here). A selector with
a plan and no pick selects in memory by its plan over the view as one shard
(`one_shard`), so the in-memory and the sharded selections are one path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import ClassVar

import numpy as np
import polars as pl

from curate.budget import Budget
from curate.exec.keys import id_hashes, row_keys, smallest
from curate.exec.shards import Group, Shard, ShardedPool
from curate.index.kmeans import assign, fit_sample, kmeans_clusterer
from curate.params import constraints

SELECTION_SCHEMA = {"id": pl.Utf8, "selector": pl.Utf8, "round": pl.Int32,
                    "cluster": pl.Int64, "score": pl.Float64, "reason": pl.Utf8}


Clusterer = Callable[..., tuple[np.ndarray, np.ndarray]]


def group_rng(seed: int, group: str) -> np.random.Generator:
    """The random stream of one group, keyed by (seed, group name), for draws that are not
    per row (a tie among clusters): a label's picks do not depend on which other labels the
    pool holds or in what order they are visited. Per-row draws use `SelectionView.keys`."""
    digest = hashlib.blake2b(group.encode(), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "little")])


def label_rows(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Row positions of each label, ascending."""
    names, inverse = np.unique(labels, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    parts = np.split(order, np.cumsum(np.bincount(inverse, minlength=len(names)))[:-1])
    return {str(name): rows for name, rows in zip(names, parts, strict=True)}


@dataclass
class SelectionView:
    """What a selector may look at: one group of rows (a label, or the whole pool).

    Clusters are computed on first use for *this group's rows*, never restricted from a
    clustering of a larger pool: `cluster_fn(embeddings, group, k, seed, overrides, hashes)`
    returns (centroids (k, d), assignment (N,)); k None asks for the configured k
    (cluster.k), `overrides` replaces cluster settings (niter, nredo) for one selector;
    the k-means trains on the rows drawn by their keys (`hashes`) when it samples.

    Attributes:
        ids: (N,) row ids.
        embeddings: (N, d) float32, L2-normalised.
        labels: (N,) label strings, or None.
        scores: score name -> (N,) array (quality, influence, ...).
        cluster_fn: the clustering stage (cached by embeddings, group, k and seed); None
            fits faiss k-means in memory with the default cluster settings.
        score_fn: score_fn(name) computes a missing score (and any computed with it);
            by default `curate.scoring.COMPUTED_SCORES` come from this view (a surrogate,
            a cross-fitted probe).
        target: (M, d) embeddings of the target set, for distribution-shift selectors.
        group: the group's name, part of its clustering's cache key.
        seed: the seed of this group's clusterings and keyed draws.
        hashes: (N,) uint64 hashes of the ids (`curate.exec.keys.id_hashes`), computed on
            first use.
        instruction: prompt/response rows selected for an LM fine-tune (not for a
            classifier on their labels).
        holdout: (N,) bool, rows whose labels `auto` keeps to validate its candidates on;
            a selector that fits the pool's labels (`objective_rows`) leaves them out.
    """

    ids: np.ndarray
    embeddings: np.ndarray
    labels: np.ndarray | None = None
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    cluster_fn: Clusterer | None = None
    score_fn: Callable[[str], dict[str, np.ndarray]] | None = None
    target: np.ndarray | None = None
    group: str = "all"
    seed: int = 0
    hashes: np.ndarray | None = None
    instruction: bool = False
    holdout: np.ndarray | None = None
    _clusterings: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.hashes is None:
            self.hashes = id_hashes(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def keys(self, draw: str) -> np.ndarray:
        """(N,) uint64 keys of the draw named `draw` under this view's seed, one per row,
        from (seed, row id) alone: the rows with the smallest keys are a uniform draw
        without replacement that no row order or sharding changes."""
        return row_keys(self.seed, self.hashes, draw)

    def clustering(self, k: int | None = None, **overrides) -> tuple[np.ndarray, np.ndarray]:
        """(centroids, assignment) of a k-means of this view's rows; k None: cluster.k,
        capped by the number of rows. `overrides`: cluster settings (niter, nredo)."""
        k = None if k is None else max(1, min(k, len(self)))
        key = (k, tuple(sorted(overrides.items())))
        if key not in self._clusterings:
            clusterer = self.cluster_fn or default_clusterer()
            self._clusterings[key] = clusterer(self.embeddings, self.group, k, self.seed,
                                               overrides or None, self.hashes)
        return self._clusterings[key]

    @property
    def centroids(self) -> np.ndarray:
        return self.clustering()[0]

    @property
    def clusters(self) -> np.ndarray:
        """(N,) cluster id of each row, in the configured-k clustering of this view."""
        return self.clustering()[1]

    def score(self, name: str) -> np.ndarray:
        """The named score, computed on first use (`curate.scoring.COMPUTED_SCORES` need no
        set-up)."""
        if name not in self.scores:
            computed = self.score_fn(name) if self.score_fn else self._computed_scores(name)
            for key, values in computed.items():  # never replace a score given or computed
                self.scores.setdefault(key, values)
        return self.scores[name]

    def _computed_scores(self, name: str) -> dict[str, np.ndarray]:
        from curate.scoring import COMPUTED_SCORES, computed_scores

        if name not in COMPUTED_SCORES:
            raise KeyError(f"no score named '{name}' and no way to compute it")
        # Without labels the k-means clusters serve as pseudo-labels.
        labels = self.labels if self.labels is not None else self.clusters
        return computed_scores(name, self.embeddings, labels, self.hashes)

    def objective_rows(self, draw: str, rows: int) -> np.ndarray:
        """Positions of at most `rows` rows (a keyed draw named `draw`, in position order)
        whose labels a selector may fit: the rows outside `holdout`."""
        free = np.arange(len(self)) if self.holdout is None else np.flatnonzero(~self.holdout)
        return np.sort(free[smallest(self.keys(draw)[free], rows)])

    def with_seed(self, seed: int) -> SelectionView:
        """This view with clusterings seeded by `seed` (scores are shared, not copied)."""
        if seed == self.seed:
            return self
        return replace(self, seed=seed, _clusterings={})

    def subset(self, rows: np.ndarray, group: str) -> SelectionView:
        """The view of `rows` as the group `group`: it is clustered on its own; scores of
        the whole view are restricted to the rows (computed on the whole view first)."""
        return SelectionView(
            ids=self.ids[rows], embeddings=self.embeddings[rows],
            labels=None if self.labels is None else self.labels[rows],
            scores={k: v[rows] for k, v in self.scores.items()},
            cluster_fn=self.cluster_fn,
            score_fn=lambda name: {name: self.score(name)[rows]},
            target=self.target, group=group, seed=self.seed, hashes=self.hashes[rows],
            instruction=self.instruction,
            holdout=None if self.holdout is None else self.holdout[rows],
        )

    def alone(self, rows: np.ndarray) -> SelectionView:
        """The view of `rows` as a pool of its own: the scores it was given restricted to
        the rows, computed scores computed again from these rows alone (a cross-fitted
        probe on every row would carry the other rows' labels in)."""
        from curate.scoring import COMPUTED_SCORES

        return replace(self.subset(rows, self.group), score_fn=None,
                       scores={name: values[rows] for name, values in self.scores.items()
                               if name not in COMPUTED_SCORES})


def default_clusterer() -> Clusterer:
    """In-memory faiss k-means with the default cluster settings (no cache)."""
    from curate.config import ClusterConfig
    from curate.index import kmeans_clusterer

    return kmeans_clusterer(ClusterConfig())


@dataclass
class Picks:
    """Row positions chosen by a selector, in choice order, with why each was chosen."""

    rows: np.ndarray
    scores: np.ndarray
    reasons: list[str]
    clusters: np.ndarray | None = None
    rounds: np.ndarray | None = None


class Selector:
    """Base class: subclasses set `name` and `parameter_constraints` and implement
    `pick(view, n, rng)`, or `plan(pool, group, n, seed, rng)` (which then selects in
    memory too)."""

    name: ClassVar[str]
    # __init__ parameter -> allowed values (`curate.params`), checked by make_selector
    parameter_constraints: ClassVar[Mapping[str, object]] = constraints()
    needs_clusters: ClassVar[bool] = False
    # False where the budget follows another distribution (a target set) than the pool's
    # label mix: a stratified split is then ignored (an explicit "N per label" is not).
    stratifies: ClassVar[bool] = True
    # True for a selector that fits the pool's labels (it reads `SelectionView.holdout`)
    fits_labels: ClassVar[bool] = False

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        """Choose exactly `n` distinct rows of `view` (n <= len(view))."""
        raise NotImplementedError

    def work(self, rows: int, picks: int, dim: int, labels: int) -> float:
        """About how many multiply-adds picking `picks` of `rows` rows (vectors of width
        `dim`, `labels` labels) takes where that grows with picks x rows (`auto` leaves out
        a candidate past its `max_work`); 0 where it does not."""
        return 0.0

    def choice(self) -> dict | None:
        """What the last `select` chose that the run should record (`auto`'s candidate and
        why); None for a selector that runs one method."""
        return None

    def get_params(self) -> dict:
        import inspect

        return {p: getattr(self, p) for p in inspect.signature(type(self).__init__).parameters
                if p != "self"}

    def selects_per_label(self, budget: Budget) -> bool:
        """Whether `budget` runs this selector inside each label (asked for "N per label",
        or a stratified split the selector follows), rather than on the whole pool."""
        return budget.per_label is not None and (self.stratifies or not budget.stratified)

    def select(self, view: SelectionView, budget: Budget, seed: int) -> pl.DataFrame:
        """The Selection table for `budget` rows of `view`.

        A per-label budget (asked for, or a stratified split) runs the selector inside each
        label, on that label's own clustering; each group draws from its own (seed, group)
        random stream.
        """
        view = view.with_seed(seed)
        if self.selects_per_label(budget):
            rows_of = label_rows(view.labels)
            groups = [(view.subset(rows_of[label], f"label={label}"), n)
                      for label, n in sorted(budget.per_label.items())]
        else:
            groups = [(view, budget.total)]
        return pl.concat([self._group_table(group, min(n, len(group)),
                                            group_rng(seed, group.group))
                          for group, n in groups])

    def _group_table(self, view: SelectionView, n: int, rng: np.random.Generator
                     ) -> pl.DataFrame:
        """`n` rows of `view`: by `pick`, or by the plan over the view as one shard when
        the selector has no pick of its own."""
        if type(self).pick is Selector.pick:
            group = Group(view.group, None, n, len(view))
            return self._planned_table(self.plan(one_shard(view), group, n, view.seed, rng), n)
        picks = self.pick(view, n, rng)
        rows = np.asarray(picks.rows, dtype=np.int64)
        self._check(rows, n)
        clusters = picks.clusters if picks.clusters is not None else (
            view.clusters[rows] if self.needs_clusters else np.full(len(rows), -1))
        return selection_table(self.name, view.ids[rows], picks.scores, picks.reasons,
                               clusters, picks.rounds)

    def _planned_table(self, picks: PlannedPicks, n: int) -> pl.DataFrame:
        self._check(picks.ids, n)
        return selection_table(self.name, picks.ids, picks.scores, picks.reasons,
                               picks.clusters, None)

    def _check(self, chosen: np.ndarray, n: int) -> None:
        """Exactly `n` distinct rows (positions or ids) came back."""
        if len(chosen) != n or len(np.unique(chosen)) != n:
            raise RuntimeError(f"selector {self.name} returned {len(chosen)} rows "
                               f"({len(np.unique(chosen))} distinct) for a budget of {n}")

    def plan(self, pool: ShardedPool, group: Group, n: int, seed: int,
             rng: np.random.Generator) -> PlannedPicks:
        """Choose `n` rows of `group` from the shards of `pool` (a map over the shards, a
        reduce here). Without a `pick` of its own the selector selects in memory by this
        plan over one shard. Not every selector has one."""
        raise NotImplementedError

    def has_plan(self, pool: ShardedPool | None = None) -> bool:
        """Whether `plan` can select from `pool`'s shards."""
        return type(self).plan is not Selector.plan

    def select_sharded(self, pool: ShardedPool, budget: Budget, seed: int) -> pl.DataFrame:
        """The Selection `select` makes on the pool's rows, made from its shards: by the
        selector's plan (a map over the shards, a reduce here), or by gathering the rows
        here when it has none (`ShardedPool.gather`, refused past its limit)."""
        if not self.has_plan(pool):
            view = pool.gather(self.name, partial(SelectionView,
                                                  cluster_fn=kmeans_clusterer(pool.cluster)))
            return self.select(view, budget, seed)
        per_label = budget.per_label if self.selects_per_label(budget) else None
        tables = []
        for group in pool.groups(per_label, budget.total):
            n = min(group.n, group.size)
            picks = self.plan(pool, group, n, seed, group_rng(seed, group.name))
            tables.append(self._planned_table(picks, n))
        return pl.concat(tables)


@dataclass
class PlannedPicks:
    """What a plan chose: ids (in choice order), and for each its score, reason, cluster."""

    ids: np.ndarray
    scores: np.ndarray
    reasons: list[str]
    clusters: np.ndarray


def selection_table(name: str, ids: np.ndarray, scores, reasons: list[str],
                    clusters: np.ndarray | None, rounds: np.ndarray | None) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame({
        "id": np.asarray(ids).astype(str), "selector": [name] * n,
        "round": np.asarray(rounds if rounds is not None else np.zeros(n), dtype=np.int32),
        "cluster": np.asarray(clusters if clusters is not None else np.full(n, -1),
                              dtype=np.int64),
        "score": np.asarray(scores, dtype=np.float64), "reason": reasons,
    }, schema=SELECTION_SCHEMA)


class _ViewScores(Mapping):
    """A view's scores as a shard's columns: a score is computed when first read."""

    def __init__(self, view: SelectionView):
        self.view = view

    def __getitem__(self, name: str) -> np.ndarray:
        return self.view.score(name)

    def __iter__(self):
        return iter(self.view.scores)

    def __len__(self) -> int:
        return len(self.view.scores)


def one_shard(view: SelectionView) -> ShardedPool:
    """The view's rows as a pool of one shard in this process: a plan over it is the
    in-memory selection. Its columns are the view's scores (computed when a plan reads
    them) and its clustering is the view's (cached, with the view's cluster settings)."""
    shard = Shard(view.ids, view.embeddings, view.labels, _ViewScores(view), view.hashes)
    return ShardedPool([shard], dim=view.embeddings.shape[1], target=view.target,
                       clustering=lambda k, overrides: view.clustering(k, **(overrides or {})))


def plan_clustering(pool: ShardedPool, group: Group, k: int | None, seed: int,
                    overrides: dict | None = None, *, assignment: bool = False
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """(centroids, each group row's cluster in shard order or None without `assignment`):
    the group's k-means as the in-memory clusterer fits it. k (None: cluster.k) is capped
    by the group's size, `overrides` replaces cluster settings (niter, nredo), and it trains
    on the group's keyed sample (`ShardedPool.sample`): only those rows' vectors travel,
    and the shards assign their own rows. A view in memory (`one_shard`) has its own."""
    if pool.clustering is not None and group.label is None:
        return pool.clustering(k, overrides)
    k = max(1, min(k or pool.cluster.k, group.size))
    cfg = pool.cluster.model_copy(update={"k": k, **(overrides or {})})
    train = pool.sample(group.label, seed, k * cfg.max_points_per_centroid)
    centroids, _, backend = fit_sample(train, k, cfg, seed)
    if not assignment:
        return centroids, None
    return centroids, np.concatenate(pool.map(_assignment, group.label, centroids, cfg,
                                              backend))


def _assignment(shard: Shard, label: str | None, centroids: np.ndarray, cfg, backend: str
                ) -> np.ndarray:
    """The nearest centroid of each of the group's rows in this shard."""
    rows = shard.rows_of(label)
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    return assign(shard.load(rows), centroids, cfg, backend)
