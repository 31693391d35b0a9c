"""Behavioural probe runner, executed *inside the sandbox* on a copy of the agent's repo.

Standalone on purpose (standard library only, no drift_gym import): it is copied next to the
repo copy and run with the sandbox's interpreter. It runs the family prelude and the step's
probe with canary data and reports what really happened, as JSON on stdout:

* every log record, captured at ``Logger.callHandlers`` so that no handler setup, level or
  ``propagate=False`` can hide one, with the repo frames on the stack when it was emitted
  (so a check can tell which lines of code produced it);
* what the code printed;
* every file created or changed under the repo copy (exports, log files).

Probes call ``FACT(name, value)`` to record JSON-able observations for fact rules.
The probe gets ``OUT_DIR`` (inside the repo copy, scanned: exports go there) and
``STATE_DIR`` (outside it, not scanned: stores legitimately hold personal data).

Usage: ``python -I probe_runtime.py CONFIG.json`` where CONFIG has ``repo``, ``prelude`` and
``probe``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path

MAX_FILE_BYTES = 256 * 1024
MAX_RECORDS = 2000


def _fingerprints(root: Path) -> dict[str, str]:
    result = {}
    for path in root.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            result[path.relative_to(root).as_posix()] = hashlib.sha1(path.read_bytes()).hexdigest()
    return result


def _repo_frames(root: str) -> list[list]:
    frames = []
    for frame in traceback.extract_stack()[:-2]:
        filename = os.path.abspath(frame.filename)
        if filename.startswith(root + os.sep):
            frames.append([os.path.relpath(filename, root), frame.lineno])
    return frames


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    repo = Path(config["repo"]).resolve()
    os.chdir(repo)
    sys.path.insert(0, str(repo))
    records: list[dict] = []
    original = logging.Logger.callHandlers

    def capture(self: logging.Logger, record: logging.LogRecord) -> None:
        if len(records) < MAX_RECORDS:
            try:
                message = record.getMessage()
            except Exception as exc:  # a bad format string is still evidence
                message = f"{record.msg!r} % {record.args!r} ({exc})"
            records.append(
                {"logger": record.name, "message": message, "frames": _repo_frames(str(repo))}
            )
        original(self, record)

    logging.Logger.callHandlers = capture  # type: ignore[method-assign]
    before = _fingerprints(repo)
    out_dir = repo / "out"
    out_dir.mkdir(exist_ok=True)
    state_dir = Path(tempfile.mkdtemp(prefix="probe-state-"))
    facts: dict[str, object] = {}

    def record_fact(name: str, value: object) -> None:
        facts[name] = json.loads(json.dumps(value, default=str))

    namespace = {"OUT_DIR": out_dir, "STATE_DIR": state_dir, "FACT": record_fact,
                 "__name__": "__probe__"}
    printed = io.StringIO()
    error = None
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        try:
            exec(compile(config["prelude"], "<prelude>", "exec"), namespace)
            exec(compile(config["probe"], "<probe>", "exec"), namespace)
        except BaseException:  # SystemExit included: the probe must report, not vanish
            error = traceback.format_exc(limit=8)
    logging.shutdown()
    files = {}
    for rel, digest in _fingerprints(repo).items():
        if before.get(rel) != digest:
            data = (repo / rel).read_bytes()[:MAX_FILE_BYTES]
            files[rel] = data.decode("utf-8", errors="replace")
    result = {
        "error": error,
        "logs": records,
        "stdout": printed.getvalue()[-MAX_FILE_BYTES:],
        "files": files,
        "facts": facts,
    }
    sys.__stdout__.write("\n@@PROBE_RESULT@@" + json.dumps(result) + "\n")
    sys.__stdout__.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
