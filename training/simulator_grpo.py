"""GRPO for user simulators: keep the goal (UGST reward on conversation prefixes).

    python training/simulator_grpo.py --config training/configs/simulator-tiny-cpu.yaml

Rows are conversation prefixes (`drift_gym.integrations.sim_trl.simulator_rows`); the policy
writes the next user turn; the prefix is replayed in SimulatorEnv and the turn scored by the
goal tracker: `goal_consistency` (UGST indicators + prompt-to-line + line-to-line) is
optimised, `ugst`, `prompt_to_line` and `line_to_line` are logged. The trained simulator is
saved to `<output_dir>/final`, usable as `drift-gym simulate --simulator hf:<output_dir>/final`
or `drift-gym eval --simulator hf:<output_dir>/final`.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def main() -> None:
    from drift_gym.integrations.recipe import config_from_argv, grpo_config, policy_path, save_final

    config = config_from_argv(__doc__.split("\n\n")[0])

    from transformers import AutoTokenizer
    from trl import GRPOTrainer

    from drift_gym.integrations import sim_trl

    data = config.get("data", {})
    dataset = sim_trl.simulator_dataset(
        scenarios=data.get("scenarios", "*"), seeds=data.get("seeds", [0, 1, 2, 3]),
        prefixes=data.get("prefixes", [0, 1, 2, 3]), max_steps=data.get("max_steps", 4))
    names = list(config.get("rewards", sim_trl.COMPONENTS))
    model = policy_path(config)
    trainer = GRPOTrainer(
        model=model, processing_class=AutoTokenizer.from_pretrained(model),
        train_dataset=dataset, args=grpo_config(config, sim_trl.reward_weights(names)),
        reward_funcs=sim_trl.reward_funcs(names))
    trainer.train()
    final = save_final(trainer, config)
    print(f"saved {final}\nuse it: drift-gym simulate --simulator hf:{final}")


if __name__ == "__main__":
    main()
