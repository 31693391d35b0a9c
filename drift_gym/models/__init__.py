"""Model backends behind one interface (``ChatModel``): litellm for any provider or a local
OpenAI-compatible server (``litellm_model.py``), local transformers checkpoints (``hf.py``),
the tiny offline model tests and demos build (``tiny.py``); ``base.py`` holds what they share.
Heavy libraries load only when a backend is used."""

from __future__ import annotations

from pathlib import Path

from .base import (
    DEFAULT_CACHE,
    ChatModel,
    GenerationConfig,
    ModelError,
    Reply,
    ResponseCache,
    Usage,
    through_cache,
    wire_safe,
)
from .litellm_model import LiteLLMModel

__all__ = ["DEFAULT_CACHE", "ChatModel", "GenerationConfig", "LiteLLMModel", "ModelError",
           "Reply", "ResponseCache", "Usage", "parse_model_spec", "through_cache", "wire_safe"]

MODEL_KINDS = {"litellm": "litellm:<model> (any litellm provider; --api-base for a local "
                          "OpenAI-compatible server)",
               "hf": "hf:<folder> (a local transformers checkpoint, loaded offline)"}
"""The model spec kinds, for parsing and for help texts."""


def parse_model_spec(spec: str, *, api_base: str | None = None, cache_dir: Path | None = None,
                     use_cache: bool = True, native_tools: bool = True) -> ChatModel:
    """A model from ``litellm:<model>`` or ``hf:<path>``."""
    kind, _, rest = spec.partition(":")
    cache = ResponseCache(cache_dir or DEFAULT_CACHE) if use_cache else None
    if kind == "litellm" and rest:
        return LiteLLMModel(model=rest, api_base=api_base, cache=cache,
                            native_tools=native_tools)
    if kind == "hf" and rest:
        from .hf import HFModel  # transformers and torch load only when asked for

        return HFModel(path=Path(rest), cache=cache)  # tools are rendered by its template
    raise ValueError(f"unknown model spec {spec!r}: use " + " or ".join(MODEL_KINDS.values()))
