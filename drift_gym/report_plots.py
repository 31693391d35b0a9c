"""The report's figures, laid out to stay readable however many cells a grid has.

Every label that names a cell sits where matplotlib gives it its own row (a horizontal bar's
y tick, a legend entry, a small-multiple's title) instead of being annotated next to a data
point, where two cells with close values would print on top of each other. Figures grow with
the number of cells they show rather than shrinking the text.
"""

from __future__ import annotations

import io
from typing import Any

# one row of text per cell, in inches: tick labels at 7 pt need about 0.22"
ROW_INCHES = 0.26
MARKERS = "osD^v<>PX*hp"


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _errors(values: list[float], cis: list[Any]) -> list[list[float]]:
    """Asymmetric error bars from [low, high] intervals (a missing interval draws none)."""
    return [[v - (ci or [v, v])[0] for v, ci in zip(values, cis, strict=True)],
            [(ci or [v, v])[1] - v for v, ci in zip(values, cis, strict=True)]]


def figures(analysis: dict[str, Any]) -> dict[str, Any]:
    """The report's matplotlib figures by file name (the caller renders and closes them)."""
    import matplotlib

    matplotlib.use("Agg")
    return {"violation_by_step.png": by_step(analysis["groups"]),
            "asymmetry.png": asymmetry(analysis["asymmetry"]),
            "violation_vs_context.png": by_context(analysis["context_curves"]),
            "pass_vs_violation.png": pass_vs_violation(analysis["groups"])}


def plots(analysis: dict[str, Any]) -> dict[str, bytes]:
    """The report's figures as PNG bytes, by file name."""
    import matplotlib.pyplot as plt

    rendered = {}
    for name, fig in figures(analysis).items():
        rendered[name] = _png(fig)
        plt.close(fig)
    return rendered


def by_step(groups: list[dict[str, Any]]) -> Any:
    """Violation rate by step, one panel per agent, each cell a line with its CI band; the
    legend sits outside the panels, one entry per line."""
    import matplotlib.pyplot as plt

    agents = sorted({g["agent"] for g in groups}) or ["(no groups)"]
    fig, axes = plt.subplots(1, len(agents), figsize=(4.2 * len(agents), 3.6), squeeze=False,
                             sharey=True)
    for ax, agent in zip(axes[0], agents, strict=True):
        for g in groups:
            curve = g["violation_by_step"]
            if g["agent"] != agent or not curve:
                continue
            label = f"{g['protected_value']} protected, {g['condition']}, {g['context']}"
            steps = [int(t) for t in curve]
            (line,) = ax.plot(steps, list(curve.values()), marker="o", markersize=3,
                              label=label)
            bands = [g["violation_by_step_ci"].get(t) or [v, v] for t, v in curve.items()]
            ax.fill_between(steps, [b[0] for b in bands], [b[1] for b in bands],
                            color=line.get_color(), alpha=0.12, linewidth=0)
        ax.set(xlabel="step", title=agent, ylim=(-0.05, 1.05))
        shown = sorted({int(t) for g in groups if g["agent"] == agent
                        for t in g["violation_by_step"]})
        ax.set_xticks(shown[::max(1, len(shown) // 12)])
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(0, -0.18), ncol=1,
                      frameon=False)
    axes[0][0].set_ylabel("violation rate")
    fig.subplots_adjust(wspace=0.12, top=0.8)
    fig.suptitle("Violation rate by step (bands: 95% bootstrap CI)")
    return fig


def asymmetry(rows: list[dict[str, Any]]) -> Any:
    """The asymmetry index per cell as horizontal bars: one labelled row per cell, the
    figure as tall as the rows need."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.8 + ROW_INCHES * len(rows))))
    labels = [f"{a['agent']} · {a['value_pair']} · {a['condition']} · {a['context']}"
              for a in rows]
    values = [a["asymmetry_index"] for a in rows]
    positions = list(range(len(rows)))
    ax.barh(positions, values, xerr=_errors(values, [a["ci"] for a in rows]) if rows else None,
            capsize=3, height=0.6)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(positions, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="rate(A protected) - rate(B protected)", xlim=(-1.05, 1.05),
           title="Asymmetry index (95% CI)")
    if not rows:
        ax.text(0, 0.5, "no pair with both directions measured", ha="center",
                transform=ax.get_xaxis_transform())
    return fig


def by_context(curves: list[dict[str, Any]]) -> Any:
    """Violation rate against accumulated context, one line per agent and condition. The
    context settings are named once each, on a secondary axis at the top (rotated, at their
    mean token count), not next to every point."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2 + ROW_INCHES * max(0, len(curves) - 8)))
    where: dict[str, list[float]] = {}
    for curve in curves:
        points = curve["points"]
        xs = [p["mean_context_tokens"] or 0 for p in points]
        ys = [p["violation_rate"] for p in points]
        ax.errorbar(xs, ys, yerr=_errors(ys, [p["ci"] for p in points]), marker="o",
                    markersize=4, capsize=3, label=f"{curve['agent']}, {curve['condition']}")
        for x, p in zip(xs, points, strict=True):
            where.setdefault(p["context"], []).append(x)
    ax.set(xlabel="mean context tokens at grading", ylabel="violation rate",
           title="Violation vs accumulated context (95% CI)", ylim=(-0.05, 1.05))
    if where:
        ticks = _merged_ticks({name: sum(xs) / len(xs) for name, xs in where.items()})
        top = ax.secondary_xaxis("top")
        top.set_xticks([x for x, _ in ticks], [name for _, name in ticks], rotation=60,
                       fontsize=6, ha="left")
        for x, _ in ticks:
            ax.axvline(x, color="grey", linewidth=0.5, alpha=0.4)
    if curves:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return fig


def _merged_ticks(at: dict[str, float]) -> list[tuple[float, str]]:
    """Context names at their token counts, names closer than 4% of the axis merged into one
    tick ("none / prefill:100") so that no two names print over each other."""
    ordered = sorted((x, name) for name, x in at.items())
    gap = 0.04 * ((ordered[-1][0] - ordered[0][0]) or 1.0)
    merged: list[tuple[float, list[str]]] = []
    for x, name in ordered:
        if merged and x - merged[-1][0] < gap:
            merged[-1][1].append(name)
        else:
            merged.append((x, [name]))
    return [(x, " / ".join(names)) for x, names in merged]


def pass_vs_violation(groups: list[dict[str, Any]]) -> Any:
    """Task pass rate against violation rate per cell: colour = agent, marker = condition,
    named in the legend (two cells with the same rates share a point, not a label)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    agents = sorted({g["agent"] for g in groups})
    conditions = sorted({g["condition"] for g in groups})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for g in groups:
        if g["violation_rate"] is None or g["task_pass_rate"] is None:
            continue
        ax.scatter(g["violation_rate"], g["task_pass_rate"], s=30, alpha=0.8,
                   color=colours[agents.index(g["agent"]) % len(colours)],
                   marker=MARKERS[conditions.index(g["condition"]) % len(MARKERS)])
    handles = ([plt.Line2D([], [], linestyle="", marker="o", color=colours[i % len(colours)],
                           label=agent) for i, agent in enumerate(agents)]
               + [plt.Line2D([], [], linestyle="", marker=MARKERS[i % len(MARKERS)],
                             color="grey", label=condition)
                  for i, condition in enumerate(conditions)])
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1),
                  frameon=False)
    ax.set(xlabel="violation rate", ylabel="task pass rate", title="Task pass vs violation",
           xlim=(-0.05, 1.05), ylim=(-0.05, 1.05))
    return fig
