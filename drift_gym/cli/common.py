"""What every drift-gym command shares: the Typer app, the consoles, one-line errors, the
progress bar and the options of commands that call models."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from ..records import EpisodeRecord

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


def stdout_console() -> Console:
    """Stdout console; wide enough for the tables when stdout is not a terminal (make, CI)."""
    plain = Console()
    return plain if plain.is_terminal else Console(width=160)


def fail(message: str) -> None:
    """One clear line on stderr and exit 2 — bad input is not a traceback (not wrapped either:
    a long path stays on the line that names it)."""
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


CONDITIONS = ("baseline", "neutral", "pressure:1", "pressure:2", "pressure:3")


def scenario_rows() -> list[dict[str, Any]]:
    """One object per scenario, as `list --json` prints them."""
    from ..catalog import default_catalog
    from ..registration import env_id
    from ..spec import CHANNELS
    from ..users.paths import goal_files

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
            "situations": scenario.situations,
        })
    return rows


class EvalProgress:
    """A progress bar for the grid: episodes done, violations so far, ETA; episodes that did
    not complete are printed above it as they happen. Shown only on a terminal: piped or
    captured stderr must carry nothing but errors (one line each), which scripts rely on."""

    def __init__(self, total: int, *, enabled: bool, label: str = "eval") -> None:
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
            TextColumn(label), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[violations]} violations in {task.fields[steps]} steps"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, disable=not (enabled and sys.stderr.isatty()))
        self._task = self._bar.add_task(label, total=total, violations=0, steps=0)

    def __enter__(self) -> EvalProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)  # type: ignore[arg-type]

    def update(self, episode: EpisodeRecord) -> None:
        """One coding episode done (an eval or validate episode record)."""
        self.violations += episode.violations
        self.steps += episode.graded_steps
        if episode.status != "completed":
            self._bar.console.print(
                f"{escape(episode.scenario)} {escape(episode.condition)} "
                f"{escape(episode.agent)} seed={episode.seed}: {episode.status} "
                f"({escape(str(episode.failure or ''))[:200]})")
        self._bar.update(self._task, advance=1, violations=self.violations, steps=self.steps)

    def advance(self, *_: object) -> None:
        """One unit done that carries no violations (a simulated conversation)."""
        self._bar.update(self._task, advance=1)


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def kept_results(exc: Any, log: Any) -> str:
    """The error for results that stopped being writable mid-run: what is kept, what to do."""
    try:
        kept = f"the {len(log.finished_keys())} finished episodes in {log.out} are kept"
    except (OSError, ValueError):
        kept = f"finished episodes in {log.out} are kept"
    if exc.full:
        return f"--out: {exc}; {kept}: free some space, then continue with --resume"
    return f"--out: {exc}; {kept}: make it writable, then continue with --resume"


def _registries_help() -> dict[str, str]:
    """Help texts listing what the code's own registries hold, so that they cannot fall
    behind it (a new agent, channel, schedule, tracker or preset shows up here by itself)."""
    from ..agents import SCRIPTED
    from ..harnesses import HARNESSES
    from ..models import MODEL_KINDS
    from ..presets import PRESETS
    from ..spec import CHANNELS, SCHEDULES
    from ..users.registry import SIMULATOR_KINDS, TRACKER_KINDS

    models = ", ".join(MODEL_KINDS.values())
    harnesses = ", ".join(f"{h}:<model spec>" for h in HARNESSES)
    return {
        "agent": f"Agent spec (repeatable): {', '.join(SCRIPTED)}, {models}, or a coding "
                 f"harness driving its model through drift_gym's proxy: {harnesses} (install "
                 "it with `make opencode`).",
        "conditions": "Comma-separated: baseline, neutral (comment volume, no directive), "
                      "pressure[:1-3][@CHANNEL[+CHANNEL...]][/SCHEDULE:K] with channels "
                      f"{', '.join(CHANNELS)} and schedules {', '.join(SCHEDULES)}.",
        "simulator": f"Simulated user who sends the requests: {', '.join(SIMULATOR_KINDS)} "
                     "(default: the scenario's own request text).",
        "simulate_simulator": f"Simulated user: {', '.join(SIMULATOR_KINDS)} (default: "
                              "scripted, a scripted user without drift).",
        "tracker": f"Who judges the simulated user's goal state: {', '.join(TRACKER_KINDS)} "
                   "(auto: scripted for a scripted user, lexical otherwise; llm:<model> is a "
                   "judge model, --api-base applies).",
        "preset": "A named experiment: it sets --scenarios, --conditions and --max-steps "
                  "unless they are given, and its runs per cell (--runs): "
                  + "; ".join(f"{p.name} ({p.summary})" for p in PRESETS.values()),
    }


HELP = {name: escape(text) for name, text in _registries_help().items()}  # [..] is not markup
TRACKER_HELP = HELP["tracker"]


def tracker_note(simulator: str | None, tracker: str,
                  model_options: dict[str, Any]) -> str | None:
    """Check --simulator and --tracker before any job runs (ValueError with what to do);
    the warning line for an LLM user judged by the lexical tracker, if that is the pair."""
    from ..users.tracker import canonical, judging_note, resolve

    spec = canonical(tracker)
    model = spec.removeprefix("llm:")
    if model.startswith("hf:") and not Path(model[3:]).is_dir():
        raise ValueError(f"--tracker {tracker}: no checkpoint folder at {model[3:]}")
    if not simulator:
        return None
    from ..users import make_simulator

    make_simulator(simulator, **model_options)  # a bad spec fails here, not per job
    return judging_note(simulator, resolve(spec, simulator))
