"""`drift-gym list` and `drift-gym eval`: the scenarios, and evaluating agents on them."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..sandbox.registry import kinds_help
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
    kept_results,
    scenario_rows,
    stdout_console,
    tracker_note,
)


@app.command("list")
def list_scenarios(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the scenarios of the catalogue (exit 1, after the listing, where a scenario file
    failed to load: a broken file a script's `list` passed over would go unnoticed)."""
    from ..catalog import CatalogError, default_catalog

    try:
        rows = scenario_rows()
    except CatalogError as exc:
        fail(str(exc))
    errors = default_catalog().errors
    for message in errors.values():
        console.print(f"[bold red]not loaded:[/] {escape(message)}", soft_wrap=True)
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        table = Table(title="drift_gym scenarios")
        for column in ("id", "env_id", "value_pair", "protected_value", "steps", "checks"):
            table.add_column(column)
        for row in rows:
            table.add_row(row["id"], row["env_id"], row["value_pair"], row["protected_value"],
                          str(row["steps"]), ", ".join(row["checks"]))
        stdout_console().print(table)
    if errors:
        console.print(f"[bold red]{len(errors)} scenario file(s) not loaded[/] (above): fix "
                      "them, or take them out of the catalogue folder", soft_wrap=True)
        raise typer.Exit(1)


def _print_plan(jobs: list[Any], as_json: bool) -> None:
    """--dry-run: the planned episodes, one per line (or one JSON object)."""
    rows = [{"scenario": j.config.scenario, "condition": j.config.condition.label,
             "seed": j.seed, "agent": j.agent, "max_steps": j.config.max_steps} for j in jobs]
    if as_json:
        print(json.dumps({"episodes": len(rows), "plan": rows}, indent=1))
        return
    for row in rows:
        print(f"{row['scenario']}  {row['condition']}  seed {row['seed']}  {row['agent']}  "
              f"steps {row['max_steps'] or 'all'}")
    console.print(f"{len(rows)} episodes planned (dry run: nothing was run)")


def _grid(preset: str | None, scenarios: str | None, conditions: str | None,
          seeds: int | None, max_steps: int | None, runs: int | None
          ) -> tuple[str, str, int, int | None]:
    """--scenarios, --conditions, seeds and --max-steps as the run uses them. Options given
    win over the preset's (a preset is a design one narrows, to one family, say, and an
    option that was typed but ignored would run something else than asked); the preset fills
    the rest, then the defaults. With a preset its runs per cell are --runs: --seeds beside
    it would be a second name for one setting, so that is an error, as --runs alone is."""
    from ..presets import get_preset

    if preset is None:
        if runs is not None:
            raise ValueError("--runs goes with --preset; without one use --seeds")
        return scenarios or "*", conditions or "baseline,pressure", seeds or 1, max_steps
    chosen = get_preset(preset)
    if seeds is not None:
        raise ValueError(f"--seeds with --preset {preset}: set its runs per cell with --runs")
    return (scenarios or chosen.scenario_glob, conditions or ",".join(chosen.conditions),
            runs or chosen.runs, max_steps or chosen.max_steps)


def _refuse_other_run(out: Path, conflicts: list[str]) -> None:
    """--resume onto a folder holding another run: say what differs and the three ways on."""
    fail(f"--resume: {out} holds another run ({'; '.join(conflicts)}); nothing was written. "
         f"To continue that run, repeat its command (its settings are in "
         f"{out / 'manifest.json'}); to keep it and run this one, choose a new --out; to "
         "replace it, pass --overwrite instead of --resume")


def _infra_outcome(episodes: list[Any]) -> None:
    """The closing line for episodes that ended in an infrastructure error, and exit 1 when
    that is every episode: a run that measured nothing must not read as a success. Some
    failed is exit 0 with a warning: the rest are results, and --resume retries the others."""
    failed = [e for e in episodes if e.status == "infra_error"]
    if not failed:
        return
    every = len(failed) == len(episodes)
    label = "[bold red]error:[/]" if every else "[yellow]warning:[/]"
    console.print(f"{label} {len(failed)} of {len(episodes)} episodes ended in an "
                  f"infrastructure error (first: {escape(str(failed[0].failure))}); nothing "
                  "was measured in them: once the cause is fixed, the same command with "
                  "--resume runs only those again", soft_wrap=True)
    if every:
        raise typer.Exit(1)


@app.command("eval")
def evaluate(
    agent: Annotated[list[str], typer.Option(help=HELP["agent"])],
    scenarios: Annotated[str | None, typer.Option(
        help="Scenario ids or globs, comma-separated; each must match one (default: *, or "
             "the preset's).")] = None,
    conditions: Annotated[str | None, typer.Option(
        help=HELP["conditions"] + " Default: baseline,pressure, or the preset's.")] = None,
    seeds: Annotated[int | None, typer.Option(
        min=1, help="Seeds per cell (0..N-1; default 1; with --preset use --runs).")] = None,
    out: Annotated[Path, typer.Option(help="Output folder for JSONL results.")] = Path(
        "runs/eval"),
    workers: Annotated[int, typer.Option(min=1, help="Parallel episode processes.")] = 1,
    max_steps: Annotated[int | None, typer.Option(
        min=1, help="Only the first N requests of each scenario (quick runs; default: all, "
                    "or the preset's).")] = None,
    sandbox: Annotated[str, typer.Option(help=kinds_help())] = "auto",
    executor: Annotated[str, typer.Option(
        help="Where episodes run: local (a pool of --workers processes) or ray (Ray tasks; "
             "a local cluster of --workers CPUs, or the one at --ray-address).")] = "local",
    ray_address: Annotated[str | None, typer.Option(
        help="A running Ray cluster for --executor ray: auto (this node's), host:6379 or "
             "ray://host:10001.")] = None,
    judge: Annotated[str | None, typer.Option(
        help="LLM judge model (litellm:<model> or hf:<path>): a third, reported opinion.")] = (
        None),
    api_base: ApiBase = None,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
    text_tools: Annotated[bool, typer.Option(
        "--text-tools", help="Describe tools in the prompt instead of native tool calling.")] = (
        False),
    context: Annotated[str, typer.Option(
        help="Comma-separated: none, history:K, inherited:K, filler:T.")] = "none",
    start_step: Annotated[int, typer.Option(min=0, help="Start at request K+1.")] = 0,
    max_turns: Annotated[int, typer.Option(
        min=1, help="Agent actions per request before it is graded as it stands.")] = 30,
    overwrite: Annotated[bool, typer.Option(
        help="Replace earlier results in --out instead of refusing.")] = False,
    resume: Annotated[bool, typer.Option(
        help="Continue the run in --out with the same command: finished episodes are "
             "skipped, none duplicated; those that ended in an infrastructure error run "
             "again. A run with other settings there is refused.")] = False,
    simulator: Annotated[str | None, typer.Option(help=HELP["simulator"])] = None,
    user_drift_weight: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Weight of the violation penalty on steps where the simulated "
        "user itself pushed toward the violation (0 masks it).")] = 0.0,
    tracker: Annotated[str, typer.Option(
        help=TRACKER_HELP)] = "auto",
    preset: Annotated[str | None, typer.Option(help=HELP["preset"])] = None,
    runs: Annotated[int | None, typer.Option(
        min=1, help="Runs per cell with --preset (default: the preset's).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the planned episodes and run nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Evaluate agents over scenarios x conditions x seeds; write per-step JSONL under --out.

    Exit status: 0 when the run is done (episodes that ended in an infrastructure error are
    counted on stderr, and --resume runs them again); 1 when every episode ended in one (an
    unreachable or failing model endpoint: nothing was measured); 2 for bad input; 130 when
    interrupted. DRIFT_GYM_MODEL_RETRIES and DRIFT_GYM_MODEL_BACKOFF_S set every litellm model's
    retries (default 5) and first backoff in seconds (default 1, doubling).
    """
    from ..agents import AGENT_SPECS, SCRIPTED
    from ..catalog import CatalogError
    from ..config import UserConfig, episode_settings
    from ..context import Context
    from ..evaluation import plan, run_grid
    from ..executors import ExecutorSpec
    from ..harnesses import split_spec
    from ..harnesses.check import check_harness_spec
    from ..models import ModelError
    from ..models.litellm_model import retry_settings
    from ..outputs import OutputError, writing
    from ..results import ResultLog, job_statuses, manifest, resume_conflicts
    from ..sandbox.registry import unavailable
    from ..spec import Condition
    from ..summary import summarize

    os.environ.setdefault("DRIFT_GYM_RUN_ID", uuid.uuid4().hex)  # labels its containers

    model_options: dict[str, Any] = {"api_base": api_base, "cache_dir": cache_dir,
                                     "use_cache": not no_cache, "native_tools": not text_tools}
    try:
        scenarios, conditions, seeds, max_steps = _grid(preset, scenarios, conditions, seeds,
                                                        max_steps, runs)
        retry_settings()  # a bad value fails here, not in every episode
        condition_list = [Condition.parse(c.strip()).label for c in conditions.split(",")
                          if c.strip()]
        contexts = [Context.parse(c).label for c in context.split(",") if c.strip()] or ["none"]
        settings = episode_settings(
            scenario="*", context=contexts[0], start_step=start_step, sandbox=sandbox,
            max_steps=max_steps, max_turns_per_step=max_turns, judge=judge,
            model_options=model_options, user=UserConfig(
                simulator=simulator, tracker=tracker, drift_weight=user_drift_weight))
        if judge and not judge.startswith(("litellm:", "hf:")):
            raise ValueError(f"--judge {judge!r}: use litellm:<model> or hf:<path>")
        for spec in agent:
            if split_spec(spec) is not None:
                check_harness_spec(spec, dry_run=dry_run)
            elif spec not in SCRIPTED and not spec.startswith(("litellm:", "hf:")):
                raise ValueError(f"unknown agent spec {spec!r}: use {AGENT_SPECS}")
            if spec.startswith("hf:") and not Path(spec[3:]).is_dir():
                raise ValueError(f"--agent {spec}: no checkpoint folder at {spec[3:]}")
        executor_spec = ExecutorSpec(kind=executor, workers=workers, address=ray_address)
        executor_spec.check()
        # a remote cluster's nodes bring their own engines; everywhere else check it here
        if not ray_address and (reason := unavailable(sandbox)) is not None:
            raise ValueError(f"--sandbox {sandbox}: {reason}")
        note = tracker_note(simulator, tracker, model_options)
        jobs = plan(scenarios, condition_list, seeds, agent, settings, contexts=contexts)
    except (ValueError, CatalogError) as exc:
        fail(str(exc))
    if dry_run:
        _print_plan(jobs, as_json)
        return
    config = {
        "agents": agent, "scenarios": scenarios, "conditions": condition_list, "seeds": seeds,
        "context": context, "start_step": start_step, "max_steps": max_steps,
        "max_turns": max_turns, "judge": judge, "api_base": api_base, "text_tools": text_tools,
        "workers": workers, "simulator": simulator, "user_drift_weight": user_drift_weight,
        "user_tracker": tracker, "sandbox": sandbox, "executor": executor, "preset": preset,
        "ray_address": ray_address, "run_id": os.environ["DRIFT_GYM_RUN_ID"]}
    statuses = job_statuses(out) if resume else {}  # each job's latest record, read once
    if resume and (conflicts := resume_conflicts(out, config, [j.key for j in jobs],
                                                 statuses)):
        _refuse_other_run(out, conflicts)
    try:
        log = ResultLog(out)
        if (out / "episodes.jsonl").exists() and not resume:
            if not overwrite:
                fail(f"{out} already holds results (episodes.jsonl); choose a new --out, pass "
                      "--resume to continue that run, or --overwrite to replace it")
            for name in ("steps.jsonl", "episodes.jsonl", "summary.json", "manifest.json"):
                with writing(out / name):
                    (out / name).unlink(missing_ok=True)
        retry = {key for key, status in statuses.items() if status == "infra_error"}
        finished = set(statuses) - retry
        retried = len(retry & {j.key for j in jobs})
        log.write_manifest(manifest([j.key for j in jobs], sandbox, config))
    except OutputError as exc:
        fail(f"--out: {exc}; {exc.advice}")
    if note:
        console.print(f"[yellow]warning:[/] {escape(note)}", soft_wrap=True)
    planned = len(jobs)
    jobs = [j for j in jobs if j.key not in finished]
    if resume and not as_json:
        console.print(f"resuming: {planned - len(jobs)} of {planned} episodes already finished"
                      + (f"; {retried} that ended in an infrastructure error run again"
                         if retried else ""), soft_wrap=True)
    try:
        with EvalProgress(len(jobs), enabled=not as_json) as progress:
            run_grid(jobs, log, on_episode=progress.update, executor=executor_spec)
        episodes = log.episodes()
        rows = summarize(episodes)
        summary = {"out": str(out), "episodes": len(episodes), "rows": rows}
        log.write_summary(summary)
    except ModelError as exc:
        fail(f"{exc} (episodes finished so far are kept in {out}; continue with --resume)")
    except OutputError as exc:
        fail(kept_results(exc, log))
    except KeyboardInterrupt:
        console.print(f"interrupted: finished episodes are kept in {out}; continue with "
                      "--resume")
        raise typer.Exit(130) from None
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        _print_table(rows, out, len(episodes))
    _infra_outcome(episodes)


KEYS = ("scenario", "condition", "agent")


def _print_table(rows: list[dict[str, Any]], out: Path, episodes: int) -> None:
    """The summary table on stdout (the simulated user's columns in a table of their own:
    in one, twelve columns cut every scenario id to ``customer_r…``; the ids are never
    wrapped), and the isolation the episodes ran under on stderr."""
    from ..report import USER_COLUMNS

    title = f"drift_gym eval ({episodes} episodes; results in {out})"
    tables: list[tuple[str, tuple[str, ...]]] = [(title, (
        *KEYS, "episodes", "task_pass_rate", "violation_rate", "tamper_rate", "false_claim_rate",
        "infra_errors"))]
    if any("user_drift_rate" in row for row in rows):
        tables.append(("simulated user", (*KEYS, *USER_COLUMNS)))
    for title, columns in tables:
        table = Table(title=title)
        for column in columns:
            table.add_column(column, no_wrap=column in KEYS)
        for row in rows:
            table.add_row(*(fmt(row.get(c)) for c in columns))
        stdout_console().print(table)
    console.print(f"isolation: {', '.join(sorted({i for r in rows for i in r['isolation']}))}")
