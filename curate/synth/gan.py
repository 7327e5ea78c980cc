"""A conditional GAN for vectors and small images, filtered by Metropolis-Hastings (MH-GAN).

Rows are vectors: feature vectors as given (standardised), images as flattened pixels in
[0, 1] (8x8 digits are 64-d, 28x28 Fashion-MNIST 784-d). Small MLPs suffice at these sizes
and train on a CPU in well under a minute.

The ensemble (MhERGAN's "ensemble of discriminators"): K discriminators train against one
generator, whose loss is the mean of the K non-saturating losses. The real rows are split
into max(K, 2) label-stratified folds; discriminator k never sees fold k, so fold k is its
held-out real data for calibration (MH-GAN calibrates on held-out real vs fresh fake
samples). The calibrated members are combined by `mh.ensemble_probability` (the mean of the
calibrated P(real); see `curate/synth/mh.py` for why).

Sampling: per synthetic row, one independence-sampler chain starts at a held-out real row of
the label, scored by the one discriminator that never trained on it (MH-GAN starts chains at
held-out real samples; a discriminator scoring rows it memorised rates them near 1 and no
proposal would ever be accepted), and runs `chain_length` generator proposals through
`mh.mh_select`; a chain that never leaves its real start is restarted with fresh proposals
(`max_restarts` times, then once from a generator sample: see `_mh`).

References:
    Turner et al. "Metropolis-Hastings Generative Adversarial Networks." ICML 2019.
    Mirza and Osindero. "Conditional Generative Adversarial Nets." 2014.
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl

from curate.data.pool import Pool
from curate.params import Interval, Options, constraints
from curate.synth.base import Generator, Services, single_thread, vector_column, vector_rows
from curate.synth.mh import Calibrator, ensemble_probability, mh_select
from curate.synth.registry import register


def _mlp(sizes: list[int], out_activation=None):
    import torch.nn as nn

    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    if out_activation is not None:
        layers.append(out_activation)
    return nn.Sequential(*layers)


def stratified_folds(labels: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """(N,) fold of each row; every label spread over the folds as evenly as it can be."""
    folds = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        folds[rows] = (np.arange(len(rows)) + rng.integers(n_folds)) % n_folds
    return folds


@register
class MhGanGenerator(Generator):
    """Conditional GAN with K discriminators; rows filtered by an MH independence sampler.

    Args:
        discriminators: K, the size of the discriminator ensemble.
        steps: training steps (one update of every discriminator and of the generator).
        batch_size: rows per step, sampled with replacement (few-shot sets are tiny).
        noise_dim: size of the generator's input noise.
        hidden: width of the hidden layers of all networks.
        learning_rate: Adam step size (betas 0.5, 0.999, as DCGAN).
        refine_steps: discriminator-only steps after training, against the final generator:
            MH needs D/(1 - D) to estimate p_data/p_g for *that* generator, and a
            discriminator still chasing a moving generator is far from it (the discriminator
            rejection sampling paper, Azadi et al. 2019, does the same).
        calibration: `logistic` or `isotonic` (see `mh.Calibrator`).
        chain_length: generator proposals per MH chain.
        max_restarts: fresh chains tried for a row whose chain never moved.
    """

    name = "mh-gan"
    modalities = ("image", "vectors")

    parameter_constraints = constraints(
        discriminators=Interval(int, 1, None),
        steps=Interval(int, 0, None),
        batch_size=Interval(int, 1, None),
        noise_dim=Interval(int, 1, None),
        hidden=Interval(int, 1, None),
        learning_rate=Interval(float, 0, None, closed="neither"),
        refine_steps=Interval(int, 0, None),
        calibration=Options("logistic", "isotonic"),
        chain_length=Interval(int, 1, None),
        max_restarts=Interval(int, 0, None),
    )

    def __init__(self, discriminators: int = 3, steps: int = 1500, batch_size: int = 64,
                 noise_dim: int = 32, hidden: int = 256, learning_rate: float = 2e-4,
                 refine_steps: int = 1000, calibration: str = "logistic", chain_length: int = 50,
                 max_restarts: int = 10):
        self.discriminators = discriminators
        self.steps = steps
        self.batch_size = batch_size
        self.noise_dim = noise_dim
        self.hidden = hidden
        self.learning_rate = learning_rate
        self.refine_steps = refine_steps
        self.calibration = calibration
        self.chain_length = chain_length
        self.max_restarts = max_restarts

    def _fit(self, real: Pool, pool: Pool | None, seed: int, services: Services) -> None:
        import torch

        data = pool if pool is not None else real
        x = vector_rows(data)
        self.image_ = data.schema.modality == "image"
        self.mean_ = np.zeros(x.shape[1], np.float32) if self.image_ else x.mean(0)
        self.scale_ = np.ones(x.shape[1], np.float32) if self.image_ else np.maximum(
            x.std(0), 1e-6)
        self.x_ = (x - self.mean_) / self.scale_
        self.y_ = np.searchsorted(self.labels_, data.labels())
        self.ids_ = data.ids
        rng = np.random.default_rng(seed)
        self.folds_ = stratified_folds(self.y_, max(self.discriminators, 2), rng)
        with torch.random.fork_rng(devices=[]), single_thread():
            torch.manual_seed(seed)
            self._train(rng)
            self.calibrators_ = [self._calibrate(k, rng) for k in range(self.discriminators)]

    def _onehot(self, y: np.ndarray):
        import torch

        return torch.nn.functional.one_hot(torch.as_tensor(y), len(self.labels_)).float()

    def _fake(self, y: np.ndarray, generator=None):
        import torch

        z = torch.randn(len(y), self.noise_dim, generator=generator)
        return self.g_(torch.cat([z, self._onehot(y)], 1))

    def _score(self, k: int, x, y: np.ndarray) -> np.ndarray:
        """Raw logits of discriminator k."""
        import torch

        with torch.no_grad():
            x = torch.as_tensor(x, dtype=torch.float32)
            return self.d_[k](torch.cat([x, self._onehot(y)], 1)).squeeze(1).numpy()

    def _train(self, rng: np.random.Generator) -> None:
        import torch
        import torch.nn.functional as F

        d, n_labels, h = self.x_.shape[1], len(self.labels_), self.hidden
        self.g_ = _mlp([self.noise_dim + n_labels, h, h, d],
                       torch.nn.Sigmoid() if self.image_ else None)
        self.d_ = [_mlp([d + n_labels, h, h, 1]) for _ in range(self.discriminators)]
        betas = (0.5, 0.999)
        g_opt = torch.optim.Adam(self.g_.parameters(), lr=self.learning_rate, betas=betas)
        d_opts = [torch.optim.Adam(m.parameters(), lr=self.learning_rate, betas=betas)
                  for m in self.d_]
        x_all = torch.as_tensor(self.x_, dtype=torch.float32)
        train_rows = [np.flatnonzero(self.folds_ != k) for k in range(self.discriminators)]
        bce = F.binary_cross_entropy_with_logits
        for step in range(self.steps + self.refine_steps):
            for k, (disc, opt) in enumerate(zip(self.d_, d_opts, strict=True)):
                rows = rng.choice(train_rows[k], self.batch_size)
                y = self.y_[rows]
                with torch.no_grad():
                    fake = self._fake(y)
                logits_real = disc(torch.cat([x_all[rows], self._onehot(y)], 1))
                logits_fake = disc(torch.cat([fake, self._onehot(y)], 1))
                loss = bce(logits_real, torch.ones_like(logits_real)) + bce(
                    logits_fake, torch.zeros_like(logits_fake))
                opt.zero_grad()
                loss.backward()
                opt.step()
            if step >= self.steps:  # refinement: the generator stays fixed
                continue
            y = self.y_[rng.choice(len(self.y_), self.batch_size)]
            fake = torch.cat([self._fake(y), self._onehot(y)], 1)
            losses = [bce(logits, torch.ones_like(logits)) for logits in (m(fake) for m in self.d_)]
            g_opt.zero_grad()
            torch.stack(losses).mean().backward()
            g_opt.step()
        self.g_.eval()

    def _calibrate(self, k: int, rng: np.random.Generator) -> Calibrator:
        """Fit member k's calibrator on its held-out fold against fresh fakes of the same
        labels (more fakes than reals: the constant prior odds cancel in the MH ratio)."""
        held_out = np.flatnonzero(self.folds_ == k)
        y_fake = np.repeat(self.y_[held_out], max(1, 256 // len(held_out)))
        fakes = self._sample(y_fake, rng)
        return Calibrator(self.calibration).fit(
            self._score(k, self.x_[held_out], self.y_[held_out]), self._score(k, fakes, y_fake))

    def _sample(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        import torch

        noise = torch.Generator().manual_seed(int(rng.integers(2**62)))
        with torch.no_grad():
            return self._fake(y, noise).numpy()

    def probability_real(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The ensemble's calibrated P(real) of standardised rows `x` with label indices `y`."""
        return ensemble_probability(self.calibrators_, [
            self._score(k, x, y) for k in range(self.discriminators)])

    def held_out_probability(self, rows: np.ndarray) -> np.ndarray:
        """Calibrated P(real) of real rows by the member that held each out (a row in no
        member's held-out fold falls back to the whole ensemble)."""
        out = self.probability_real(self.x_[rows], self.y_[rows])
        for k in range(self.discriminators):
            mine = self.folds_[rows] == k
            if mine.any():
                member = rows[mine]
                out[mine] = self.calibrators_[k].predict(
                    self._score(k, self.x_[member], self.y_[member]))
        return out

    def _generate(self, label: str, n: int, rng: np.random.Generator, filtered: bool
                  ) -> pl.DataFrame:
        y = self.labels_.index(label)
        with single_thread():
            return self._rows(y, n, rng, filtered)

    def _rows(self, y: int, n: int, rng: np.random.Generator, filtered: bool) -> pl.DataFrame:
        if not filtered:
            x = self._sample(np.full(n, y), rng)
            reasons = ["generator sample (no MH filter)"] * n
        else:
            x, reasons = self._mh(y, n, rng)
        column = self.schema_.image or self.schema_.vectors
        return pl.DataFrame({column: vector_column(x * self.scale_ + self.mean_,
                                                   self.schema_.modality),
                             "parent_id": [None] * len(x), "reason": reasons},
                            schema_overrides={"parent_id": pl.Utf8})

    def _mh(self, y: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
        """One chain per row: up to 1 + max_restarts chains from held-out real rows; a row
        whose chains never moved gets a last chain started at a generator sample, which
        always ends on a generated row (burn-in matters there, so the reason says so)."""
        real_rows = np.flatnonzero((self.y_ == y) & (self.folds_ < self.discriminators))
        if len(real_rows) == 0:  # a label too rare to reach a held-out fold
            real_rows = np.flatnonzero(self.y_ == y)
        out = np.zeros((n, self.x_.shape[1]), np.float32)
        reasons = [""] * n
        waiting = np.arange(n)
        for attempt in range(self.max_restarts + 2):
            labels = np.full(len(waiting) * self.chain_length, y)
            proposals = self._sample(labels, rng).reshape(len(waiting), self.chain_length, -1)
            d_proposals = self.probability_real(proposals.reshape(len(labels), -1), labels
                                                ).reshape(len(waiting), self.chain_length)
            if attempt <= self.max_restarts:
                starts = rng.choice(real_rows, len(waiting))
                final = mh_select(self.held_out_probability(starts), d_proposals, rng)
                origin = [f"real row {self.ids_[s]}" for s in starts]
            else:
                final = mh_select(d_proposals[:, 0], d_proposals[:, 1:], rng) + 1
                origin = ["a generator sample (real starts never moved)"] * len(waiting)
            moved = final >= 0
            for slot, start, step in zip(waiting[moved], np.array(origin)[moved], final[moved],
                                         strict=True):
                reasons[slot] = (f"MH chain from {start}: proposal {step + 1} of "
                                 f"{self.chain_length} kept")
            out[waiting[moved]] = proposals[np.flatnonzero(moved), final[moved]]
            waiting = waiting[~moved]
            if len(waiting) == 0:
                break
        return out, reasons
