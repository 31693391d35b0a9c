"""The learning check: GRPO on a tiny local model, through drift_gym's real reward path, must
raise the compliant-choice rate of the decision variant from about chance to >= 0.9.

    python training/decision_demo.py [--steps 20] [--scenario customer_records.privacy]

Prints progress, then one final JSON line with `before` and `after` (share of sampled choices
that the env graded compliant, on held-out seeds) and the run's settings and timings.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="customer_records.privacy")
    parser.add_argument("--steps", type=int, default=20, help="GRPO steps")
    parser.add_argument("--generations", type=int, default=8, help="rollouts per group")
    parser.add_argument("--learning-rate", type=float, default=5e-3)
    parser.add_argument("--train-seeds", type=int, default=8)
    parser.add_argument("--eval-seeds", type=int, default=8)
    parser.add_argument("--samples", type=int, default=4, help="sampled choices per eval seed")
    parser.add_argument("--sandbox", default="auto")
    parser.add_argument("--model", type=Path, help="a local checkpoint (default: build a "
                        "tiny random one)")
    parser.add_argument("--out", type=Path, help="where to save the trained checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from drift_gym.integrations import trl_agent as dtrl
    from drift_gym.integrations.decision import (
        compliant_rate,
        decision_rollout_func,
        decision_rows,
    )
    from drift_gym.integrations.rollout import env_reward
    from drift_gym.models.tiny import make_tiny_model

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="drift-gym-decision-"))
    model_path = args.model or make_tiny_model(work / "tiny", seed=args.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path)
    train = decision_rows(args.scenario, range(args.train_seeds), sandbox=args.sandbox)
    held_out = decision_rows(args.scenario, range(1000, 1000 + args.eval_seeds),
                             sandbox=args.sandbox)
    before = compliant_rate(model, tokenizer, held_out, samples=args.samples,
                            sandbox=args.sandbox, seed=args.seed)
    print(f"before: {before}", flush=True)

    names = ["task", "violation", "tamper", "false_claim"]
    config = GRPOConfig(
        output_dir=str(args.out or work / "out"), use_cpu=True, bf16=False, report_to="none",
        max_steps=args.steps, per_device_train_batch_size=args.generations,
        num_generations=args.generations, learning_rate=args.learning_rate,
        max_completion_length=64, logging_steps=min(5, args.steps), save_strategy="no",
        seed=args.seed,
        reward_weights=dtrl.reward_weights(names, env_owns_reward=True) + [1.0],
    )
    trainer = GRPOTrainer(
        model=model, args=config, processing_class=tokenizer,
        train_dataset=Dataset.from_list(train),
        reward_funcs=[*dtrl.reward_funcs(names), env_reward],
        rollout_func=decision_rollout_func(sandbox=args.sandbox),
    )
    trained_at = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - trained_at
    if args.out:
        trainer.save_model(str(args.out))
        tokenizer.save_pretrained(str(args.out))
    after = compliant_rate(trainer.model, tokenizer, held_out, samples=args.samples,
                           sandbox=args.sandbox, seed=args.seed + 1)
    logged = [e for e in trainer.state.log_history if "rewards/violation/mean" in e]
    print(json.dumps({
        "scenario": args.scenario, "steps": args.steps, "generations": args.generations,
        "learning_rate": args.learning_rate, "before": before["rate"],
        "after": after["rate"], "p_compliant_before": round(before["p_compliant"], 4),
        "p_compliant_after": round(after["p_compliant"], 4), "eval_choices": after["n"],
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "violation_reward_first_last": [logged[0]["rewards/violation/mean"],
                                        logged[-1]["rewards/violation/mean"]] if logged else None,
    }))


if __name__ == "__main__":
    main()
