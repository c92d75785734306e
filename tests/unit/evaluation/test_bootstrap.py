"""The paired bootstrap over test documents (spertmt.evaluation.bootstrap)."""

import numpy as np
import pytest

from spertmt.evaluation.bootstrap import paired_bootstrap


def runs(rng, seeds, documents, hit_rate):
    """Per seed and document: 4 gold and 4 predicted items, ``correct`` drawn at ``hit_rate``."""
    correct = rng.binomial(4, hit_rate, size=(seeds, documents))
    four = np.full_like(correct, 4)
    return np.stack([correct, four, four], axis=-1).tolist()


def test_the_observed_difference_is_the_mean_per_seed_micro_f1_difference():
    ours = [[(3, 4, 4), (1, 2, 2)], [(2, 4, 4), (2, 2, 2)]]
    theirs = [[(2, 4, 4), (1, 2, 2)], [(2, 4, 4), (1, 2, 2)]]
    # seed 1: 2·4/12 − 2·3/12 = 16.67 points; seed 2: the same; mean 16.67.
    result = paired_bootstrap(ours, theirs, resamples=500, seed=1)
    assert result.difference == pytest.approx(16.67, abs=0.01)
    assert result.seeds == 2 and result.documents == 2 and result.resamples == 500


def test_identical_systems_have_a_zero_width_interval_at_zero():
    rng = np.random.default_rng(0)
    same = runs(rng, 3, 50, 0.6)
    result = paired_bootstrap(same, same, resamples=300)
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
    assert result.p_not_better == 1.0


def test_a_clearly_better_system_has_an_interval_above_zero_and_a_noisy_one_straddles_it():
    rng = np.random.default_rng(0)
    baseline = runs(rng, 3, 300, 0.5)
    better = runs(rng, 3, 300, 0.7)
    result = paired_bootstrap(better, baseline, resamples=2000)
    assert 0 < result.low < result.difference < result.high
    assert result.p_not_better < 0.01
    # The baseline's own documents, shuffled: the same totals (difference 0), different pairs.
    shuffled = np.asarray(baseline)[:, rng.permutation(300)].tolist()
    noisy = paired_bootstrap(shuffled, baseline, resamples=2000)
    assert noisy.difference == 0.0 and noisy.low < 0 < noisy.high


def test_the_result_is_deterministic_given_the_seed_and_changes_with_it():
    rng = np.random.default_rng(3)
    a, b = runs(rng, 2, 40, 0.6), runs(rng, 2, 40, 0.5)
    first = paired_bootstrap(a, b, resamples=400, seed=7)
    assert paired_bootstrap(a, b, resamples=400, seed=7) == first
    assert paired_bootstrap(a, b, resamples=400, seed=8) != first


def test_runs_that_do_not_pair_up_are_refused():
    with pytest.raises(ValueError, match="do not pair up"):
        paired_bootstrap([[(1, 1, 1)]], [[(1, 1, 1), (0, 1, 1)]])
    with pytest.raises(ValueError, match="one list per seed"):
        paired_bootstrap([[1, 2, 3]], [[1, 2, 3]])
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap([[(1, 1, 1)]], [[(1, 1, 1)]], confidence=1.5)
