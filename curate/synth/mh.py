"""Metropolis-Hastings selection of generator samples (MH-GAN, the core of MhERGAN).

An independence sampler over generator proposals: the chain starts at a real sample, and
a proposal x' replaces the current x_k with probability

    alpha = min(1, (1/D(x_k) - 1) / (1/D(x') - 1)),

which targets p_data when D/(1 - D) estimates p_data/p_g. A raw discriminator is rarely
calibrated, so D is first calibrated on held-out real-vs-fake scores (isotonic or
logistic). MhERGAN uses several discriminators; the paper gives no rule to combine them.
Ours: calibrate each, then average the calibrated probabilities (a mixture of density
ratio estimates; averaging probabilities rather than logits keeps one overconfident
member from dominating).

References:
    Turner et al. "Metropolis-Hastings Generative Adversarial Networks." ICML 2019
    (github.com/uber-research/metropolis-hastings-gans).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EPS = 1e-12


def acceptance(d_current: np.ndarray, d_proposal: np.ndarray) -> np.ndarray:
    """alpha in [0, 1]; D = 1 at the proposal always accepts, D = 0 never does."""
    d_current = np.clip(np.asarray(d_current, dtype=np.float64), 0.0, 1.0)
    d_proposal = np.clip(np.asarray(d_proposal, dtype=np.float64), 0.0, 1.0)
    odds_current = (1.0 - d_current) / np.maximum(d_current, EPS)  # 1/D - 1
    odds_proposal = (1.0 - d_proposal) / np.maximum(d_proposal, EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(odds_proposal > 0, odds_current / odds_proposal, np.inf)
    alpha = np.clip(np.nan_to_num(ratio, nan=1.0, posinf=1.0), 0.0, 1.0)
    return np.where(d_proposal == 0.0, 0.0, alpha)  # 1/D' - 1 is infinite: never accept


def mh_select(d_start: np.ndarray, d_proposals: np.ndarray, rng: np.random.Generator
              ) -> np.ndarray:
    """Run one chain per row and return the index of the proposal each chain ends on.

    Args:
        d_start: (C,) calibrated D of the real sample each chain starts at.
        d_proposals: (C, K) calibrated D of K generator proposals per chain.

    Returns:
        (C,) index into the K proposals of the final state, or -1 where the chain never
        left its real starting sample (MH-GAN then draws a fresh chain).
    """
    chains, steps = d_proposals.shape
    current = np.asarray(d_start, dtype=np.float64).copy()
    state = np.full(chains, -1)
    for k in range(steps):
        accept = rng.random(chains) < acceptance(current, d_proposals[:, k])
        state = np.where(accept, k, state)
        current = np.where(accept, d_proposals[:, k], current)
    return state


class Calibrator:
    """Maps raw discriminator scores to calibrated P(real), fitted on held-out data.

    Args:
        method: `isotonic` or `logistic` (Platt scaling on the raw score).
    """

    def __init__(self, method: str = "isotonic"):
        self.method = method

    def fit(self, real_scores: np.ndarray, fake_scores: np.ndarray) -> Calibrator:
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        scores = np.concatenate([real_scores, fake_scores]).astype(np.float64)
        labels = np.concatenate([np.ones(len(real_scores)), np.zeros(len(fake_scores))])
        if self.method == "isotonic":
            self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            self.model_.fit(scores, labels)
        else:  # Platt scaling, in logit space when the scores are probabilities
            self.logit_space_ = bool(scores.min() >= 0.0 and scores.max() <= 1.0)
            self.model_ = LogisticRegression().fit(self._features(scores), labels)
        return self

    def _features(self, scores: np.ndarray) -> np.ndarray:
        if self.logit_space_:
            clipped = np.clip(scores, 1e-6, 1 - 1e-6)
            scores = np.log(clipped / (1 - clipped))
        return scores[:, None]

    def predict(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        if self.method == "isotonic":
            return self.model_.predict(scores)
        return self.model_.predict_proba(self._features(scores))[:, 1]


def ensemble_probability(calibrators: Sequence[Calibrator], raw_scores: Sequence[np.ndarray]
                         ) -> np.ndarray:
    """The mean of each discriminator's calibrated P(real) (our combination rule)."""
    return np.mean([c.predict(s) for c, s in zip(calibrators, raw_scores, strict=True)], axis=0)
