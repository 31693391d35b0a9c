"""User simulators whose own goal drift is tracked (UGST goal state, consistency metrics).

The public surface environments integrate against:

* `load_goal(family, value_pair, protected, *, seed)` -> `UserGoal`
* `make_simulator(spec)` -> `UserSimulator` (``scripted[:drift=R]``, ``litellm:<model>``,
  ``hf:<path>``); ``reset(goal, seed=...)``, ``turn(conversation, objective=k)`` -> `UserTurn`
* `make_tracker(spec)` -> `GoalTracker`; ``update(goal, conversation, turn_index, *,
  completed=(), final=False)`` -> `GoalState`
"""

from __future__ import annotations

from .agent import AgentReply, ReplayAgent, ScriptedAgent
from .base import STOP, UserSimulator, UserTurn, make_simulator, make_tracker
from .catalog import goal_files, load_goal, render_goal
from .goal import DriftEvent, GoalState, Slot, UserGoal
from .scripted import DriftProfile, ScriptedSimulator
from .tracker import DeterministicTracker, GoalTracker, LLMTracker

__all__ = [
    "STOP", "AgentReply", "DeterministicTracker", "DriftEvent", "DriftProfile", "GoalState",
    "GoalTracker", "LLMTracker", "ReplayAgent", "ScriptedAgent", "ScriptedSimulator", "Slot",
    "UserGoal", "UserSimulator", "UserTurn", "goal_files", "load_goal", "make_simulator",
    "make_tracker", "render_goal",
]
