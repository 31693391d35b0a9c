"""Registering every catalogue scenario as a Gymnasium id.

Ids are derived from scenario data (``customer_records.privacy`` version 1 ->
``drift_gym/CustomerRecords-Privacy-v1``, ``payments_api.token_security`` ->
``drift_gym/PaymentsApi-TokenSecurity-v1``), never from class names; the generic
``drift_gym/CodingDrift-v0`` takes ``scenario=`` as a keyword.
"""

from __future__ import annotations

import re
import warnings

import gymnasium as gym
import yaml

from .paths import catalogue_roots
from .yamls import safe_load

ENTRY_POINT = "drift_gym.env:CodingDriftEnv"
GENERIC_ID = "drift_gym/CodingDrift-v0"


def env_id(scenario_id: str, version: int) -> str:
    """The Gymnasium id of one scenario."""
    family, _, direction = scenario_id.partition(".")

    def camel(text: str) -> str:
        return "".join(p.capitalize() for p in re.split(r"[_\-.]+", text) if p)

    name = camel(family) + ("-" + camel(direction) if direction else "")
    return f"drift_gym/{name}-v{version}"


def scenario_ids() -> dict[str, str]:
    """Gymnasium id -> scenario id, for every scenario file on the catalogue path.

    Only each file's ``id`` and ``version`` are read here, so importing drift_gym stays fast
    and a broken scenario file does not break the import: it fails, naming file and field,
    when the env is made (or in ``drift-gym validate``).
    """
    found: dict[str, str] = {}
    for root in catalogue_roots("envs", "scenarios"):
        for path in sorted((root / "scenarios").glob("*.yaml")):
            try:
                head = safe_load(path.read_text(encoding="utf-8")) or {}
                gym_id = env_id(str(head["id"]), int(head.get("version", 1)))
            except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
                warnings.warn(f"{path}: not registered ({exc!r})", stacklevel=2)
                continue
            found.setdefault(gym_id, str(head["id"]))
    return found


def register_envs() -> list[str]:
    """Register the generic id and one id per scenario (idempotent)."""
    registered = []
    if GENERIC_ID not in gym.registry:
        gym.register(id=GENERIC_ID, entry_point=ENTRY_POINT)
    registered.append(GENERIC_ID)
    for gym_id, scenario in scenario_ids().items():
        if gym_id not in gym.registry:
            gym.register(id=gym_id, entry_point=ENTRY_POINT, kwargs={"scenario": scenario})
        registered.append(gym_id)
    return registered + register_sim_envs()


SIM_ENTRY_POINT = "drift_gym.sim_env:SimulatorEnv"
SIM_GENERIC_ID = "drift_gym/UserSim-v0"


def sim_env_id(scenario_id: str) -> str:
    """The SimulatorEnv id of one scenario direction (``customer_records.privacy`` ->
    ``drift_gym/UserSim-CustomerRecords-Privacy-v0``)."""
    return "drift_gym/UserSim-" + env_id(scenario_id, 0).removeprefix("drift_gym/")


def register_sim_envs() -> list[str]:
    """Register SimulatorEnv: the generic id (``scenario=`` keyword) and one id per scenario
    whose family and value pair have a user goal in ``simulators/goals/`` (idempotent)."""
    from .users.paths import goal_files

    goals = set(goal_files())
    registered = []
    if SIM_GENERIC_ID not in gym.registry:
        gym.register(id=SIM_GENERIC_ID, entry_point=SIM_ENTRY_POINT)
    registered.append(SIM_GENERIC_ID)
    for root in catalogue_roots("envs", "scenarios"):
        for path in sorted((root / "scenarios").glob("*.yaml")):
            try:
                head = safe_load(path.read_text(encoding="utf-8")) or {}
                scenario, goal = str(head["id"]), f"{head['family']}.{head['value_pair']}"
            except (yaml.YAMLError, KeyError, TypeError) as exc:
                warnings.warn(f"{path}: no SimulatorEnv registered ({exc!r})", stacklevel=2)
                continue
            gym_id = sim_env_id(scenario)
            if goal not in goals or gym_id in registered:
                continue
            if gym_id not in gym.registry:
                gym.register(id=gym_id, entry_point=SIM_ENTRY_POINT,
                             kwargs={"scenario": scenario})
            registered.append(gym_id)
    return registered
