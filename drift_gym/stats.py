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
