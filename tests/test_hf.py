"""The `hf:` backend: a whole (short) episode with a tiny model built locally."""

import json
import os
import subprocess
import sys

import pytest

from drift_gym.agents import ModelAgent
from drift_gym.env import CodingDriftEnv
from drift_gym.models import GenerationConfig, ResponseCache
from drift_gym.models.hf import HFModel
from drift_gym.models.tiny import make_tiny_model, qwen3_template

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
    assert record.forced_finish and record.hidden_tests is not None
    assert record.hidden_tests.passed is False and record.components["task"] == 0.0
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


HELLO = [{"role": "user", "content": "List the files."}]


def _answer(folder, cache, messages=HELLO):
    model = HFModel(path=folder, generation=GenerationConfig(max_tokens=6), cache=cache)
    return model, model.complete(messages, tools=None, seed=0, step=0)


def test_the_cache_keys_a_checkpoint_on_its_files_not_its_folder(tmp_path):
    pytest.importorskip("transformers")
    folder = tmp_path / "model"
    cache = ResponseCache(tmp_path / "cache")

    def entries():
        return len(list((tmp_path / "cache").glob("*/*.json")))

    make_tiny_model(folder, vocab_size=512, hidden_size=32, seed=0)
    first_model, first = _answer(folder, cache)
    _, again = _answer(folder, cache)
    assert not first.cached and again.cached and again.content == first.content
    assert entries() == 1

    make_tiny_model(folder, vocab_size=512, hidden_size=32, seed=1)  # retrained in place
    retrained_model, retrained = _answer(folder, cache)
    assert not retrained.cached and entries() == 2
    assert retrained_model.digest != first_model.digest
    assert _answer(folder, cache)[1].cached, "the unchanged checkpoint is served from cache"

    # a model object that answered from the cache without loading, then met new weights:
    # what it generates is keyed on the weights it loaded, not on what it saw first
    stale, hit = _answer(folder, cache)
    assert hit.cached
    make_tiny_model(folder, vocab_size=512, hidden_size=32, seed=2)
    other = [{"role": "user", "content": "Run the tests."}]
    assert not stale.complete(other, tools=None, seed=0, step=0).cached
    fresh, replayed = _answer(folder, cache, other)
    assert replayed.cached and fresh.digest == stale.digest != retrained_model.digest


def test_a_lone_surrogate_reaches_a_checkpoint_with_and_without_the_cache(tiny_model,
                                                                           tmp_path):
    odd = [{"role": "user", "content": "open caf\udcff.txt"}]
    _, uncached = _answer(tiny_model, None, odd)
    _, first = _answer(tiny_model, ResponseCache(tmp_path / "cache"), odd)
    _, again = _answer(tiny_model, ResponseCache(tmp_path / "cache"), odd)
    assert not uncached.cached and not first.cached and again.cached
    assert uncached.content == first.content == again.content
