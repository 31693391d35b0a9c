"""Which simulator or tracker a spec names: the one place that knows every implementation
(so the base modules they build on never import them back)."""

from __future__ import annotations

from typing import Any

from .base import UserSimulator
from .tracker import GoalTracker, resolve

SIMULATOR_KINDS = ("scripted", "scripted:drift=R[,events=a+b]", "litellm:<model>", "hf:<path>")
TRACKER_KINDS = ("auto", "scripted", "lexical", "llm:<model>")


def make_simulator(spec: str, *, steer: bool = False, **model_options: Any) -> UserSimulator:
    """``scripted``, ``scripted:drift=R[,events=a+b]``, ``litellm:<model>`` or ``hf:<path>``.

    `model_options` go to `models.parse_model_spec` (api_base, cache_dir, use_cache);
    `steer` puts the tracked goal state into an LLM simulator's prompt (UGST steering).
    """
    kind, _, rest = spec.partition(":")
    if kind == "scripted":
        from .scripted import DriftProfile, ScriptedSimulator

        return ScriptedSimulator(DriftProfile.parse(rest))
    if kind in ("litellm", "hf") and rest:
        from ..models import parse_model_spec  # litellm/transformers only when asked for
        from .llm import LLMSimulator

        return LLMSimulator(parse_model_spec(spec, **model_options), steer=steer)
    raise ValueError(f"unknown simulator spec {spec!r}: use scripted, scripted:drift=R "
                     "(0 <= R <= 1), litellm:<model> or hf:<path>")


def make_tracker(spec: str, *, simulator: str | None = None,
                 **model_options: Any) -> GoalTracker:
    """A tracker from its spec (see the module docstring). `model_options` go to
    `models.parse_model_spec` (api_base, cache_dir, use_cache) for ``llm:<model>``."""
    spec = resolve(spec, simulator)
    if spec == "scripted":
        from .tracker_scripted import ScriptedTracker

        return ScriptedTracker()
    if spec == "lexical":
        from .tracker_lexical import LexicalTracker

        return LexicalTracker()
    from ..models import parse_model_spec
    from .tracker_llm import LLMTracker

    model = spec.removeprefix("llm:")
    if not model.startswith(("litellm:", "hf:")):
        model = f"litellm:{model}"
    return LLMTracker(parse_model_spec(model, **model_options))
