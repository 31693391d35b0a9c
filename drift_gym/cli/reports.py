"""`drift-gym report`, `validate` and `make-tiny-model`: results, the catalogue's contract, a
tiny offline model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from .common import (
    HELP,
    EvalProgress,
    app,
    console,
    fail,
    fmt,
    stdout_console,
)


@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="An eval --out folder.")],
    to_dataset: Annotated[Path | None, typer.Option(
        help="Also save the step records as a Hugging Face dataset here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Statistics, Markdown tables, PNG plots and a self-contained report.html for a run."""
    from ..outputs import OutputError, writing
    from ..report import HEADLINE, STUDY, STUDY_TITLE, build_report, cell
    from ..report import to_dataset as save_dataset

    if not run_dir.is_dir():
        fail(f"{run_dir} is not a folder: give the --out folder of an eval run")
    try:
        summary = build_report(run_dir)
    except ValueError as exc:
        fail(str(exc))
    except OutputError as exc:
        fail(f"{exc}; {exc.advice} (the report is written into RUN_DIR; the eval results "
              "there are untouched)")
    if to_dataset is not None:
        try:
            with writing(to_dataset):
                rows = save_dataset(run_dir, to_dataset)
        except OutputError as exc:
            fail(f"--to-dataset: {exc}; {exc.advice}")
        console.print(f"{rows} step records saved as a dataset in {to_dataset}")
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(title=f"drift_gym report ({summary['episodes']} episodes)")
    columns = HEADLINE[:8] + ("task_pass_rate",)
    for column in columns:
        table.add_column(column)
    for row in summary["groups"]:
        table.add_row(*(cell(row[c]) for c in columns))
    stdout_console().print(table)
    study = Table(title=STUDY_TITLE)
    for column in STUDY:
        study.add_column(column)
    for row in summary["study"]:
        study.add_row(*(cell(row[c]) for c in STUDY))
    stdout_console().print(study)
    for item in summary["asymmetry"]:
        console.print(f"asymmetry {escape(item['agent'])} {item['value_pair']} "
                      f"{item['condition']} {item['context']}: {cell(item['asymmetry_index'])} "
                      f"(95% CI {escape(cell(item['ci']))})", soft_wrap=True)
    console.print(f"report: {run_dir / 'report.html'}")


@app.command("make-tiny-model")
def make_tiny(
    out: Annotated[Path, typer.Argument(help="Folder to write the model and tokenizer to.")],
    seed: Annotated[int, typer.Option(help="Weight initialisation seed.")] = 0,
) -> None:
    """Build a tiny random Qwen2 model with a locally trained tokenizer (offline)."""
    from ..models.tiny import make_tiny_model

    try:
        make_tiny_model(out, seed=seed)
    except RuntimeError as exc:
        fail(str(exc))
    console.print(f"tiny model written to {out}; evaluate it with --agent hf:{out}")


@app.command("validate")
def validate_catalog(
    scenarios: Annotated[str, typer.Option(help="Scenario id glob(s), comma-separated.")] = "*",
    conditions: Annotated[str, typer.Option(help=HELP["conditions"])] = (
        "baseline,neutral,pressure:3"),
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per cell.")] = 2,
    workers: Annotated[int, typer.Option(min=1, help="Parallel episode processes.")] = 2,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Only the first N requests.")] = (
        None),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    adversarial: Annotated[bool, typer.Option(
        "--adversarial", help="Instead, play the adversarial corpus (envs/families/*/"
        "adversarial/): recall on sneaky violations, false-positive rate on unusual compliant "
        "solutions, misses by class (exit 1 below 0.95 recall, above 0.05 false positives, "
        "or on any case that cannot be played).")] = False,
    cold: Annotated[bool, typer.Option(
        "--cold", help="Grade with a fresh interpreter per job instead of the warm grader "
        "(the parity check: verdicts must not change).")] = False,
) -> None:
    """Check the catalogue's contract by running oracle and violator over it (exit 1 on any
    failure, each named)."""
    from ..catalog import default_catalog
    from ..evaluation import select_scenarios
    from ..spec import Condition
    from ..validation import validate

    if cold:
        os.environ["DRIFT_GYM_GRADING"] = "cold"  # read by every sandbox, workers included
    if adversarial:
        _validate_adversarial(scenarios, workers, as_json)
        return
    try:
        condition_list = [Condition.parse(c.strip()).label for c in conditions.split(",")
                          if c.strip()]
        chosen = select_scenarios(scenarios)
    except ValueError as exc:
        fail(str(exc))
    # files that failed to load and may be what --scenarios meant: validate fails on them
    broken = default_catalog().errors_matching(p.strip() for p in scenarios.split(",")
                                               if p.strip())
    planned = len(chosen) * len(condition_list) * seeds * 2  # oracle and violator
    with EvalProgress(planned, enabled=not as_json, label="validate") as progress:
        report = validate(chosen, condition_list, seeds, workers=workers, max_steps=max_steps,
                          broken=broken, on_episode=progress.update)
    result = report.to_dict()
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        for failure in report.failures:
            console.print(f"[red]FAIL[/] {escape(failure)}")
        for source, counts in result["checks"].items():
            console.print(f"{source}: precision={fmt(counts['precision'])} "
                          f"recall={fmt(counts['recall'])} (tp={counts['tp']} fp={counts['fp']} "
                          f"fn={counts['fn']} tn={counts['tn']})")
        verdict = "[green]OK[/]" if report.ok else "[red]FAILED[/]"
        console.print(f"{verdict}: {len(chosen)} scenarios, {report.episodes} episodes, "
                      f"{report.steps} steps, {len(report.failures)} failures")
    if not report.ok:
        raise typer.Exit(1)


def _validate_adversarial(scenarios: str, workers: int, as_json: bool) -> None:
    """`validate --adversarial`: play the corpus cases of the chosen scenarios and print the
    figures; a corpus that does not load is one line naming file and case (exit 2)."""
    from ..adversarial import (
        CorpusError,
        default_corpus_roots,
        load_corpus,
        run_corpus,
        shortfalls,
        summary,
    )
    from ..evaluation import select_scenarios

    try:
        chosen = select_scenarios(scenarios)
        cases = load_corpus(default_corpus_roots(), chosen)
    except (ValueError, CorpusError) as exc:
        fail(str(exc))
    if not as_json:
        console.print(f"playing {len(cases)} adversarial cases on {workers} worker(s)")
    outcomes = run_corpus(cases, workers=workers)
    result = summary(outcomes)
    problems = shortfalls(result, chosen)
    if as_json:
        print(json.dumps({**result, "cases": [o.to_dict() for o in outcomes]}, indent=2))
    else:
        table = Table(title=f"adversarial corpus ({result['total']} cases)")
        for column in ("scenario", "cases", "violating", "caught", "compliant", "flagged",
                       "errors"):
            table.add_column(column)
        for name, counts in result["scenarios"].items():
            table.add_row(name, *(str(counts[c]) for c in ("cases", "violating", "caught",
                                                           "compliant", "flagged", "errors")))
        stdout_console().print(table)
        for cls, missed in result["misses_by_class"].items():
            console.print(f"[red]missed[/] {escape(cls)} ({len(missed)}):")
            for line in missed:
                console.print(f"  {escape(line)}", soft_wrap=True)
        console.print(f"recall={fmt(result['recall'])} "
                      f"false_positive_rate={fmt(result['false_positive_rate'])} "
                      f"errors={result['errors']}")
        for problem in problems:
            console.print(f"[red]FAIL[/] {escape(problem)}")
        console.print("[green]OK[/]" if not problems else "[red]FAILED[/]")
    if problems:
        raise typer.Exit(1)
