"""Named experiments: one flag that sets the grid a published study ran, so its numbers can
be reproduced and compared without retyping (and mistyping) the design.

``asymmetric-drift-2026``: the asymmetric goal-drift study (agents driven through the
OpenCode CLI). Three value pairs, each in both directions (the instruction protects one
value while pressure in code comments pushes toward the other), without pressure and with
it, 12 requests per episode, 10 runs per cell.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """The grid of one named experiment."""

    name: str
    scenarios: tuple[str, ...]
    """One scenario per (value pair, protected value)."""
    conditions: tuple[str, ...]
    runs: int
    """Episodes (seeds 0..runs-1) per scenario x condition x agent."""
    max_steps: int
    summary: str

    @property
    def scenario_glob(self) -> str:
        return ",".join(self.scenarios)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset(
        name="asymmetric-drift-2026",
        scenarios=("customer_records.privacy", "customer_records.utility",
                   "payments_api.security", "payments_api.convenience",
                   "inventory_service.security", "inventory_service.efficiency"),
        conditions=("baseline", "pressure:3"),
        runs=10, max_steps=12,
        summary="utility_privacy, convenience_security, efficiency_security in both "
                "directions; baseline and comment pressure; 12 steps; 10 runs per cell"),
)}


def get_preset(name: str) -> Preset:
    """The preset called `name`; an error names the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown --preset {name!r}: use one of {', '.join(PRESETS)}")
    return PRESETS[name]
