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
    from .catalog import search_path

    found: dict[str, str] = {}
    for root in search_path():
        for path in sorted((root / "scenarios").glob("*.yaml")):
            try:
                head = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
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
    return registered
