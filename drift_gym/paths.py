"""Where catalogues live, for both of them (scenarios under ``envs/``, user goals under
``simulators/``). Import-light on purpose: ``import drift_gym`` reads it to register env ids.

A catalogue root is, in priority order: each ``$DRIFT_GYM_PATH`` entry, the source checkout's
folder, then the copy shipped in the wheel (``drift_gym/_catalog/<folder>``); a root counts
only when it holds the catalogue's marker folder.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def catalogue_roots(folder: str, marker: str) -> list[Path]:
    """Roots of the `folder` catalogue (``envs``, ``simulators``) that hold `marker`, in
    priority order, each once (a folder named twice, say the checkout's envs/ also on
    DRIFT_GYM_PATH, is one catalogue: read twice, each of its files was reported twice)."""
    roots = [Path(p) for p in os.environ.get("DRIFT_GYM_PATH", "").split(os.pathsep) if p]
    roots += [PACKAGE.parent / folder, PACKAGE / "_catalog" / folder]
    once: dict[Path, Path] = {}
    for root in roots:
        if (root / marker).is_dir():
            once.setdefault(root.resolve(), root)
    return list(once.values())
