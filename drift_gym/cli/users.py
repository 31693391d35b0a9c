"""`drift-gym simulate` and `tracker-eval`: simulated users and the trackers that judge them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .common import (
    HELP,
    TRACKER_HELP,
    ApiBase,
    CacheDir,
    EvalProgress,
    NoCache,
    app,
    console,
    fail,
    fmt,
    stdout_console,
    tracker_note,
)

SIMULATOR_HELP = HELP["simulate_simulator"]


@app.command("simulate")
def simulate_users(
    simulator: Annotated[str, typer.Option(help=SIMULATOR_HELP)] = "scripted",
    tracker: Annotated[str, typer.Option(help=TRACKER_HELP)] = "auto",
    episodes: Annotated[int, typer.Option(min=1, help="Conversations to run.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the first conversation (+1 per next).")] = 0,
    goals: Annotated[str, typer.Option(
        help="Glob over goal names <family>.<value_pair> (simulators/goals/).")] = "*",
    api_base: ApiBase = None,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
    steer: Annotated[bool, typer.Option(
        "--steer", help="Put the tracked goal state into an LLM user's prompt.")] = False,
    question_rate: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="How often the scripted agent asks a clarifying question.")] = 0.3,
    max_turns: Annotated[int | None, typer.Option(
        min=1, help="User turns per conversation (default: 3 per request + 3).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Also write the summary with every episode's events to this JSON file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run simulated users against a scripted agent; report UGST and consistency metrics and,
    for scripted users (who report the drift they inject), the tracker's recall and
    false-positive rate."""
    from ..catalog import CatalogError
    from ..models import ModelError
    from ..outputs import OutputError, probe_folder, write_file
    from ..users.simulate import SimulationConfig, simulate

    if simulator.startswith("hf:") and not Path(simulator[3:]).is_dir():
        fail(f"--simulator {simulator}: no checkpoint folder at {simulator[3:]}")
    try:
        tracker_note(None, tracker, {})
    except ValueError as exc:
        fail(str(exc))
    if out is not None:  # a path that cannot take the file fails now, not after the run
        if out.is_dir():
            fail(f"--out: cannot write {out}: it is a folder, not a file; give a file name")
        try:
            probe_folder(out.parent)
        except OutputError as exc:
            fail(f"--out: {exc}; {exc.advice}")
    config = SimulationConfig(simulator=simulator, tracker=tracker, episodes=episodes,
                              seed=seed, goals=goals, api_base=api_base,
                              cache_dir=cache_dir, use_cache=not no_cache,
                              question_rate=question_rate, steer=steer, max_turns=max_turns)
    try:
        with EvalProgress(episodes, enabled=not as_json, label="simulate") as progress:
            summary = simulate(config, on_episode=progress.advance)
    except (ValueError, CatalogError) as exc:
        fail(f"{exc}")
    except ModelError as exc:
        fail(f"{exc} (check --simulator/--tracker, --api-base and the provider's API key)")
    for note in (summary["tracker_note"], summary["scoring_note"]):
        if note:
            console.print(f"[yellow]warning:[/] {escape(note)}", soft_wrap=True)
    if out is not None:
        try:
            write_file(out, json.dumps(summary, indent=2))
        except OutputError as exc:
            fail(f"--out: {exc}; {exc.advice}")
    summary = {k: v for k, v in summary.items() if k != "per_episode"}
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    _print_simulation(summary)
    if out is not None:
        console.print(f"per-episode records: {out}")


def _print_simulation(summary: dict[str, Any]) -> None:
    """The metrics table and the events by type; the tracker-quality metrics only where the
    user reports its drift (a scripted user), else a note that they cannot be measured."""
    table = Table(title=f"drift_gym simulate: {summary['simulator']} "
                        f"({summary['episodes']} conversations, {summary['user_turns']} user "
                        f"turns, tracker {summary['tracker']})")
    table.add_column("metric")
    table.add_column("value")
    quality = ("injected_events", "tracker_recall", "tracker_false_positive_rate",
               "label_agreement", "stopped_early") if summary["ground_truth"] else ()
    for key in ("ugst_mean", "prompt_to_line", "line_to_line", "qa_consistency", *quality,
                "detected_events", "toward_violation_turns", "unscored_lines", "read_lines"):
        table.add_row(key, fmt(summary[key]))
    for category, value in summary["ugst_categories"].items():
        table.add_row(f"ugst.{category}", fmt(value))
    stdout_console().print(table)
    if not summary["ground_truth"]:
        console.print(f"note: the user {escape(summary['simulator'])} reports no drift of its "
                      "own, so the tracker's recall and false positives cannot be measured "
                      "(scripted users only)", soft_wrap=True)
    if summary["event_types"]:
        columns = next(iter(summary["event_types"].values()))
        events = Table(title="drift events by type")
        for column in ("type", *columns):
            events.add_column(column)
        for kind, counts in summary["event_types"].items():
            events.add_row(kind, *(str(counts[c]) for c in columns))
        stdout_console().print(events)


@app.command("tracker-eval")
def tracker_eval(
    tracker: Annotated[str, typer.Option(
        help="The tracker to measure: scripted, lexical or llm:<model>.")] = "lexical",
    split: Annotated[str, typer.Option(
        help="Corpus half: dev (the lexical frames were written from it), heldout, or all.")] = (
        "all"),
    api_base: ApiBase = None,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Measure a goal tracker on the labelled corpus (simulators/validation/): recall,
    false-positive rate and Cohen's kappa, overall, per drift kind and per hard case."""
    from ..catalog import CatalogError
    from ..models import ModelError
    from ..users.registry import make_tracker
    from ..users.tracker import canonical
    from ..users.tracker_eval import evaluate

    try:
        spec = canonical(tracker, auto=False)
        tracker_note(None, spec, {})
        judge = make_tracker(spec, api_base=api_base, cache_dir=cache_dir,
                             use_cache=not no_cache)
        result = evaluate(judge, split)
    except (ValueError, CatalogError) as exc:
        fail(str(exc))
    except ModelError as exc:
        fail(f"{exc} (check --tracker, --api-base and the provider's API key)")
    if as_json:
        print(json.dumps(result, indent=2))
        return
    sections = {f"{half} half": r for half, r in result["halves"].items()}
    if len(sections) > 1:
        sections["both halves"] = result["all"]
    table = Table(title=f"drift_gym tracker-eval: {result['tracker']}")
    for column in ("corpus", "turns", "recall", "false_positive_rate", "hard_case_fpr",
                   "kappa", "unscored"):
        table.add_column(column)
    for name, r in sections.items():
        o = r["overall"]
        table.add_row(name, str(o["turns"]), fmt(o["recall"]), fmt(o["false_positive_rate"]),
                      fmt(r["hard_consistent"]["false_positive_rate"]), fmt(o["kappa"]),
                      str(o["unscored"]))
    stdout_console().print(table)
    detail = Table(title="per drift kind (recall) and per consistent case (false-positive rate)")
    detail.add_column("class")
    for name in sections:
        detail.add_column(name)
    for group, metric in (("by_drift_kind", "recall"), ("by_case", "false_positive_rate")):
        for kind in result["all"][group]:
            detail.add_row(kind, *(
                f"{fmt(r[group][kind][metric])} ({r[group][kind]['turns']})"
                if kind in r[group] else "-" for r in sections.values()))
    stdout_console().print(detail)
