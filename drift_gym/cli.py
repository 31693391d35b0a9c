"""``drift-gym``: list scenarios, evaluate agents on them, simulate users."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .sandbox.registry import kinds_help

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Gymnasium environments for goal drift in LLM coding agents.")
sandbox_app = typer.Typer(no_args_is_help=True, help="The sandbox backends' own resources.")
app.add_typer(sandbox_app, name="sandbox")
console = Console(stderr=True)

# options shared by every command that calls models
ApiBase = Annotated[str | None, typer.Option(
    help="Base URL of an OpenAI-compatible server (vLLM, Ollama, llama.cpp).")]
CacheDir = Annotated[Path | None, typer.Option(
    help="Response cache folder (default ~/.cache/drift_gym).")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the "
                                       "response cache.")]


def _out() -> Console:
    """Stdout console; wide enough for the tables when stdout is not a terminal (make, CI)."""
    plain = Console()
    return plain if plain.is_terminal else Console(width=160)


def _fail(message: str) -> None:
    """One clear line on stderr and exit 2 — bad input is not a traceback (not wrapped either:
    a long path stays on the line that names it)."""
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


CONDITIONS = ("baseline", "neutral", "pressure:1", "pressure:2", "pressure:3")


def scenario_rows() -> list[dict[str, Any]]:
    """One object per scenario, as `list --json` prints them."""
    from .catalog import default_catalog
    from .registration import env_id
    from .spec import CHANNELS
    from .users.paths import goal_files

    goals = goal_files()
    rows = []
    for scenario in default_catalog().scenarios.values():
        spec = scenario.spec
        goal = f"{spec.family}.{spec.value_pair}"
        rows.append({
            "id": spec.id, "version": spec.version, "env_id": env_id(spec.id, spec.version),
            "family": spec.family, "value_pair": spec.value_pair,
            "protected_value": spec.protected_value, "pressure_value": spec.pressure_value,
            "steps": len(scenario.steps),
            "conditions": list(CONDITIONS), "channels": list(CHANNELS),
            "user_goal": goal if goal in goals else None,
            "checks": [f"behavioural:{r.kind}:{r.id}" for r in spec.behavioural]
            + [f"static:{r.id}" for r in spec.static_rules],
        })
    return rows


@app.command("list")
def list_scenarios(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the scenarios of the catalogue."""
    from .catalog import CatalogError, default_catalog

    try:
        rows = scenario_rows()
    except CatalogError as exc:
        _fail(str(exc))
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
    _out().print(table)


class EvalProgress:
    """A progress bar for the grid: episodes done, violations so far, ETA; episodes that did
    not complete are printed above it as they happen."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.violations = 0
        self.steps = 0
        self._bar = Progress(
            TextColumn("eval"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[violations]} violations in {task.fields[steps]} steps"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, disable=not enabled)
        self._task = self._bar.add_task("eval", total=total, violations=0, steps=0)

    def __enter__(self) -> EvalProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)  # type: ignore[arg-type]

    def update(self, episode: dict[str, Any]) -> None:
        self.violations += episode["violations"]
        self.steps += episode["graded_steps"]
        if episode["status"] != "completed":
            self._bar.console.print(
                f"{escape(episode['scenario'])} {escape(episode['condition'])} "
                f"{escape(episode['agent'])} seed={episode['seed']}: {episode['status']} "
                f"({escape(str(episode.get('failure') or ''))[:200]})")
        self._bar.update(self._task, advance=1, violations=self.violations, steps=self.steps)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _kept_results(exc: Any, log: Any) -> str:
    """The error for results that stopped being writable mid-run: what is kept, what to do."""
    try:
        kept = f"the {len(log.finished_keys())} finished episodes in {log.out} are kept"
    except (OSError, ValueError):
        kept = f"finished episodes in {log.out} are kept"
    if exc.full:
        return f"--out: {exc}; {kept}: free some space, then continue with --resume"
    return f"--out: {exc}; {kept}: make it writable, then continue with --resume"


TRACKER_HELP = ("Who judges the simulated user's goal state: auto (scripted for a scripted "
                "user, lexical otherwise), scripted, lexical or llm:<model> (a judge model; "
                "--api-base applies).")


def _tracker_note(simulator: str | None, tracker: str,
                  model_options: dict[str, Any]) -> str | None:
    """Check --simulator and --tracker before any job runs (ValueError with what to do);
    the warning line for an LLM user judged by the lexical tracker, if that is the pair."""
    from .users.tracker import canonical, judging_note, resolve

    spec = canonical(tracker)
    model = spec.removeprefix("llm:")
    if model.startswith("hf:") and not Path(model[3:]).is_dir():
        raise ValueError(f"--tracker {tracker}: no checkpoint folder at {model[3:]}")
    if not simulator:
        return None
    from .users import make_simulator

    make_simulator(simulator, **model_options)  # a bad spec fails here, not per job
    return judging_note(simulator, resolve(spec, simulator))


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
    agent: Annotated[list[str], typer.Option(
        help="Agent spec (repeatable): oracle, violator, drifter, litellm:<model>, hf:<path>, "
             "opencode:<model spec> (the OpenCode CLI, its model behind drift_gym's proxy; "
             "install it with `make opencode`).")],
    scenarios: Annotated[str, typer.Option(help="Scenario id glob(s), comma-separated.")] = "*",
    conditions: Annotated[str, typer.Option(
        help="Comma-separated: baseline, pressure, pressure:1..3.")] = "baseline,pressure",
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
    simulator: Annotated[str | None, typer.Option(
        help="Simulated user who sends the requests: scripted, scripted:drift=R, "
             "litellm:<model> or hf:<path> (default: the scenario's own request text).")] = (
        None),
    user_drift_weight: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Weight of the violation penalty on steps where the simulated "
        "user itself pushed toward the violation (0 masks it).")] = 0.0,
    tracker: Annotated[str, typer.Option(
        help=TRACKER_HELP)] = "auto",
    preset: Annotated[str | None, typer.Option(
        help="A named experiment that sets --scenarios, --conditions, --seeds and --max-steps: "
             "asymmetric-drift-2026 (3 value pairs x 2 directions x baseline/comment pressure, "
             "12 steps, 10 runs per cell).")] = None,
    runs: Annotated[int | None, typer.Option(
        min=1, help="Runs per cell with --preset (default: the preset's).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the planned episodes and run nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Evaluate agents over scenarios x conditions x seeds; write per-step JSONL under --out."""
    from .agents import AGENT_SPECS, SCRIPTED
    from .catalog import CatalogError
    from .config import UserConfig, episode_settings
    from .context import Context
    from .evaluation import ResultLog, manifest, plan, run_grid, summarize
    from .executors import ExecutorSpec
    from .harnesses import split_spec
    from .harnesses.check import check_harness_spec
    from .models import ModelError
    from .outputs import OutputError, writing
    from .presets import get_preset
    from .sandbox.registry import unavailable
    from .spec import Condition

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
        note = _tracker_note(simulator, tracker, model_options)
        jobs = plan(scenarios, condition_list, seeds, agent, settings, contexts=contexts)
    except (ValueError, CatalogError) as exc:
        _fail(str(exc))
    if dry_run:
        _print_plan(jobs, as_json)
        return
    try:
        log = ResultLog(out)
        if (out / "episodes.jsonl").exists() and not resume:
            if not overwrite:
                _fail(f"{out} already holds results (episodes.jsonl); choose a new --out, pass "
                      "--resume to continue that run, or --overwrite to replace it")
            for name in ("steps.jsonl", "episodes.jsonl", "summary.json", "manifest.json"):
                with writing(out / name):
                    (out / name).unlink(missing_ok=True)
        finished = log.finished_keys() if resume else set()
        log.write_manifest(manifest(jobs, {
            "agents": agent, "scenarios": scenarios, "conditions": condition_list,
            "seeds": seeds, "context": context, "start_step": start_step,
            "max_steps": max_steps, "max_turns": max_turns, "judge": judge,
            "api_base": api_base, "workers": workers, "simulator": simulator,
            "user_drift_weight": user_drift_weight, "user_tracker": tracker,
            "sandbox": sandbox, "executor": executor, "preset": preset,
            "ray_address": ray_address, "run_id": os.environ["DRIFT_GYM_RUN_ID"]}))
    except OutputError as exc:
        _fail(f"--out: {exc}; {exc.advice}")
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
        _fail(f"{exc} (episodes finished so far are kept in {out}; continue with --resume)")
    except OutputError as exc:
        _fail(_kept_results(exc, log))
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
        table.add_row(*(_fmt(row.get(c)) for c in columns))
    _out().print(table)
    console.print(f"isolation: {', '.join(sorted({i for r in rows for i in r['isolation']}))}")


@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="An eval --out folder.")],
    to_dataset: Annotated[Path | None, typer.Option(
        help="Also save the step records as a Hugging Face dataset here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Statistics, Markdown tables, PNG plots and a self-contained report.html for a run."""
    from .outputs import OutputError, writing
    from .report import HEADLINE, STUDY, build_report
    from .report import to_dataset as save_dataset

    if not run_dir.is_dir():
        _fail(f"{run_dir} is not a folder: give the --out folder of an eval run")
    try:
        summary = build_report(run_dir)
    except ValueError as exc:
        _fail(str(exc))
    except OutputError as exc:
        _fail(f"{exc}; {exc.advice} (the report is written into RUN_DIR; the eval results "
              "there are untouched)")
    if to_dataset is not None:
        try:
            with writing(to_dataset):
                rows = save_dataset(run_dir, to_dataset)
        except OutputError as exc:
            _fail(f"--to-dataset: {exc}; {exc.advice}")
        console.print(f"{rows} step records saved as a dataset in {to_dataset}")
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(title=f"drift_gym report ({summary['episodes']} episodes)")
    columns = HEADLINE[:8] + ("task_pass_rate",)
    for column in columns:
        table.add_column(column)
    for row in summary["groups"]:
        table.add_row(*(_fmt(row[c]) if not isinstance(row[c], list) else
                        "[" + ", ".join(_fmt(v) for v in row[c]) + "]" for c in columns))
    _out().print(table)
    study = Table(title="study table: violation rate per pair x protected value x condition")
    for column in STUDY:
        study.add_column(column)
    for row in summary["study"]:
        study.add_row(*(_fmt(row[c]) if not isinstance(row[c], list) else
                        "[" + ", ".join(_fmt(v) for v in row[c]) + "]" for c in STUDY))
    _out().print(study)
    for item in summary["asymmetry"]:
        console.print(f"asymmetry {item['agent']} {item['value_pair']} {item['condition']} "
                      f"{item['context']}: {_fmt(item['asymmetry_index'])} "
                      f"(95% CI {item['ci']})")
    console.print(f"report: {run_dir / 'report.html'}")


@app.command("make-tiny-model")
def make_tiny(
    out: Annotated[Path, typer.Argument(help="Folder to write the model and tokenizer to.")],
    seed: Annotated[int, typer.Option(help="Weight initialisation seed.")] = 0,
) -> None:
    """Build a tiny random Qwen2 model with a locally trained tokenizer (offline)."""
    from .models.tiny import make_tiny_model

    try:
        make_tiny_model(out, seed=seed)
    except RuntimeError as exc:
        _fail(str(exc))
    console.print(f"tiny model written to {out}; evaluate it with --agent hf:{out}")


@app.command("validate")
def validate_catalog(
    scenarios: Annotated[str, typer.Option(help="Scenario id glob(s), comma-separated.")] = "*",
    conditions: Annotated[str, typer.Option(help="Comma-separated conditions.")] = (
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
    from .catalog import default_catalog
    from .evaluation import select_scenarios
    from .spec import Condition
    from .validation import validate

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
        _fail(str(exc))
    families = {s.split(".")[0] for s in chosen} | {p.split(".")[0] for p in
                                                     scenarios.split(",")}
    broken = {path: message for path, message in default_catalog().errors.items()
              if scenarios.strip() == "*" or any(f in Path(path).name for f in families)}
    report = validate(chosen, condition_list, seeds, workers=workers, max_steps=max_steps,
                      broken=broken)
    result = report.to_dict()
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        for failure in report.failures:
            console.print(f"[red]FAIL[/] {escape(failure)}")
        for source, counts in result["checks"].items():
            console.print(f"{source}: precision={_fmt(counts['precision'])} "
                          f"recall={_fmt(counts['recall'])} (tp={counts['tp']} fp={counts['fp']} "
                          f"fn={counts['fn']} tn={counts['tn']})")
        verdict = "[green]OK[/]" if report.ok else "[red]FAILED[/]"
        console.print(f"{verdict}: {len(chosen)} scenarios, {report.episodes} episodes, "
                      f"{report.steps} steps, {len(report.failures)} failures")
    if not report.ok:
        raise typer.Exit(1)


def _validate_adversarial(scenarios: str, workers: int, as_json: bool) -> None:
    """`validate --adversarial`: play the corpus cases of the chosen scenarios and print the
    figures; a corpus that does not load is one line naming file and case (exit 2)."""
    from .adversarial import (
        CorpusError,
        default_corpus_roots,
        load_corpus,
        run_corpus,
        shortfalls,
        summary,
    )
    from .evaluation import select_scenarios

    try:
        chosen = select_scenarios(scenarios)
        cases = load_corpus(default_corpus_roots(), chosen)
    except (ValueError, CorpusError) as exc:
        _fail(str(exc))
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
        _out().print(table)
        for cls, missed in result["misses_by_class"].items():
            console.print(f"[red]missed[/] {escape(cls)} ({len(missed)}):")
            for line in missed:
                console.print(f"  {escape(line)}", soft_wrap=True)
        console.print(f"recall={_fmt(result['recall'])} "
                      f"false_positive_rate={_fmt(result['false_positive_rate'])} "
                      f"errors={result['errors']}")
        for problem in problems:
            console.print(f"[red]FAIL[/] {escape(problem)}")
        console.print("[green]OK[/]" if not problems else "[red]FAILED[/]")
    if problems:
        raise typer.Exit(1)


@app.command("simulate")
def simulate_users(
    simulator: Annotated[str, typer.Option(
        help="The user: scripted, scripted:drift=R (0 <= R <= 1: drift events injected per "
             "user turn), litellm:<model> or hf:<path>.")] = "scripted",
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
    """Run simulated users against a scripted agent; report UGST and consistency metrics and
    the tracker's recall and false-positive rate against injected drift."""
    from .catalog import CatalogError
    from .models import ModelError
    from .outputs import OutputError, probe_folder, write_file
    from .users.simulate import SimulationConfig, simulate

    if simulator.startswith("hf:") and not Path(simulator[3:]).is_dir():
        _fail(f"--simulator {simulator}: no checkpoint folder at {simulator[3:]}")
    try:
        _tracker_note(None, tracker, {})
    except ValueError as exc:
        _fail(str(exc))
    if out is not None:  # a path that cannot take the file fails now, not after the run
        if out.is_dir():
            _fail(f"--out: cannot write {out}: it is a folder, not a file; give a file name")
        try:
            probe_folder(out.parent)
        except OutputError as exc:
            _fail(f"--out: {exc}; {exc.advice}")
    config = SimulationConfig(simulator=simulator, tracker=tracker, episodes=episodes,
                              seed=seed, goals=goals, api_base=api_base,
                              cache_dir=cache_dir, use_cache=not no_cache,
                              question_rate=question_rate, steer=steer, max_turns=max_turns)
    try:
        summary = simulate(config)
    except (ValueError, CatalogError) as exc:
        _fail(f"{exc}")
    except ModelError as exc:
        _fail(f"{exc} (check --simulator/--tracker, --api-base and the provider's API key)")
    if summary["tracker_note"]:
        console.print(f"[yellow]warning:[/] {escape(summary['tracker_note'])}", soft_wrap=True)
    if out is not None:
        try:
            write_file(out, json.dumps(summary, indent=2))
        except OutputError as exc:
            _fail(f"--out: {exc}; {exc.advice}")
    summary = {k: v for k, v in summary.items() if k != "per_episode"}
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(title=f"drift_gym simulate: {summary['simulator']} "
                        f"({summary['episodes']} conversations, {summary['user_turns']} user "
                        f"turns, tracker {summary['tracker']})")
    table.add_column("metric")
    table.add_column("value")
    for key in ("ugst_mean", "prompt_to_line", "line_to_line", "qa_consistency",
                "injected_events", "detected_events", "tracker_recall",
                "tracker_false_positive_rate", "label_agreement", "stopped_early",
                "toward_violation_turns", "unscored_lines"):
        table.add_row(key, _fmt(summary[key]))
    for category, value in summary["ugst_categories"].items():
        table.add_row(f"ugst.{category}", _fmt(value))
    _out().print(table)
    if summary["event_types"]:
        events = Table(title="drift events by type")
        for column in ("type", "injected", "detected", "missed", "false_positives"):
            events.add_column(column)
        for kind, counts in summary["event_types"].items():
            events.add_row(kind, *(str(counts[c]) for c in ("injected", "detected", "missed",
                                                            "false_positives")))
        _out().print(events)
    if out is not None:
        console.print(f"per-episode records: {out}")


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
    from .catalog import CatalogError
    from .models import ModelError
    from .users.registry import make_tracker
    from .users.tracker import canonical
    from .users.tracker_eval import evaluate

    try:
        spec = canonical(tracker)
        if spec == "auto":
            raise ValueError("--tracker auto picks by simulator; name one: scripted, lexical "
                             "or llm:<model>")
        _tracker_note(None, spec, {})
        judge = make_tracker(spec, api_base=api_base, cache_dir=cache_dir,
                             use_cache=not no_cache)
        result = evaluate(judge, split)
    except (ValueError, CatalogError) as exc:
        _fail(str(exc))
    except ModelError as exc:
        _fail(f"{exc} (check --tracker, --api-base and the provider's API key)")
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
        table.add_row(name, str(o["turns"]), _fmt(o["recall"]), _fmt(o["false_positive_rate"]),
                      _fmt(r["hard_consistent"]["false_positive_rate"]), _fmt(o["kappa"]),
                      str(o["unscored"]))
    _out().print(table)
    detail = Table(title="per drift kind (recall) and per consistent case (false-positive rate)")
    detail.add_column("class")
    for name in sections:
        detail.add_column(name)
    for group, metric in (("by_drift_kind", "recall"), ("by_case", "false_positive_rate")):
        for kind in result["all"][group]:
            detail.add_row(kind, *(
                f"{_fmt(r[group][kind][metric])} ({r[group][kind]['turns']})"
                if kind in r[group] else "-" for r in sections.values()))
    _out().print(detail)


@app.command("cleanup")
def cleanup(
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="List what would be removed; remove nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Remove sandbox workspaces, cgroups and containers that killed runs left behind (their
    owner process is gone)."""
    from .sandbox.registry import sweep_all

    found = sweep_all(dry_run=dry_run)
    if as_json:
        print(json.dumps({"dry_run": dry_run, "removed": [] if dry_run else
                          [str(f.path) for f in found],
                          "found": [{"path": str(f.path), "kind": f.kind} for f in found]}))
        return
    verb = "would remove" if dry_run else "removed"
    for item in found:
        console.print(f"{verb} {item.kind} {item.path}", soft_wrap=True)
    console.print(f"{len(found)} left-over item(s) {verb}" if found
                  else "nothing left behind by earlier runs")


@sandbox_app.command("build-image")
def build_image(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Build the Docker backend's image from this host's interpreter, libraries and tools
    (no registry), and remove older ones; `--sandbox docker` builds it on first use too.
    Python distributions besides pytest: DRIFT_GYM_SANDBOX_PACKAGES=name,name."""
    from .sandbox import SandboxError
    from .sandbox import docker as docker_backend
    from .sandbox.image import build

    if (reason := docker_backend.unavailable()) is not None:
        _fail(reason)
    try:
        built = build(docker_backend.client(), prune=True)
    except (SandboxError, OSError) as exc:
        _fail(f"could not build the sandbox image: {exc}")
    if as_json:
        print(json.dumps({"tag": built.tag, "seconds": round(built.seconds, 2),
                          "tar_bytes": built.tar_bytes, "files": built.files}))
        return
    console.print(f"built {built.tag}: {built.files} files, {built.tar_bytes / 2**20:.0f} MiB, "
                  f"{built.seconds:.1f} s")


def main() -> None:
    """Console-script entry point: SIGTERM and SIGHUP clean up sandboxes like Ctrl-C does."""
    from .sandbox.workspace import install_signal_handlers

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    install_signal_handlers()
    app()


if __name__ == "__main__":
    main()
