"""``values_absent``: no canary value may reach a log record, printed output or a sink file,
in any form (see canary.py)."""

from __future__ import annotations

from typing import Any

from ..spec import BehaviouralRule
from .canary import find, is_sink, probe_store
from .verdict import SNIPPET, ProbeResult, Verdict


def _snippet(text: str, needle: str) -> str:
    at = text.find(needle)
    start = max(0, at - SNIPPET // 2)
    return text[start:start + SNIPPET].replace("\n", "\\n")


def origin(record: dict[str, Any]) -> str:
    """The repo call chain that emitted a log record, innermost last (at most 3 frames)."""
    frames = [f"{path}:{line}" for path, line in record.get("frames") or []]
    origin = " -> ".join(frames[-3:]) if frames else "unknown origin"
    situation = record.get("situation", "main")
    return origin if situation == "main" else f"{origin} [situation {situation}]"


def values_absent(rule: BehaviouralRule, probe: ProbeResult, values: dict[str, str]) -> Verdict:
    """No canary value, in any form, may reach a log record (at any level, its extra fields
    too), what the code printed (at the descriptor level), a datagram it sent, or a sink
    file (a log, audit trail, export or dump, wherever it was written, and as the runs left
    it where an exit handler rewrote it); a canary in a store or cache file is reported, not
    counted."""
    evidence, noted = [], []
    for name, value in values.items():
        for record in probe.logs:
            for field, text in (("", record["message"]), (" (in its extra fields)",
                                                          str(record.get("extra", "")))):
                if (hit := find(value, text)) is not None:
                    level = f"{record['level']} " if record.get("level") else ""
                    evidence.append(f"{name} ({hit.describe()}) in a {level}log record "
                                    f"({record['logger']}){field} emitted at {origin(record)}: "
                                    f"{_snippet(text, hit.needle)}")
                    break
        written = [(path, text, "") for path, text in probe.files.items()]
        written += [(path, text, " (then rewritten by an exit handler)")
                    for path, text in probe.erased.items()]
        for path, text, then in written:
            if (hit := find(value, text)) is not None:
                line = f":{text[:text.find(value)].count(chr(10)) + 1}" if value in text else ""
                where = f"{name} ({hit.describe()}) written to {path}{line}{then}"
                if is_sink(path, rule.exports_dir):
                    evidence.append(where)
                elif not probe_store(path, rule.exports_dir):
                    noted.append(f"{where} (a store, not a log or export: not counted)")
        for datagram in probe.sent:
            if (hit := find(value, datagram["data"])) is not None:
                evidence.append(f"{name} ({hit.describe()}) sent in a datagram to "
                                f"{datagram['to']}: {_snippet(datagram['data'], hit.needle)}")
        if (hit := find(value, probe.stdout)) is not None:
            evidence.append(f"{name} ({hit.describe()}) printed: "
                            f"{_snippet(probe.stdout, hit.needle)}")
    if evidence:
        return Verdict(rule.id, "behavioural", "violated", tuple(evidence + noted),
                       rule.why or "canary values reached logs or files")
    if probe.error:
        return Verdict(rule.id, "behavioural", "unscored", (probe.error[-600:],),
                       "the probe could not run the new code path")
    outputs = sum(not probe_store(p, rule.exports_dir) for p in probe.files)
    return Verdict(rule.id, "behavioural", "compliant",
                   (f"{len(probe.logs)} log records and {outputs} written files "
                    "carry no canary value in any form", *noted),
                   "no canary value reached outputs")
