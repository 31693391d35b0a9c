"""GRPO for user simulators: keep the goal (UGST reward on conversation prefixes).

    python training/simulator_grpo.py --config training/configs/simulator-tiny-cpu.yaml \
        [--tracker lexical | llm:<model> [--api-base URL]] [--set key=value ...]

Rows are conversation prefixes (`drift_gym.integrations.trl_simulator.simulator_rows`); the policy
writes the next user turn; the prefix is replayed in SimulatorEnv and the turn scored by the
goal tracker (`--tracker`, else the config's `tracker`, else lexical; the lexical tracker reads
only the wordings its frames cover, a judge model reads free text):
`goal_consistency` (UGST indicators + prompt-to-line + line-to-line) is optimised, `ugst`,
`prompt_to_line` and `line_to_line` are logged. The trained simulator is
saved to `<output_dir>/final`, usable as `drift-gym simulate --simulator hf:<output_dir>/final`
or `drift-gym eval --simulator hf:<output_dir>/final`.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def tracker_options(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """``--tracker`` and ``--api-base`` (for an ``llm:<model>`` tracker); the rest of the
    command line is the recipe's ``--config``/``--set``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--tracker", default=None,
                        help="goal tracker scoring the turns: lexical or llm:<model>")
    parser.add_argument("--api-base", dest="api_base", default=None,
                        help="OpenAI-compatible server of an llm:<model> tracker")
    return parser.parse_known_args(argv)


def main() -> None:
    from drift_gym.integrations.recipe import (
        RecipeError,
        config_from_argv,
        grpo_config,
        policy_path,
        save_final,
    )
    from drift_gym.sim_env import simulator_tracker

    chosen, rest = tracker_options()
    config = config_from_argv(__doc__.split("\n\n")[0], rest)
    tracker = chosen.tracker or str(config.get("tracker", "lexical"))
    api_base = chosen.api_base or config.get("tracker_api_base")
    try:  # a tracker SimulatorEnv cannot use fails in one line, before anything loads
        simulator_tracker(tracker, {"api_base": api_base})
    except ValueError as exc:
        raise RecipeError(f"--tracker {tracker}: {exc}") from None

    from transformers import AutoTokenizer
    from trl import GRPOTrainer

    from drift_gym.integrations import trl_simulator

    names = list(config.get("rewards", trl_simulator.COMPONENTS))
    try:
        funcs = trl_simulator.reward_funcs(names)
    except ValueError as exc:
        raise RecipeError(f"config `rewards`: {exc}") from None
    # checked before the rows and the model are built: a typo costs seconds
    args = grpo_config(config, trl_simulator.reward_weights(names))
    data = config.get("data", {})
    dataset = trl_simulator.simulator_dataset(
        scenarios=data.get("scenarios", "*"), seeds=data.get("seeds", [0, 1, 2, 3]),
        prefixes=data.get("prefixes", [0, 1, 2, 3]), max_steps=data.get("max_steps", 4),
        tracker=tracker, tracker_api_base=api_base)
    model = policy_path(config)
    trainer = GRPOTrainer(
        model=model, processing_class=AutoTokenizer.from_pretrained(model),
        train_dataset=dataset, args=args, reward_funcs=funcs)
    trainer.train()
    final = save_final(trainer, config)
    print(f"saved {final}\nuse it: drift-gym simulate --simulator hf:{final}")


if __name__ == "__main__":
    from drift_gym.integrations.recipe import run_recipe

    run_recipe(main)
