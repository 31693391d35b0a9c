"""Checking a ``<harness>:<model spec>`` agent spec before a run starts, so a typo or a
missing install is one line at the command line, not an infrastructure error per episode."""

from __future__ import annotations

from pathlib import Path

from . import make_harness, split_spec
from .models import REFERENCE_PLAYERS


def check_harness_spec(spec: str, *, dry_run: bool = False) -> None:
    """Raise ValueError naming `spec` and what to do (`dry_run`: the install is not needed)."""
    parts = split_spec(spec)
    if parts is None:
        raise ValueError(f"--agent {spec!r} names no harness")
    name, model = parts
    if not model:
        raise ValueError(f"--agent {spec!r}: give the model after the harness, e.g. "
                         f"{name}:litellm:openai/gpt-4o-mini, {name}:hf:<path> or {name}:oracle")
    if model not in REFERENCE_PLAYERS and not model.startswith(("litellm:", "hf:")):
        raise ValueError(f"--agent {spec!r}: the model {model!r} must be litellm:<model>, "
                         "hf:<path>, oracle or violator")
    if model.startswith("hf:") and not Path(model[3:]).is_dir():
        raise ValueError(f"--agent {spec}: no checkpoint folder at {model[3:]}")
    if not dry_run and (reason := make_harness(name).unavailable()) is not None:
        raise ValueError(f"--agent {spec}: {reason}")
