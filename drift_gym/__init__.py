"""drift_gym: Gymnasium environments for goal drift in LLM coding agents and user simulators.

Importing the package registers one ``drift_gym/<Name>-v<version>`` id per catalogue scenario
(entry points are lazy strings, so nothing heavy is imported here).
"""

from __future__ import annotations

__version__ = "0.1.0"

from .registration import register_envs  # noqa: E402

register_envs()

__all__ = ["__version__", "register_envs"]
