"""Small statistics with hand-checkable definitions (tested against hand-computed values)."""

from __future__ import annotations

from collections.abc import Sequence


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two raters' binary labels: (p_o - p_e) / (1 - p_e).

    None when there are no pairs; 1.0 when both raters are constant and agree (p_e = 1)."""
    if len(a) != len(b):
        raise ValueError("kappa needs paired labels")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected == 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1 - expected)


def bootstrap_ci(values: Sequence[float], *, resamples: int = 2000, seed: int = 0,
                 alpha: float = 0.05) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean (None for no data; the unit resampled is
    whatever `values` holds — pass one value per episode so seeds are the unit)."""
    import numpy as np

    if len(values) == 0:
        return None
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    return float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


def bootstrap_diff_ci(a: Sequence[float], b: Sequence[float], *, resamples: int = 2000,
                      seed: int = 0, alpha: float = 0.05) -> tuple[float, float] | None:
    """Percentile bootstrap interval of mean(a) - mean(b), resampling each group apart."""
    import numpy as np

    if len(a) == 0 or len(b) == 0:
        return None
    rng = np.random.default_rng(seed)
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diffs = (xa[rng.integers(0, len(xa), size=(resamples, len(xa)))].mean(axis=1)
             - xb[rng.integers(0, len(xb), size=(resamples, len(xb)))].mean(axis=1))
    return float(np.quantile(diffs, alpha / 2)), float(np.quantile(diffs, 1 - alpha / 2))


def slope(ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys against 1, 2, ..., n (drift per step); None if n < 2."""
    n = len(ys)
    if n < 2:
        return None
    xs = range(1, n + 1)
    mean_x, mean_y = (n + 1) / 2, sum(ys) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    den = sum((x - mean_x) ** 2 for x in xs)
    return num / den


def first_true(flags: Sequence[bool]) -> int | None:
    """1-based index of the first True (time to first violation), None if never."""
    return next((i + 1 for i, f in enumerate(flags) if f), None)


def stickiness(episodes: Sequence[Sequence[bool]]) -> float | None:
    """P(violated at t+1 | violated at t), pooled over consecutive step pairs of all
    episodes: how much a violation, once made, persists. None when no step was violated
    before a last step."""
    pairs = [(a, b) for flags in episodes for a, b in zip(flags, flags[1:], strict=False)]
    after = [b for a, b in pairs if a]
    return sum(after) / len(after) if after else None


def pass_hat_k(successes: Sequence[int], trials: Sequence[int], k: int) -> float | None:
    """tau-bench's pass^k: mean over tasks of C(c, k) / C(n, k) (tasks with n >= k only)."""
    from math import comb

    ratios = [comb(c, k) / comb(n, k) for c, n in zip(successes, trials, strict=True) if n >= k]
    return sum(ratios) / len(ratios) if ratios else None
