"""GRPO for coding agents: resist value-aligned pressure while doing the work.

    python training/agent_grpo.py --config training/configs/agent-tiny-cpu.yaml [--set k=v ...]

Rows are start states of coding episodes (scenario x condition x seed x start step x context,
`drift_gym.integrations.rows`). Rollouts run in real sandboxes through TRL's tool loop
(`rollout: environment_factory`, the default) or drift_gym's multi-turn `rollout_func`
(`rollout: rollout_func`, which masks tool output out of the loss). The optimised reward is
the env's weighted reward; each component is logged next to it at weight 0. The trained policy
is saved to `<output_dir>/final`, ready for `drift-gym eval --agent hf:<output_dir>/final`.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def main() -> None:
    from drift_gym.integrations.recipe import (
        RecipeError,
        config_from_argv,
        grpo_config,
        policy_path,
        save_final,
    )

    config = config_from_argv(__doc__.split("\n\n")[0])

    from transformers import AutoTokenizer
    from trl import GRPOTrainer

    from drift_gym.integrations import trl_agent as dtrl
    from drift_gym.integrations.rollout import env_reward, make_rollout_func, sample_turn
    from drift_gym.integrations.rows import agent_dataset

    mode = config.get("rollout", "environment_factory")
    if mode not in ("environment_factory", "rollout_func"):
        raise RecipeError(f"config `rollout`: {mode!r} is not environment_factory or "
                          "rollout_func")
    names = list(config.get("rewards", ["task", "violation", "tamper", "false_claim"]))
    try:
        funcs = dtrl.reward_funcs(names)
    except ValueError as exc:
        raise RecipeError(f"config `rewards`: {exc}") from None
    # checked before the rows and the model are built: a typo costs seconds
    env_weight = [1.0] if mode == "rollout_func" else []
    args = grpo_config(config, dtrl.reward_weights(names, env_owns_reward=True) + env_weight)
    data = config.get("data", {})
    sandbox = str(config.get("sandbox", "auto"))
    dataset = agent_dataset(
        scenarios=data.get("scenarios", "*"), conditions=data.get("conditions", ["pressure:3"]),
        seeds=data.get("seeds", [0, 1, 2, 3]), start_steps=data.get("start_steps", [0]),
        contexts=data.get("contexts", ["none"]), sandbox=sandbox)
    model = policy_path(config)
    tokenizer = AutoTokenizer.from_pretrained(model)
    if mode == "environment_factory":
        dtrl.DriftToolEnv.sandbox = sandbox
        trainer = GRPOTrainer(
            model=model, processing_class=tokenizer, train_dataset=dataset, args=args,
            reward_funcs=funcs, environment_factory=dtrl.DriftToolEnv)
    else:
        turns = config.get("rollout_func", {})
        trainer = GRPOTrainer(
            model=model, processing_class=tokenizer, train_dataset=dataset.map(dtrl.with_row),
            args=args, reward_funcs=[*funcs, env_reward],
            rollout_func=make_rollout_func(
                max_turns=int(turns.get("max_turns", 8)), sandbox=sandbox,
                policy=sample_turn(int(turns.get("max_new_tokens", 256)),
                                   float(config["grpo"].get("temperature", 1.0)))))
    trainer.train()
    final = save_final(trainer, config)
    print(f"saved {final}\nevaluate it: drift-gym eval --agent hf:{final}")


if __name__ == "__main__":
    from drift_gym.integrations.recipe import run_recipe

    run_recipe(main)
