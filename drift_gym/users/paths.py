"""Where the user-simulator catalogue lives (kept import-light: registration uses it).

``$DRIFT_GYM_PATH`` entries that hold a ``goals/`` folder, then a source checkout
(``<repo>/simulators``), then the copy in the wheel (``drift_gym/_catalog/simulators``).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from ..paths import catalogue_roots


def search_path() -> list[Path]:
    """Simulator catalogue roots in priority order (only those that exist)."""
    return catalogue_roots("simulators", "goals")


def goal_files(pattern: str = "*") -> dict[str, Path]:
    """``<family>.<value_pair>`` -> goal file, for names matching the glob (earlier roots
    win)."""
    found: dict[str, Path] = {}
    for root in search_path():
        for path in sorted((root / "goals").glob("*.yaml")):
            if fnmatch.fnmatchcase(path.stem, pattern):
                found.setdefault(path.stem, path)
    return dict(sorted(found.items()))
