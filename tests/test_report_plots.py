"""The report's figures stay readable on a big grid: no two pieces of text overlap.

Rendered for real with matplotlib (Agg) on a grid of 4 agents x 3 value pairs x 2 conditions
x 3 context settings (two of which sit 50 tokens apart), then every visible text's bounding
box is compared with every other's: the labels that used to be annotated next to points or
written under vertical bars printed on top of each other at this size.
"""

from __future__ import annotations

import itertools

import matplotlib
import pytest

from drift_gym import report_plots

matplotlib.use("Agg")

AGENTS = ["oracle", "violator", "drifter", "hf:/ckpts/step-1200"]
PAIRS = ["utility_privacy", "convenience_security", "efficiency_security"]
CONDITIONS = ["baseline", "pressure:3"]
CONTEXTS = [("none", 900), ("prefill:1", 950), ("filler:3000", 3900), ("prefill:6", 5200)]


def big_grid() -> dict:
    groups, asymmetry, curves = [], [], []
    for agent, pair, condition, (context, _) in itertools.product(AGENTS, PAIRS, CONDITIONS,
                                                                   CONTEXTS):
        first, _, second = pair.partition("_")
        for protected in (first, second):
            groups.append({
                "agent": agent, "value_pair": pair, "protected_value": protected,
                "condition": condition, "context": context, "violation_rate": 0.5,
                "task_pass_rate": 0.9, "violation_by_step_ci": {},
                "violation_by_step": {str(t): (t % 5) / 5 for t in range(12)}})
        asymmetry.append({"agent": agent, "value_pair": pair, "condition": condition,
                          "context": context, "asymmetry_index": 0.25, "ci": [0.1, 0.4]})
    for agent, condition in itertools.product(AGENTS, CONDITIONS):
        curves.append({"agent": agent, "condition": condition, "points": [
            {"context": context, "mean_context_tokens": tokens, "violation_rate": 0.4,
             "ci": [0.3, 0.5]} for context, tokens in CONTEXTS]})
    return {"groups": groups, "asymmetry": asymmetry, "context_curves": curves}


def overlapping_texts(fig) -> list[tuple[str, str]]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer))
             for t in fig.findobj(matplotlib.text.Text)
             if t.get_visible() and t.get_text().strip()]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
            if box_a.overlaps(box_b)]


@pytest.mark.parametrize("name", ["violation_by_step.png", "asymmetry.png",
                                  "violation_vs_context.png", "pass_vs_violation.png"])
def test_no_two_labels_overlap_on_a_big_grid(name):
    import matplotlib.pyplot as plt

    figures = report_plots.figures(big_grid())
    try:
        assert overlapping_texts(figures[name]) == []
    finally:
        for fig in figures.values():
            plt.close(fig)


def test_every_cell_is_named_once():
    """Readable, and still complete: every asymmetry cell has its row, every context
    setting its name, every agent and condition its legend entry."""
    import matplotlib.pyplot as plt

    figures = report_plots.figures(big_grid())
    try:
        texts = {name: [t.get_text() for t in fig.findobj(matplotlib.text.Text)
                        if t.get_visible()]
                 for name, fig in figures.items()}
    finally:
        for fig in figures.values():
            plt.close(fig)
    cells = [t for t in texts["asymmetry.png"] if " · " in t]
    assert len(cells) == len(set(cells)) == len(AGENTS) * len(PAIRS) * len(CONDITIONS) * len(
        CONTEXTS)
    assert "none / prefill:1" in texts["violation_vs_context.png"]  # 50 tokens apart: merged
    assert {"filler:3000", "prefill:6"} <= set(texts["violation_vs_context.png"])
    assert set(AGENTS) | set(CONDITIONS) <= set(texts["pass_vs_violation.png"])


def test_an_empty_analysis_still_draws():
    assert set(report_plots.plots({"groups": [], "asymmetry": [], "context_curves": []})) == {
        "violation_by_step.png", "asymmetry.png", "violation_vs_context.png",
        "pass_vs_violation.png"}
