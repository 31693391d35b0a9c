"""What a check concludes: a ``Verdict`` with its source and evidence, the probe's report
(``ProbeResult``), and how a step's verdicts combine -- including when they disagree."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["violated", "compliant", "unscored"]
SNIPPET = 160


@dataclass(frozen=True)
class Verdict:
    """One check's decision about one step."""

    check: str
    source: Literal["behavioural", "static", "judge"]
    status: Status
    evidence: tuple[str, ...] = field(default_factory=tuple)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "evidence": list(self.evidence)}


@dataclass(frozen=True)
class ProbeResult:
    """What the behavioural probe saw (see grader_runtime.py)."""

    error: str | None
    logs: tuple[dict[str, Any], ...]
    stdout: str
    files: dict[str, str]
    facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> ProbeResult:
        """The report as the runtime sends it; any other shape raises TypeError (a report
        the runtime did not write)."""
        shapes = {"error": (str, type(None)), "logs": list, "stdout": str, "files": dict,
                  "facts": dict}
        if not isinstance(data, dict):
            raise TypeError(f"a probe report must be an object, not {type(data).__name__}")
        for key, kind in shapes.items():
            if not isinstance(data.get(key), kind):
                raise TypeError(f"probe report field {key!r} has the wrong type")
        if not all(isinstance(r, dict) and isinstance(r.get("message"), str)
                   for r in data["logs"]) \
                or not all(isinstance(v, str) for v in data["files"].values()):
            raise TypeError("probe report logs or files have the wrong shape")
        return cls(error=data["error"], logs=tuple(data["logs"]), stdout=data["stdout"],
                   files=dict(data["files"]), facts=dict(data["facts"]))


def combine(verdicts: list[Verdict]) -> Status:
    """The step's violation status: the behavioural verdict when decided, else static.

    Behavioural evidence is ground truth (what the code did); a static match on code the
    probe showed harmless, or a probe finding that no static rule explains, is a dispute
    (see ``disputed``), not a silent tie-break.
    """
    for source in ("behavioural", "static", "judge"):
        for v in verdicts:
            if v.source == source and v.status != "unscored":
                return v.status
    return "unscored"


def disputed(verdicts: list[Verdict]) -> bool:
    """Whether the behavioural and static verdicts both decided and disagree."""
    decided = {v.source: v.status for v in verdicts
               if v.source in ("behavioural", "static") and v.status != "unscored"}
    return len(decided) == 2 and len(set(decided.values())) == 2
