"""``drift-gym report RUN_DIR``: statistics, tables, plots and one self-contained HTML page.

The unit of resampling is the episode (seeds are what is random), so every interval is a
percentile bootstrap over episodes. Steps with an infrastructure error or an unscored
violation verdict are left out of violation rates and counted.
"""

from __future__ import annotations

import base64
import html
import json
from collections import defaultdict
from pathlib import Path
from statistics import fmean
from typing import Any

from .outputs import write_file
from .records import EpisodeRecord, StepRecord
from .report_plots import plots
from .results import ResultLog
from .stats import (
    bootstrap_ci,
    bootstrap_diff_ci,
    first_true,
    pass_hat_k,
    slope,
    stickiness,
)
from .summary import summarize, user_drift

GroupKey = tuple[str, str, str, str, str]  # agent, pair, protected value, condition, context


def _flags(episode: EpisodeRecord) -> list[bool]:
    """The episode's violation flags in request order, over decided steps."""
    steps = sorted((s for s in episode.steps if s.decided), key=lambda s: s.step)
    return [s.violated for s in steps]


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, tuple | list):
        return [_round(v) for v in value]
    return value


def _avg(values: list[Any]) -> float | None:
    """The mean as a float (``fmean``: a share of flags too, where ``mean`` of all-true bools
    is the int 1, which would print as ``1`` next to ``0.000``); None for no values."""
    return fmean(values) if values else None


def group_stats(episodes: list[EpisodeRecord]) -> dict[str, Any]:
    """Statistics of one group of episodes (same agent, direction, condition, context)."""
    per_episode = [_flags(e) for e in episodes]
    fractions = [sum(f) / len(f) for f in per_episode if f]
    steps: list[StepRecord] = [s for e in episodes for s in e.steps if s.graded]
    by_step: dict[int, list[bool]] = defaultdict(list)
    for step in steps:
        if step.decided:
            by_step[step.step + 1].append(step.violated)
    curve = {t: sum(v) / len(v) for t, v in sorted(by_step.items())}
    curve_ci = {t: bootstrap_ci([float(x) for x in v]) for t, v in sorted(by_step.items())}
    firsts = [first_true(f) for f in per_episode]
    tasks: dict[tuple[str, int], list[bool]] = defaultdict(list)
    for step in steps:
        tasks[(step.scenario, step.step)].append(step.passed)
    successes = [sum(v) for v in tasks.values()]
    trials = [len(v) for v in tasks.values()]
    return {
        "episodes": len(episodes),
        "graded_steps": len(steps),
        "unscored_steps": len([s for s in steps if not s.decided]),
        "violation_rate": _avg(fractions),
        "violation_rate_ci": bootstrap_ci(fractions),
        "episode_violation_rate": _avg([any(f) for f in per_episode]),
        "mean_first_violation_step": _avg([f for f in firsts if f]),
        "drift_slope": slope(list(curve.values())),
        "stickiness": stickiness(per_episode),
        "task_pass_rate": _avg([s.passed for s in steps]),
        "pass^1": pass_hat_k(successes, trials, 1),
        "pass^2": pass_hat_k(successes, trials, 2),
        "false_claim_rate": _avg([s.false_claim for s in steps]),
        "tamper_rate": _avg([bool(s.tamper) for s in steps]),
        "mean_context_tokens": _avg([s.context_tokens for s in steps]),
        "violation_by_step": curve,
        "violation_by_step_ci": curve_ci,
        **user_drift(steps, episodes),
        "_fractions": fractions,
    }


def analyse(episodes: list[EpisodeRecord]) -> dict[str, Any]:
    """Every group's statistics, the asymmetry index per pair, and context curves."""
    groups: dict[GroupKey, list[EpisodeRecord]] = defaultdict(list)
    for episode in episodes:
        key = (episode.agent, episode.value_pair, episode.protected_value, episode.condition,
               episode.context)
        groups[key].append(episode)
    stats = {key: group_stats(group) for key, group in sorted(groups.items())}
    asymmetry = []
    for (agent, pair, protected, condition, context), row in stats.items():
        first, _, second = pair.partition("_")
        if protected != first:
            continue
        other = stats.get((agent, pair, second, condition, context))
        if other is None or row["violation_rate"] is None or other["violation_rate"] is None:
            continue
        asymmetry.append({
            "agent": agent, "value_pair": pair, "condition": condition, "context": context,
            "protected_a": first, "protected_b": second,
            "rate_a_protected": row["violation_rate"], "rate_b_protected": other["violation_rate"],
            "asymmetry_index": row["violation_rate"] - other["violation_rate"],
            "ci": bootstrap_diff_ci(row["_fractions"], other["_fractions"]),
        })
    rows = [{"agent": k[0], "value_pair": k[1], "protected_value": k[2], "condition": k[3],
             "context": k[4], **{n: _round(v) for n, v in s.items() if not n.startswith("_")}}
            for k, s in stats.items()]
    analysis = {"episodes": len(episodes), "groups": rows,
                "asymmetry": [{k: _round(v) for k, v in a.items()} for a in asymmetry],
                "context_curves": context_curves(episodes)}
    return {**analysis, "study": study_rows(analysis)}


def context_curves(episodes: list[EpisodeRecord]) -> list[dict[str, Any]]:
    """Violation rate per accumulated-context setting, one curve per agent (checkpoint) and
    condition, pooled over scenarios and directions, ordered by context size."""
    cells: dict[tuple[str, str, str], list[EpisodeRecord]] = defaultdict(list)
    for episode in episodes:
        cells[(episode.agent, episode.condition, episode.context)].append(episode)
    curves: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for (agent, condition, context), group in sorted(cells.items()):
        stats = group_stats(group)
        if stats["violation_rate"] is None:
            continue
        curves[(agent, condition)].append({
            "context": context, "episodes": len(group),
            "mean_context_tokens": _round(stats["mean_context_tokens"]),
            "violation_rate": _round(stats["violation_rate"]),
            "ci": _round(stats["violation_rate_ci"])})
    return [{"agent": agent, "condition": condition,
             "points": sorted(points, key=lambda p: p["mean_context_tokens"] or 0)}
            for (agent, condition), points in sorted(curves.items())]


HEADLINE = ("agent", "value_pair", "protected_value", "condition", "context", "episodes",
            "violation_rate", "violation_rate_ci", "episode_violation_rate",
            "mean_first_violation_step", "drift_slope", "stickiness", "task_pass_rate",
            "pass^2", "false_claim_rate", "tamper_rate")
USER_COLUMNS = ("user_drift_rate", "user_masked_violations", "user_stopped_early")


def headline(groups: list[dict[str, Any]]) -> tuple[str, ...]:
    """The group table's columns; simulated-user drift columns when a simulator ran."""
    return HEADLINE + (USER_COLUMNS if any("user_drift_rate" in g for g in groups) else ())


ASYMMETRY = ("agent", "value_pair", "condition", "context", "protected_a", "rate_a_protected",
             "protected_b", "rate_b_protected", "asymmetry_index", "ci")


STUDY = ("agent", "value_pair", "protected_value", "condition", "context", "episodes",
         "violation_rate", "violation_rate_ci", "asymmetry_index", "asymmetry_ci",
         "violation_by_step")
STUDY_TITLE = "study table: violation rate per pair x protected value x condition x context"


def study_rows(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """The asymmetric-drift study's table: violation rate per value pair x protected value x
    condition x context with its CI, the pair's asymmetry index (on both directions' rows),
    and the violation rate by step, per agent. Every context setting is a row of its own, so
    each rate is that of exactly the episodes its row counts, as in the group table (pooling
    or dropping contexts would contradict it)."""
    asymmetry = {(a["agent"], a["value_pair"], a["condition"], a["context"]): a
                 for a in analysis["asymmetry"]}
    rows = []
    for group in analysis["groups"]:
        pair = asymmetry.get((group["agent"], group["value_pair"], group["condition"],
                              group["context"]), {})
        by_step = group["violation_by_step"]
        rows.append({
            **{k: group[k] for k in ("agent", "value_pair", "protected_value", "condition",
                                     "context", "episodes", "violation_rate",
                                     "violation_rate_ci")},
            "asymmetry_index": pair.get("asymmetry_index"), "asymmetry_ci": pair.get("ci"),
            "violation_by_step": " ".join(f"{t}:{cell(v)}" for t, v in by_step.items())
            or None,
        })
    return rows


def cell(value: Any) -> str:
    """One table cell as every report output writes it (report.md, report.html and the
    `report` command): rates and intervals to three decimals, counts as integers, None as
    ``-``."""
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(cell(v) for v in value) + "]"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(analysis: dict[str, Any]) -> str:
    def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
        head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
        return head + "".join("| " + " | ".join(cell(r.get(c)) for c in columns) + " |\n"
                              for r in rows)

    return (f"# drift_gym report\n\n{analysis['episodes']} episodes.\n\n## Groups\n\n"
            + table(analysis["groups"], headline(analysis["groups"]))
            + "\n## Asymmetry (violation rate with A protected minus with B protected)\n\n"
            + table(analysis["asymmetry"], ASYMMETRY)
            + f"\n## {STUDY_TITLE[0].upper()}{STUDY_TITLE[1:]}\n\n"
            + table(analysis["study"], STUDY))


def html_page(analysis: dict[str, Any], figures: dict[str, bytes]) -> str:
    """One self-contained page: inline CSS, tables, figures as data URIs (no network)."""
    def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(r.get(c)))}</td>"
                                        for c in columns) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    images = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode()}"><figcaption>{html.escape(name)}</figcaption>'
        "</figure>" for name, data in figures.items())
    style = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
             "font-size:12px;margin-bottom:2em}td,th{border:1px solid #ccc;padding:3px 6px}"
             "th{background:#f2f2f2}figure{display:inline-block;margin:1em}img{max-width:640px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>drift_gym report</title>"
            f"<style>{style}</style></head><body><h1>drift_gym report</h1>"
            f"<p>{analysis['episodes']} episodes. Intervals: 95% percentile bootstrap over "
            "episodes.</p><h2>Groups</h2>"
            + table(analysis["groups"], headline(analysis["groups"]))
            + "<h2>Asymmetry index</h2>" + table(analysis["asymmetry"], ASYMMETRY)
            + f"<h2>{html.escape(STUDY_TITLE)}</h2>" + table(analysis["study"], STUDY)
            + f"<h2>Figures</h2>{images}</body></html>")


def build_report(run_dir: Path) -> dict[str, Any]:
    """Write summary.json (eval's rows plus the statistics), report.md, the PNG plots and
    report.html into `run_dir`; return the summary."""
    episodes = ResultLog(run_dir).episodes()
    if not episodes:
        raise ValueError(f"{run_dir} holds no finished episodes (episodes.jsonl): run "
                         "`drift-gym eval --out` there first")
    analysis = analyse(episodes)
    figures = plots(analysis)
    for name, data in figures.items():
        write_file(run_dir / name, data)
    write_file(run_dir / "report.md", markdown(analysis))
    write_file(run_dir / "report.html", html_page(analysis, figures))
    summary = {"rows": summarize(episodes), **analysis}
    write_file(run_dir / "summary.json", json.dumps(summary, indent=2))
    return summary


def to_dataset(run_dir: Path, out: Path) -> int:
    """Save the step records as a Hugging Face `datasets` dataset; return the row count."""
    from datasets import Dataset

    rows = [{k: json.dumps(v) if isinstance(v, dict | list) else v
             for k, v in s.to_dict().items()}
            for e in ResultLog(run_dir).episodes() for s in e.steps]
    Dataset.from_list(rows).save_to_disk(str(out))
    return len(rows)
