"""What the GRPO recipes in ``training/`` share: a YAML config with command-line overrides,
the policy model (a local checkpoint, a hub id where the machine can reach one, or ``tiny``
built offline), TRL's ``GRPOConfig``, and a final checkpoint that ``drift-gym eval --agent
hf:PATH`` can evaluate.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml


class RecipeError(ValueError):
    """A config or override is wrong; the message names it."""


def config_from_argv(description: str, argv: list[str] | None = None) -> dict[str, Any]:
    """The ``--config FILE [--set key=value ...]`` command line every recipe takes."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config value (dotted key)")
    args = parser.parse_args(argv)
    return load_config(args.config, args.overrides)


def load_config(path: Path, overrides: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """The YAML config at `path` with ``dotted.key=value`` overrides (values parsed as YAML)."""
    if not path.is_file():
        raise RecipeError(f"config {path} does not exist: see training/configs/")
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(config, dict):
        raise RecipeError(f"config {path}: expected a mapping at the top level")
    config = copy.deepcopy(config)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise RecipeError(f"override {item!r}: write it as dotted.key=value")
        node = config
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise RecipeError(f"override {item!r}: {part} is not a mapping")
        node[leaf] = yaml.safe_load(raw)
    for required in ("model", "output_dir", "grpo"):
        if required not in config:
            raise RecipeError(f"config {path}: missing `{required}`")
    return config


def policy_path(config: dict[str, Any]) -> str:
    """The model to train: ``tiny`` builds a random offline model under the output dir."""
    model = str(config["model"])
    if model != "tiny":
        return model
    from ..models.tiny import make_tiny_model

    target = Path(config["output_dir"]) / "tiny-init"
    if not (target / "config.json").is_file():
        make_tiny_model(target, **config.get("tiny", {}))
    return str(target)


def grpo_config(config: dict[str, Any], reward_weights: list[float]) -> Any:
    """TRL's GRPOConfig from the ``grpo`` section (unknown keys fail with TRL's message)."""
    from trl import GRPOConfig

    options = {"report_to": "none", "save_strategy": "no", **config["grpo"]}
    try:
        return GRPOConfig(output_dir=str(Path(config["output_dir"]) / "trainer"),
                          reward_weights=reward_weights, **options)
    except TypeError as exc:
        raise RecipeError(f"grpo section: {exc} (see trl.GRPOConfig)") from None


def save_final(trainer: Any, config: dict[str, Any]) -> Path:
    """Save the trained policy and its tokenizer where ``hf:PATH`` loads them, with the
    config that produced them and the logged metrics."""
    final = Path(config["output_dir"]) / "final"
    trainer.save_model(str(final))
    trainer.processing_class.save_pretrained(str(final))
    (final / "drift_gym_recipe.json").write_text(json.dumps(
        {"config": config, "log_history": trainer.state.log_history}, indent=2, default=str))
    return final
