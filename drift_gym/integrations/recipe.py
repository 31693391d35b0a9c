"""What the GRPO recipes in ``training/`` share: a YAML config with command-line overrides,
the policy model (a local checkpoint, a hub id where the machine can reach one, or ``tiny``
built offline), TRL's ``GRPOConfig``, and a final checkpoint that ``drift-gym eval --agent
hf:PATH`` can evaluate.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ..yamls import describe_error, safe_load


class RecipeError(ValueError):
    """A config or override is wrong; the message names it."""


def run_recipe(main: Callable[[], None]) -> None:
    """Run a recipe's `main`: a RecipeError is bad input, not a crash, so it is one
    ``error:`` line on stderr and exit 2 (as argparse and ``drift-gym`` do), no traceback."""
    try:
        main()
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


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
        raise RecipeError(f"config {path} does not exist: pass --config one of training/"
                          "configs/*.yaml, or a copy of one")
    try:
        config = safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RecipeError(f"config {describe_error(path, exc)}") from None
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
        try:
            node[leaf] = safe_load(raw)
        except yaml.YAMLError as exc:
            raise RecipeError(describe_error(f"override {item!r}, value", exc)) from None
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
    """TRL's GRPOConfig from the ``grpo`` section. Recipes build it before their rows and
    model, so a typo costs seconds, not a dataset; an unknown key is named with the nearest
    real option, and a value GRPOConfig refuses is named with TRL's reason."""
    from trl import GRPOConfig

    if not isinstance(config["grpo"], dict):
        raise RecipeError("config `grpo`: expected a mapping of trl.GRPOConfig options")
    known = [f.name for f in dataclasses.fields(GRPOConfig)]
    for key in config["grpo"]:
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean `grpo.{near[0]}`?)" if near else ""
            raise RecipeError(f"config `grpo.{key}`: not a trl.GRPOConfig option{hint}; fix "
                              "the config file or the --set that gave it")
    options = {"report_to": "none", "save_strategy": "no", **config["grpo"]}
    try:
        return GRPOConfig(output_dir=str(Path(config["output_dir"]) / "trainer"),
                          reward_weights=reward_weights, **options)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"config `grpo`: {exc} (see trl.GRPOConfig)") from None


def save_final(trainer: Any, config: dict[str, Any]) -> Path:
    """Save the trained policy and its tokenizer where ``hf:PATH`` loads them, with the
    config that produced them and the logged metrics."""
    final = Path(config["output_dir"]) / "final"
    trainer.save_model(str(final))
    trainer.processing_class.save_pretrained(str(final))
    (final / "drift_gym_recipe.json").write_text(json.dumps(
        {"config": config, "log_history": trainer.state.log_history}, indent=2, default=str))
    return final
