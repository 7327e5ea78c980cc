"""MH-GAN checks from METHODS.md section 5."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from curate.synth.mh import Calibrator, acceptance, ensemble_probability, mh_select


@given(st.floats(0, 1), st.floats(0, 1))
def test_acceptance_is_a_probability_even_at_zero_and_one(d_current, d_proposal):
    alpha = acceptance(np.array([d_current]), np.array([d_proposal]))[0]
    assert 0.0 <= alpha <= 1.0


def test_acceptance_edges():
    assert acceptance(np.array([0.5]), np.array([1.0]))[0] == 1.0  # a sure "real" proposal
    assert acceptance(np.array([0.5]), np.array([0.0]))[0] == 0.0  # a sure "fake" one
    assert acceptance(np.array([0.2]), np.array([0.5]))[0] == 1.0
    assert np.isclose(acceptance(np.array([0.5]), np.array([0.2]))[0], 0.25)  # (1)/(4)


def test_true_density_ratio_recovers_p_data_when_the_generator_drops_a_mode():
    """p_data: modes at -2 and +2. The generator covers +2 well and -2 barely (it has
    dropped that mode). With D = p / (p + q), the chains' outputs follow p_data."""
    rng = np.random.default_rng(0)

    def p_data(x):
        return 0.5 * stats.norm.pdf(x, -2, 0.5) + 0.5 * stats.norm.pdf(x, 2, 0.5)

    def q_gen(x):
        return 0.9 * stats.norm.pdf(x, 2, 0.5) + 0.1 * stats.norm.pdf(x, 0, 2.5)

    def sample_q(size):
        wide = rng.random(size) < 0.1
        return np.where(wide, rng.normal(0, 2.5, size), rng.normal(2, 0.5, size))

    def discriminator(x):
        return p_data(x) / (p_data(x) + q_gen(x))

    chains, steps = 4000, 400
    starts = np.where(rng.random(chains) < 0.5, rng.normal(-2, 0.5, chains),
                      rng.normal(2, 0.5, chains))
    proposals = sample_q((chains, steps))
    final = mh_select(discriminator(starts), discriminator(proposals), rng)
    kept = proposals[np.arange(chains), final][final >= 0]
    assert len(kept) > 0.95 * chains
    reference = np.where(rng.random(20000) < 0.5, rng.normal(-2, 0.5, 20000),
                         rng.normal(2, 0.5, 20000))
    assert stats.ks_2samp(kept, reference).pvalue > 0.01
    raw = sample_q(len(kept))  # without MH the dropped mode stays missing
    assert stats.ks_2samp(raw, reference).pvalue < 1e-6


def test_calibration_improves_the_brier_score_on_held_out_data():
    rng = np.random.default_rng(1)

    def raw_scores(real: bool, n: int):  # an overconfident, miscalibrated discriminator
        logit = rng.normal(1.0 if real else -1.0, 1.0, n) * 8  # true log-odds are 2z
        return 1 / (1 + np.exp(-logit))

    fit_real, fit_fake = raw_scores(True, 2000), raw_scores(False, 2000)
    test_real, test_fake = raw_scores(True, 2000), raw_scores(False, 2000)
    truth = np.concatenate([np.ones(2000), np.zeros(2000)])
    raw = np.concatenate([test_real, test_fake])
    for method in ("isotonic", "logistic"):
        calibrated = Calibrator(method).fit(fit_real, fit_fake).predict(raw)
        assert np.mean((calibrated - truth) ** 2) < np.mean((raw - truth) ** 2) - 0.01


def test_ensemble_is_the_mean_of_calibrated_members():
    rng = np.random.default_rng(2)
    members = [Calibrator("logistic").fit(rng.normal(1, 1, 500), rng.normal(-1, 1, 500))
               for _ in range(3)]
    scores = [rng.normal(size=10) for _ in range(3)]
    expected = np.mean([m.predict(s) for m, s in zip(members, scores, strict=True)], axis=0)
    assert np.allclose(ensemble_probability(members, scores), expected)
