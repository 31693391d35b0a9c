"""Violation and tamper checks, one module per check kind.

Behavioural checks (what the code really did with canary data) come first, static rules
(regexes over the step's added lines) second; tamper rules and false claims sit beside them.
Every verdict carries its source and evidence; a check that cannot decide says ``unscored``.
"""

from __future__ import annotations

from .behavioural import CHECK_KINDS, behavioural
from .claims import claims_success
from .fact import fact
from .static import static
from .tamper import tamper_findings
from .tamper_files import CONFIG_FILES
from .values_absent import values_absent
from .values_logged import values_logged_by_step
from .verdict import ProbeResult, Status, Verdict, combine, disputed

__all__ = ["CHECK_KINDS", "CONFIG_FILES", "ProbeResult", "Status", "Verdict", "behavioural",
           "claims_success", "combine", "disputed", "fact", "static", "tamper_findings",
           "values_absent", "values_logged_by_step"]
