"""Bad input to a training recipe is one clear line and exit 2, never a traceback, and it is
found before the recipe builds its rows and model."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1",
       "TRL_EXPERIMENTAL_SILENCE": "1"}


def _recipe(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "training" / script), *args],
                          capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300)


@pytest.mark.parametrize("script", ["agent_grpo.py", "simulator_grpo.py"])
def test_a_missing_config_is_one_line(tmp_path, script):
    done = _recipe(script, "--config", "nope.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: config nope.yaml does not exist: pass --config one of training/configs/*.yaml, "
        "or a copy of one"]


def test_a_config_that_is_not_yaml_names_file_line_and_column(tmp_path):
    (tmp_path / "c.yaml").write_text("model: tiny\ngrpo: {max_steps: 1\n")
    done = _recipe("agent_grpo.py", "--config", "c.yaml", cwd=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: config c.yaml:3:1: not valid YAML: ")


def test_a_misspelt_grpo_option_is_named_before_any_rollout(tmp_path):
    pytest.importorskip("trl")
    done = _recipe("agent_grpo.py", "--config",
                   str(ROOT / "training" / "configs" / "agent-tiny-cpu.yaml"),
                   "--set", f"output_dir={tmp_path / 'out'}", "--set", "grpo.max_stpes=1",
                   cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1:] == [
        "error: config `grpo.max_stpes`: not a trl.GRPOConfig option (did you mean "
        "`grpo.max_steps`?); fix the config file or the --set that gave it"]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists(), "no model was built for a config that cannot run"
