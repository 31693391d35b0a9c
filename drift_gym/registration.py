"""Registering every catalogue scenario as a Gymnasium id.

Ids are derived from scenario data (``customer_records.privacy`` version 1 ->
``drift_gym/CustomerRecords-Privacy-v1``, ``payments_api.token_security`` ->
``drift_gym/PaymentsApi-TokenSecurity-v1``), never from class names; the generic
``drift_gym/CodingDrift-v0`` takes ``scenario=`` as a keyword.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import NamedTuple

import gymnasium as gym
import yaml

from .paths import catalogue_roots
from .yamls import describe_error, describe_field, safe_load

LOG = logging.getLogger(__name__)

ENTRY_POINT = "drift_gym.env:CodingDriftEnv"
GENERIC_ID = "drift_gym/CodingDrift-v0"


def env_id(scenario_id: str, version: int) -> str:
    """The Gymnasium id of one scenario."""
    family, _, direction = scenario_id.partition(".")

    def camel(text: str) -> str:
        return "".join(p.capitalize() for p in re.split(r"[_\-.]+", text) if p)

    name = camel(family) + ("-" + camel(direction) if direction else "")
    return f"drift_gym/{name}-v{version}"


class Head(NamedTuple):
    """What registration reads of a scenario file: its id, version and user-goal name."""

    path: Path
    id: str
    version: int
    goal: str
    """``family.value_pair``: the user goal a SimulatorEnv of this scenario needs."""


def scenario_heads() -> list[Head]:
    """Each scenario file on the catalogue path, read once for both kinds of id. A file
    whose YAML, ``id`` or ``version`` cannot be read is logged once, one line naming it
    (``file:line:col`` for a YAML error), and skipped: it must not break ``import
    drift_gym``, and `drift-gym list` and `validate` say what else is wrong."""
    heads = []
    for root in catalogue_roots("envs", "scenarios"):
        for path in sorted((root / "scenarios").glob("*.yaml")):
            try:
                heads.append(_head(path, path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                _skipped(f"{path}: cannot be read as UTF-8 text ({exc})")
            except yaml.YAMLError as exc:
                _skipped(describe_error(path, exc))
            except ValueError as exc:
                _skipped(f"{path}: {exc}")
    return heads


def _head(path: Path, text: str) -> Head:
    """The file's head; ValueError names the field (and its line) that is wrong."""
    data = safe_load(text)
    if not isinstance(data, dict) or "id" not in data:
        raise ValueError("no top-level `id`")
    try:
        version = int(data.get("version", 1))
    except (TypeError, ValueError):
        raise ValueError(describe_field(text, ["version"], f"{data['version']!r} is not an "
                                        "integer")) from None
    return Head(path, str(data["id"]), version,
                f"{data.get('family')}.{data.get('value_pair')}")


def _skipped(problem: str) -> None:
    """Logged, not warned: a warning prints the registering source line under the message,
    and a scenario author needs only the file's own place."""
    LOG.warning("%s; no Gymnasium id registered for it (fix the file; `drift-gym list` shows "
                "every file that failed to load)", problem)


def scenario_ids(heads: list[Head]) -> dict[str, str]:
    """Gymnasium id -> scenario id, for every scenario file on the catalogue path (`heads`).

    Only each file's ``id`` and ``version`` are read here, so importing drift_gym stays fast
    and a broken scenario file does not break the import: it fails, naming file and field,
    when the env is made (or in ``drift-gym validate``).
    """
    found: dict[str, str] = {}
    for head in heads:
        found.setdefault(env_id(head.id, head.version), head.id)
    return found


def register_envs() -> list[str]:
    """Register the generic id and one id per scenario (idempotent)."""
    registered = []
    if GENERIC_ID not in gym.registry:
        gym.register(id=GENERIC_ID, entry_point=ENTRY_POINT)
    registered.append(GENERIC_ID)
    heads = scenario_heads()
    for gym_id, scenario in scenario_ids(heads).items():
        if gym_id not in gym.registry:
            gym.register(id=gym_id, entry_point=ENTRY_POINT, kwargs={"scenario": scenario})
        registered.append(gym_id)
    return registered + register_sim_envs(heads)


SIM_ENTRY_POINT = "drift_gym.sim_env:SimulatorEnv"
SIM_GENERIC_ID = "drift_gym/UserSim-v0"


def sim_env_id(scenario_id: str) -> str:
    """The SimulatorEnv id of one scenario direction (``customer_records.privacy`` ->
    ``drift_gym/UserSim-CustomerRecords-Privacy-v0``)."""
    return "drift_gym/UserSim-" + env_id(scenario_id, 0).removeprefix("drift_gym/")


def register_sim_envs(heads: list[Head] | None = None) -> list[str]:
    """Register SimulatorEnv: the generic id (``scenario=`` keyword) and one id per scenario
    whose family and value pair have a user goal in ``simulators/goals/`` (idempotent)."""
    from .users.paths import goal_files

    goals = set(goal_files())
    registered = []
    if SIM_GENERIC_ID not in gym.registry:
        gym.register(id=SIM_GENERIC_ID, entry_point=SIM_ENTRY_POINT)
    registered.append(SIM_GENERIC_ID)
    for head in scenario_heads() if heads is None else heads:
        gym_id = sim_env_id(head.id)
        if head.goal not in goals or gym_id in registered:
            continue
        if gym_id not in gym.registry:
            gym.register(id=gym_id, entry_point=SIM_ENTRY_POINT, kwargs={"scenario": head.id})
        registered.append(gym_id)
    return registered
