"""User simulators whose own goal drift is tracked (UGST goal state, consistency metrics).

The public surface environments integrate against:

* `load_goal(family, value_pair, protected, *, seed)` -> `UserGoal`
* `make_simulator(spec)` -> `UserSimulator` (``scripted[:drift=R]``, ``litellm:<model>``,
  ``hf:<path>``); ``reset(goal, seed=...)``, ``turn(conversation, objective=k)`` -> `UserTurn`
* `make_tracker(spec)` -> `GoalTracker` (``scripted``, ``lexical``, ``llm:<model>``, ``auto``);
  ``update(goal, conversation, turn_index, *, completed=(), final=False)`` -> `GoalState`

Names are imported on first use (PEP 562), so ``import drift_gym`` — which looks up the goal
files to register SimulatorEnv ids — does not pay for the simulators.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "AssistantReply": "assistant", "ReplayAssistant": "assistant", "CannedAssistant": "assistant",
    "STOP": "base", "UserSimulator": "base", "UserTurn": "base", "make_simulator": "registry",
    "make_tracker": "registry", "Intent": "intent",
    "goal_files": "catalog", "load_goal": "catalog", "render_goal": "catalog",
    "DriftEvent": "goal", "GoalState": "goal", "Slot": "goal", "UserGoal": "goal",
    "DriftProfile": "scripted", "ScriptedSimulator": "scripted",
    "GoalTracker": "tracker", "ScriptedTracker": "tracker_scripted",
    "LexicalTracker": "tracker_lexical", "LLMTracker": "tracker_llm",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_WHERE[name]}", __name__), name)
