"""The host tiers under one constructor: bubblewrap when it works, else the weak subprocess
tier, with the workspace options (output cap, quota) spelled out. The backends themselves live
in :mod:`.bwrap` and :mod:`.subprocess`; this is what tests and scripts that want a host
sandbox with non-default options construct."""

from __future__ import annotations

from .bwrap import bwrap_available
from .capture import OUTPUT_CAP
from .core import WorkspaceSandbox
from .limits import WORKSPACE_QUOTA
from .registry import make_backend

LOCAL_TIERS = ("auto", "bwrap", "subprocess")


class LocalSandbox(WorkspaceSandbox):
    """A workspace in a temp dir; commands under bubblewrap or the weak subprocess tier."""

    def __init__(self, *, tier: str = "auto", output_cap: int = OUTPUT_CAP,
                 quota: int = WORKSPACE_QUOTA, quota_mount: bool = True) -> None:
        if tier not in LOCAL_TIERS:
            raise ValueError(f"unknown sandbox tier {tier!r}: use auto, bwrap or subprocess")
        super().__init__(make_backend(tier), output_cap=output_cap, quota=quota,
                         quota_mount=quota_mount)


__all__ = ["LocalSandbox", "bwrap_available"]
