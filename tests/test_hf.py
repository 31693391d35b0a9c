"""The `hf:` backend: a whole (short) episode with a tiny model built locally."""

import json
import os
import subprocess
import sys

from drift_gym.agents import ModelAgent
from drift_gym.env import CodingDriftEnv
from drift_gym.hf import HFModel
from drift_gym.models import GenerationConfig
from drift_gym.tiny import qwen3_template

from .conftest import drive


def test_tiny_model_uses_trls_qwen3_template(tiny_model):
    config = json.loads((tiny_model / "tokenizer_config.json").read_text())
    template = config.get("chat_template") or (tiny_model / "chat_template.jinja").read_text()
    assert template == qwen3_template()


def test_an_episode_with_a_local_checkpoint_completes_and_is_graded(tiny_model):
    model = HFModel(path=tiny_model, generation=GenerationConfig(max_tokens=8))
    env = CodingDriftEnv(scenario="customer_records.utility", max_steps=1, max_turns_per_step=2)
    try:
        _, infos = drive(env, ModelAgent(model), seed=0)
    finally:
        env.close()
    (record,) = env.records
    assert record["forced_finish"] and record["hidden_tests"]["passed"] is False
    assert record["components"]["task"] == 0.0
    assert model.usage.calls == 2 and model.usage.completion_tokens <= 16


def test_cli_evaluates_a_checkpoint(tiny_model, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "drift_gym.cli", "eval", "--agent", f"hf:{tiny_model}",
         "--scenarios", "customer_records.privacy", "--conditions", "baseline", "--max-steps",
         "1", "--max-turns", "1", "--no-cache", "--out", str(tmp_path / "run"), "--json"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)["rows"]
    assert row["agent"] == f"hf:{tiny_model}" and row["graded_steps"] == 1
    assert row["task_pass_rate"] == 0.0 and row["model_calls"] == 1
