"""A paired bootstrap over test documents for the difference of two systems' micro F1.

Seeds measure training noise; the bootstrap measures the other noise of a test score, which
documents the test set happens to hold. Both systems are scored on the same resampled
documents (paired), once per seed pair, and the per-seed differences are averaged, so the
interval is that of the headline number itself: the mean over seeds of ``F1(variant) −
F1(baseline)``.

Inputs are :func:`spertmt.evaluation.metrics.document_counts` triples ``(correct, gold,
predicted)`` per document, one list per run; micro F1 of a resample is ``2·Σcorrect / (Σgold +
Σpredicted)``. Resamples are drawn as multinomial document weights, so the whole bootstrap is
a few matrix products (no loop per resample).

Example:
    >>> a = [[(1, 1, 1), (0, 1, 0)]]  # one seed, two documents
    >>> b = [[(0, 1, 1), (0, 1, 0)]]
    >>> result = paired_bootstrap(a, b, resamples=200, seed=0)
    >>> result.difference
    66.67
    >>> result.low <= result.difference <= result.high
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["BootstrapResult", "paired_bootstrap"]

Counts = Sequence[Sequence[int]]
"""One run's ``(correct, gold, predicted)`` per document."""


@dataclass(frozen=True)
class BootstrapResult:
    """The mean per-seed difference in micro F1 (points) and its bootstrap interval.

    ``difference`` is computed on the real test set; ``low`` and ``high`` are the percentile
    interval at ``confidence``; ``p_not_better`` is the fraction of resamples where the
    difference is ≤ 0 (a one-sided bootstrap p-value for "the variant is better").
    """

    difference: float
    low: float
    high: float
    confidence: float
    p_not_better: float
    resamples: int
    documents: int
    seeds: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _as_array(runs: Sequence[Counts], name: str) -> np.ndarray:
    array = np.asarray(runs, dtype=np.int64)
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0:
        raise ValueError(
            f"{name}: expected one list per seed of (correct, gold, predicted) per document, "
            f"got an array of shape {array.shape}"
        )
    return array


def _micro_f1(totals: np.ndarray) -> np.ndarray:
    """``totals[..., 3]`` summed counts → micro F1 in points (0 where nothing was counted)."""
    denominator = totals[..., 1] + totals[..., 2]
    safe = np.where(denominator > 0, denominator, 1)
    return np.where(denominator > 0, 200.0 * totals[..., 0] / safe, 0.0)


def paired_bootstrap(
    variant: Sequence[Counts],
    baseline: Sequence[Counts],
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Bootstrap the mean over seeds of ``micro F1(variant) − micro F1(baseline)``.

    Args:
        variant: Per seed, the variant's document counts (all seeds over the same documents).
        baseline: The baseline's, paired with ``variant`` seed by seed.
        resamples: How many resamples of the test documents.
        confidence: The interval's coverage, e.g. 0.95.
        seed: The resampling seed (the result is deterministic given it).

    Returns:
        The difference on the real test set and its percentile interval.

    Raises:
        ValueError: When the runs do not pair up (seed counts or document counts differ) or
            ``confidence`` is not in (0, 1).
    """
    ours = _as_array(variant, "variant")
    theirs = _as_array(baseline, "baseline")
    if ours.shape != theirs.shape:
        raise ValueError(
            f"variant and baseline do not pair up: {ours.shape[0]} seeds × {ours.shape[1]} "
            f"documents against {theirs.shape[0]} × {theirs.shape[1]}"
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    documents = ours.shape[1]
    rng = np.random.default_rng(seed)
    # weights[r, d]: how often document d is drawn in resample r.
    weights = rng.multinomial(documents, np.full(documents, 1.0 / documents), size=resamples)
    weights = weights.astype(np.float64)

    def mean_difference(w: np.ndarray) -> np.ndarray:
        # (resamples, docs) @ (seeds, docs, 3) → (seeds, resamples, 3) summed counts.
        f1_ours = _micro_f1(np.einsum("rd,sdk->srk", w, ours))
        f1_theirs = _micro_f1(np.einsum("rd,sdk->srk", w, theirs))
        return (f1_ours - f1_theirs).mean(axis=0)

    observed = float(mean_difference(np.ones((1, documents)))[0])
    samples = mean_difference(weights)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return BootstrapResult(
        difference=round(observed, 2),
        low=round(float(low), 2),
        high=round(float(high), 2),
        confidence=confidence,
        p_not_better=round(float(np.mean(samples <= 0.0)), 4),
        resamples=resamples,
        documents=documents,
        seeds=ours.shape[0],
        seed=seed,
    )
