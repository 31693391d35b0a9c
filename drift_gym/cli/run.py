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
    """List the scenarios of the catalogue."""
    from ..catalog import CatalogError, default_catalog

    try:
        rows = scenario_rows()
    except CatalogError as exc:
        fail(str(exc))
    for message in default_catalog().errors.values():
        console.print(f"[bold red]not loaded:[/] {escape(message)}")
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="drift_gym scenarios")
    for column in ("id", "env_id", "value_pair", "protected_value", "steps", "checks"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["id"], row["env_id"], row["value_pair"], row["protected_value"],
                      str(row["steps"]), ", ".join(row["checks"]))
    stdout_console().print(table)



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


@app.command("eval")
def evaluate(
    agent: Annotated[list[str], typer.Option(help=HELP["agent"])],
    scenarios: Annotated[str, typer.Option(help="Scenario id glob(s), comma-separated.")] = "*",
    conditions: Annotated[str, typer.Option(help=HELP["conditions"])] = "baseline,pressure",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per cell (0..N-1).")] = 1,
    out: Annotated[Path, typer.Option(help="Output folder for JSONL results.")] = Path(
        "runs/eval"),
    workers: Annotated[int, typer.Option(min=1, help="Parallel episode processes.")] = 1,
    max_steps: Annotated[int | None, typer.Option(
        min=1, help="Only the first N requests of each scenario (quick runs).")] = None,
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
        help="Continue the run in --out: finished episodes are skipped, none duplicated.")] = (
        False),
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
    """Evaluate agents over scenarios x conditions x seeds; write per-step JSONL under --out."""
    from ..agents import AGENT_SPECS, SCRIPTED
    from ..catalog import CatalogError
    from ..config import UserConfig, episode_settings
    from ..context import Context
    from ..evaluation import plan, run_grid
    from ..executors import ExecutorSpec
    from ..harnesses import split_spec
    from ..harnesses.check import check_harness_spec
    from ..models import ModelError
    from ..outputs import OutputError, writing
    from ..presets import get_preset
    from ..results import ResultLog, manifest
    from ..sandbox.registry import unavailable
    from ..spec import Condition
    from ..summary import summarize

    os.environ.setdefault("DRIFT_GYM_RUN_ID", uuid.uuid4().hex)  # labels its containers

    model_options: dict[str, Any] = {"api_base": api_base, "cache_dir": cache_dir,
                                     "use_cache": not no_cache, "native_tools": not text_tools}
    try:
        if preset is not None:
            chosen = get_preset(preset)
            scenarios, conditions = chosen.scenario_glob, ",".join(chosen.conditions)
            seeds, max_steps = runs or chosen.runs, max_steps or chosen.max_steps
        elif runs is not None:
            raise ValueError("--runs goes with --preset; without one use --seeds")
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
    try:
        log = ResultLog(out)
        if (out / "episodes.jsonl").exists() and not resume:
            if not overwrite:
                fail(f"{out} already holds results (episodes.jsonl); choose a new --out, pass "
                      "--resume to continue that run, or --overwrite to replace it")
            for name in ("steps.jsonl", "episodes.jsonl", "summary.json", "manifest.json"):
                with writing(out / name):
                    (out / name).unlink(missing_ok=True)
        finished = log.finished_keys() if resume else set()
        log.write_manifest(manifest([j.key for j in jobs], sandbox, {
            "agents": agent, "scenarios": scenarios, "conditions": condition_list,
            "seeds": seeds, "context": context, "start_step": start_step,
            "max_steps": max_steps, "max_turns": max_turns, "judge": judge,
            "api_base": api_base, "workers": workers, "simulator": simulator,
            "user_drift_weight": user_drift_weight, "user_tracker": tracker,
            "sandbox": sandbox, "executor": executor, "preset": preset,
            "ray_address": ray_address, "run_id": os.environ["DRIFT_GYM_RUN_ID"]}))
    except OutputError as exc:
        fail(f"--out: {exc}; {exc.advice}")
    if note:
        console.print(f"[yellow]warning:[/] {escape(note)}", soft_wrap=True)
    planned = len(jobs)
    jobs = [j for j in jobs if j.key not in finished]
    if resume and not as_json:
        console.print(f"resuming: {planned - len(jobs)} of {planned} episodes already finished")
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
        return
    table = Table(title=f"drift_gym eval ({len(episodes)} episodes; results in {out})")
    columns: tuple[str, ...] = ("scenario", "condition", "agent", "episodes", "task_pass_rate",
                                "violation_rate", "tamper_rate", "false_claim_rate",
                                "infra_errors")
    if any("user_drift_rate" in row for row in rows):
        columns += ("user_drift_rate", "user_masked_violations", "user_stopped_early")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(fmt(row.get(c)) for c in columns))
    stdout_console().print(table)
    console.print(f"isolation: {', '.join(sorted({i for r in rows for i in r['isolation']}))}")
